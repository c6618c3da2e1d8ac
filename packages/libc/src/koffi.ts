/**
 * koffi, from its native module where there is one for this machine, else from its package.
 * require('koffi') cost ~12 ms of every start here (its loader reads node's own ELF header to
 * pick a libc flavour and probes several paths); the native module alone ~4 ms (measured). The
 * package's JavaScript only adds deprecated aliases (cdecl, stdcall, resolve, introspect), which
 * nothing here uses; the native package is pinned to koffi's exact version by koffi itself.
 */
import { koffiLoad } from './koffi-loaded';

type Koffi = typeof import('koffi');

function load(): Koffi {
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      return require('@koromix/koffi-linux-x64/linux_x64/koffi.node') as Koffi;
    } catch {
      // Not installed this way (or a musl libc): koffi's own loader finds what fits.
    }
  }
  return require('koffi') as Koffi;
}

const koffi: Koffi = load();
koffiLoad.done = true;
export default koffi;
