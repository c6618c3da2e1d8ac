/** Helpers of the overlay tests: trees compared by link groups, mounts cleaned up whatever happens. */
import * as fs from 'fs';
import { spawn } from 'child_process';
import * as path from 'path';
import { libc, MNT_DETACH, UMOUNT_NOFOLLOW } from '@tsrt/libc';
import { dumpTree, Node, rmrf, tmpdir } from '../helpers';

export const BIN = path.resolve(__dirname, '../../../bin/ts-img');
export const REPO = path.resolve(__dirname, '../../../../..');

/**
 * The tree with inode numbers replaced by hardlink groups (the first path of each inode) and
 * without nlink: a lower file's nlink is its inode's count in the layer, as in any overlay.
 */
export function linkTree(root: string): Record<string, Omit<Node, 'ino' | 'nlink'> & { group?: string }> {
  const t = dumpTree(root);
  const first = new Map<number, string>();
  const out: Record<string, any> = {};
  for (const [k, v] of Object.entries(t)) {
    const { ino, nlink, ...rest } = v;
    void nlink;
    if (rest.type !== 'dir') {
      if (!first.has(ino)) first.set(ino, k);
      out[k] = { ...rest, group: first.get(ino) };
    } else out[k] = rest;
  }
  return out;
}

/** The root dir's own attributes (dumpTree lists only what is below it). */
export function rootAttrs(root: string): object {
  const st = fs.lstatSync(root);
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
}

/** Mount points at or below `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m !== undefined && (m === dir || m.startsWith(dir + '/')))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmount everything below `dir` (cleanup after a failed test), by path, never following links. */
export function detachAll(dir: string): void {
  for (const m of mountsUnder(dir)) {
    try {
      libc().umount2(m, MNT_DETACH | UMOUNT_NOFOLLOW);
    } catch {
      /* gone meanwhile */
    }
  }
}

export interface Res {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Res> {
  return new Promise((resolve) => {
    const c = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

export const oneLine = (s: string): boolean => s.trim().split('\n').length === 1 && !/^\s+at /m.test(s) && !/\.js:\d+:\d+/.test(s);

/**
 * A test file's scratch dir, made before its tests and removed after them, with what a failed
 * test left mounted below it detached first; `bundle()` is a fresh bundle path in it.
 */
export function overlayScratch(prefix: string): { dir: string; bundle: () => string } {
  let n = 0;
  const s = { dir: '', bundle: (): string => path.join(s.dir, `b${++n}`) };
  beforeAll(() => {
    s.dir = tmpdir(prefix);
  });
  afterAll(() => {
    detachAll(s.dir);
    rmrf(s.dir);
    expect(mountsUnder(s.dir)).toEqual([]);
  });
  return s;
}

/**
 * What a reboot does to an overlay bundle (its rootfs unmounted), then `ts-img mount`: the tree
 * `view` shows must be as before; left unmounted again.
 */
export async function expectSameAfterRemount<T>(bundle: string, view: (root: string) => T): Promise<void> {
  const rootfs = path.join(bundle, 'rootfs');
  const before = view(rootfs);
  detachAll(rootfs);
  expect(await cli(['mount', bundle])).toMatchObject({ status: 0, stderr: '' });
  expect(view(rootfs)).toEqual(before);
  detachAll(rootfs);
}
