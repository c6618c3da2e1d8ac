/** The bundle directory an unpack creates: free to use, built in a temp sibling, stale temps swept. */
import * as fs from 'fs';
import * as path from 'path';
import { randomHex } from '../random-hex';
import { removeTree } from '../fs/remove-tree';

/**
 * Temporary dirs of earlier unpacks into this bundle whose process is gone: a SIGKILLed unpack
 * cannot clean up, so the next one does. The name carries the pid (.NAME.ts-img-PID-RAND).
 */
export function removeStaleTemps(parent: string, name: string): void {
  const prefix = `.${name}.ts-img-`;
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || fs.existsSync(`/proc/${pid}`)) continue;
    removeTree(path.join(parent, n));
  }
}

export function assertBundleFree(bundle: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(bundle);
  } catch {
    return;
  }
  if (!st.isDirectory() || fs.readdirSync(bundle).length > 0) throw new Error(`bundle ${bundle}: already exists`);
}

/** Checks before any work; returns the absolute bundle path and its parent. */
export function prepareBundlePath(bundle: string): { abs: string; parent: string } {
  const abs = path.resolve(bundle);
  assertBundleFree(abs);
  const parent = path.dirname(abs);
  if (!fs.existsSync(parent)) throw new Error(`bundle ${bundle}: parent directory ${parent} does not exist`);
  removeStaleTemps(parent, path.basename(abs));
  return { abs, parent };
}

/** A fresh mode-0700 temp sibling of the bundle (renamed into place when complete). */
export function makeBundleTemp(abs: string): string {
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.ts-img-${process.pid}-${randomHex(4)}`);
  fs.mkdirSync(tmp, { mode: 0o700 });
  fs.chmodSync(tmp, 0o700);
  return tmp;
}

/** Rename the finished temp dir onto the bundle path (rename only replaces an empty dir). */
export function renameIntoPlace(tmp: string, abs: string, bundle: string): void {
  try {
    fs.renameSync(tmp, abs);
  } catch (e) {
    // Another unpack into the same bundle finished first.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`bundle ${bundle}: already exists`);
    throw e;
  }
}
