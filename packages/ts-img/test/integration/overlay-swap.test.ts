/**
 * The attack on `ts-img mount`: the owner of a bundle swaps one of its dirs (upper, work, rootfs)
 * for a symlink to a host dir after ts-img checked them and before the mount. Made deterministic
 * by holding the store's gc lock (as a running gc does): mount checks the bundle, then waits for
 * that lock; the swap happens while it waits. The mount must use the real dirs (it opened them
 * before it waited), never the symlink's target: no host dir as the upper layer, none mounted
 * over, none written. Before the fix each of these made root use the host dir, except a rootfs
 * symlink with the new API (move_mount does not follow a symlink at its target).
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { libc } from '@tsrt/libc';
import { unpackOverlay } from '../../src/overlay/unpack-overlay';
import { isMountPoint } from '../../src/overlay/mount';
import { readOverlayMeta } from '../../src/bundle/overlay-meta';
import { mountBundle } from '../../src/overlay/remount';
import { Layout } from '../../src/store/layout';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { BIN, detachAll, mountsUnder, overlayScratch } from './overlay-helpers';

jest.setTimeout(120_000);

const scratch = overlayScratch('ts-img-swap-');

/** A store, and an overlay bundle of a one-layer image whose rootfs is not mounted. */
async function unmountedBundle(name: string): Promise<{ b: string; store: string }> {
  const img = path.join(scratch.dir, `img-${name}`);
  writeTaggedLayout(img, buildImage({ layers: [{ entries: [{ name: 'etc/', type: 'dir' }, { name: 'etc/os', data: 'image\n' }] }], exec: { Cmd: ['/bin/sh'] } }));
  const store = path.join(scratch.dir, `store-${name}`);
  const r = await unpackOverlay(`${img}:x`, scratch.bundle(), { quiet: true, warn: () => {}, store });
  detachAll(path.join(r.bundle, 'rootfs'));
  return { b: r.bundle, store };
}

type Way = 'cli' | 'mount2' | 'strings';

/** Open fds of process `pid` that name `file`. */
function opened(pid: number, file: string): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file; } catch { return false; }
    }).length;
  } catch {
    return 0;
  }
}

/**
 * Mount b again, with `swap` run while the mount waits for the store's gc lock (held here):
 * `ts-img mount b` (the new mount API, dirs by fd), or mountBundle in this process on an older
 * kernel's path: mount(2) (before 6.8), the new API with path strings (6.8-6.12). flock locks
 * conflict between two opens in one process too.
 */
async function mountWithSwap(way: Way, b: string, store: string, swap: () => void): Promise<{ status: number | null; stderr: string }> {
  const lockFile = path.join(store, '.ts-img/gc.lock');
  const lock = await (await Layout.open(store)).gcLock();
  let released = false;
  try {
    let exited: Promise<{ status: number | null; stderr: string }>;
    let waiting: () => boolean;
    if (way === 'cli') {
      const c = spawn(BIN, ['mount', b], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr!.on('data', (d) => (stderr += d));
      exited = new Promise((resolve) => c.on('close', (status) => resolve({ status, stderr })));
      waiting = () => opened(c.pid!, lockFile) === 1;
    } else {
      exited = mountBundle(b, { forceMount: way }).then(() => ({ status: 0, stderr: '' }), (e) => ({ status: 1, stderr: `ts-img: ${(e as Error).message}\n` }));
      waiting = () => opened(process.pid, lockFile) === 2;
    }
    let done = false;
    void exited.then(() => { done = true; });
    const deadline = Date.now() + 30_000;
    while (!waiting() && !done && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false); // nothing refused the bundle before the swap
    expect(waiting()).toBe(true);
    swap();
    lock.release();
    released = true;
    return await exited;
  } finally {
    if (!released) lock.release();
  }
}

/** A host dir the attacker points at, with a file of its own. */
function hostDir(name: string): string {
  const d = path.join(scratch.dir, name);
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'precious'), 'host\n');
  return d;
}

/** Replace `dir` by a symlink to `target`; the real dir stays next to it. */
function swapForLink(dir: string, target: string): string {
  const real = `${dir}.real`;
  fs.renameSync(dir, real);
  fs.symlinkSync(target, dir);
  return real;
}

/** Mounted (on `rootfs`), without a word. */
function mounted(r: { status: number | null; stderr: string }, rootfs: string): void {
  expect(r).toEqual({ status: 0, stderr: '' });
  expect(isMountPoint(libc(), rootfs)).toBe(true);
}

const mountLine = (target: string): string | undefined => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target);

afterEach(() => detachAll(scratch.dir));

describe.each([
  ['ts-img mount (new mount API, dirs by fd)', 'cli'],
  ['the new API with path strings, as on Linux 6.8-6.12', 'strings'],
  ['mount(2), as on kernels before 6.8', 'mount2'],
] as Array<[string, Way]>)('%s', (_n, way) => {
  test('upper swapped for a symlink to a host dir while mount waits: the host dir is never the upper layer', async () => {
    const { b, store } = await unmountedBundle(`upper-${way}`);
    const host = hostDir(`host-upper-${way}`);
    const upper = readOverlayMeta(b)!.upper;
    let real = '';
    const r = await mountWithSwap(way, b, store, () => { real = swapForLink(upper, host); });
    const rootfs = path.join(b, 'rootfs');
    mounted(r, rootfs);
    expect(fs.readFileSync(path.join(rootfs, 'etc/os'), 'utf8')).toBe('image\n');
    fs.writeFileSync(path.join(rootfs, 'written'), 'container\n');
    expect(fs.readFileSync(path.join(real, 'written'), 'utf8')).toBe('container\n');
    expect(mountLine(rootfs)).not.toContain(`upperdir=${host}`);
    expect(fs.readdirSync(host)).toEqual(['precious']);
  });

  test('work swapped for a symlink to a host dir while mount waits: overlayfs never works in the host dir', async () => {
    const { b, store } = await unmountedBundle(`work-${way}`);
    const host = hostDir(`host-work-${way}`);
    let real = '';
    const r = await mountWithSwap(way, b, store, () => { real = swapForLink(readOverlayMeta(b)!.work, host); });
    mounted(r, path.join(b, 'rootfs'));
    expect(fs.readdirSync(real)).toContain('work'); // overlayfs makes work/ in its work dir
    expect(fs.readdirSync(host)).toEqual(['precious']);
  });

  test('rootfs swapped for a symlink to a host dir while mount waits: nothing is mounted over the host dir', async () => {
    const { b, store } = await unmountedBundle(`rootfs-${way}`);
    const host = hostDir(`host-rootfs-${way}`);
    let real = '';
    const r = await mountWithSwap(way, b, store, () => { real = swapForLink(path.join(b, 'rootfs'), host); });
    expect(isMountPoint(libc(), host)).toBe(false);
    expect(mountsUnder(host)).toEqual([]);
    expect(fs.readdirSync(host)).toEqual(['precious']);
    mounted(r, real);
    expect(fs.readFileSync(path.join(real, 'etc/os'), 'utf8')).toBe('image\n');
  });
});
