// What bin/ts-img runs: the CLI from its bundle and code cache (scripts/bundle.js), or from the
// modules themselves when there is no bundle (a plain `tsc -b`).
import * as path from 'path';
import { runBundle } from '@tsrt/libc/dist/src/cached-bundle';

/**
 * The code cache a command line runs with. V8 reads a whole cache: unpack, what runs most, has
 * one; an overlay bundle's life (unpack --overlay of layers already stored, mount, remove: tens
 * of ms each) has another without the extraction code (a cache of its own is ~100 KiB smaller,
 * ~3 ms less to read; measured). A first unpack --overlay compiles its extraction code itself.
 */
function cacheOf(argv: string[]): string {
  const cmd = argv.find((a) => !a.startsWith('-'));
  if (cmd === 'unpack') return argv.includes('--overlay') ? 'overlay' : 'unpack';
  return cmd === 'mount' || cmd === 'remove' ? 'overlay' : 'other';
}

runBundle(path.join(__dirname, 'bundle.js'), cacheOf(process.argv.slice(2)), () => require('./entry'));
