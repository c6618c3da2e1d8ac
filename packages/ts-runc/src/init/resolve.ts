import * as fs from 'fs';
import * as path from 'path';
import { mkdirAll } from '@tsrt/libc';

const MAX_LINKS = 255;

/**
 * Resolve `unsafe` as if `root` were "/": symlinks are followed but never leave the root
 * ("/.." stays at the root, absolute link targets restart at the root). Returns a host path.
 * Components that do not exist yet are appended as they are.
 */
export function resolveInRoot(root: string, unsafe: string): string {
  let pending = unsafe.split('/').filter((c) => c && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const c = pending.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    const candidate = path.join(root, ...done, c);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(candidate);
    } catch {
      done.push(c, ...pending.filter((p) => p !== '.'));
      pending = [];
      break;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`resolve ${unsafe}: too many levels of symbolic links`);
    const target = fs.readlinkSync(candidate);
    if (target.startsWith('/')) done.length = 0;
    pending = [...target.split('/').filter((p) => p && p !== '.'), ...pending];
  }
  // ".." left in an appended tail must not climb out either.
  const out: string[] = [];
  for (const c of done) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return path.join(root, ...out);
}

/** mkdir -p inside the root, each step resolved so a symlink cannot redirect it outside. */
export function mkdirInRoot(root: string, p: string, mode = 0o755): string {
  const host = resolveInRoot(root, p);
  mkdirAll(host, mode);
  return host;
}

/** Create an empty file (and its parents) inside the root, for bind mounts of files. */
export function touchInRoot(root: string, p: string): string {
  const host = resolveInRoot(root, p);
  mkdirAll(path.dirname(host), 0o755);
  if (!fs.existsSync(host)) fs.closeSync(fs.openSync(host, 'a', 0o644));
  return host;
}
