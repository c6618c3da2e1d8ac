import * as fs from 'fs';
import * as path from 'path';

function codeOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'EIO';
}

function fail(p: string, code: string): never {
  throw Object.assign(new Error(`mkdir ${p}: ${code}`), { code });
}

/**
 * mkdir -p that always ends. Node's recursive mkdirSync retries forever where mkdir(2) says
 * ENOENT although the parent exists (any new name under /proc, say): this creates each missing
 * directory in turn and throws the first failure as "mkdir PATH: CODE" (with .code set).
 */
export function mkdirAll(dir: string, mode = 0o755): void {
  const missing: string[] = [];
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if (codeOf(e) !== 'ENOENT') fail(p, codeOf(e));
    }
    if (st) {
      if (!st.isDirectory()) fail(p, 'ENOTDIR');
      break;
    }
    missing.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      fs.mkdirSync(p, { mode });
    } catch (e) {
      // Made meanwhile by someone else: fine if it is a directory.
      if (codeOf(e) === 'EEXIST' && fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) continue;
      fail(p, codeOf(e));
    }
  }
}
