/**
 * The root of an overlay mount shows the upper dir's own attributes, so the bundle's upper root
 * gets what the flat unpack gives rootfs/: those of the topmost layer with an entry for "./",
 * or mode 0755, owned by the unpacking user, with the epoch as its times when no layer has one.
 */
import fs from 'node:fs';
import type { Sys } from '@tsrt/libc';
import type { StoredLayer } from './layer-store';

export function setUpperRoot(sys: Sys, layers: StoredLayer[], upper: string): void {
  const from = [...layers].reverse().find((l) => l.rootEntry);
  if (!from) {
    fs.chmodSync(upper, 0o755);
    fs.utimesSync(upper, 0, 0);
    return;
  }
  const st = fs.lstatSync(from.diff, { bigint: true });
  fs.chownSync(upper, Number(st.uid), Number(st.gid));
  fs.chmodSync(upper, Number(st.mode) & 0o7777);
  for (const k of sys.llistxattr(from.diff)) sys.lsetxattr(upper, k, sys.lgetxattr(from.diff, k), 0);
  sys.utimensat(-100, upper, st.atimeNs, st.mtimeNs, 0);
}
