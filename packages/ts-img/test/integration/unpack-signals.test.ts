import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import type { WEntry } from '../../src/testing/tarwriter';
import { rmrf, tmpdir } from '../helpers';

jest.setTimeout(240000);

/**
 * SIGINT/SIGTERM while a layer of many small files is being applied (issue #16 item 1): the
 * unpack stops there (the layer's last file is never created), exits 130 and leaves nothing.
 * Event-driven: the signal is sent on the first file seen in the temporary rootfs (inotify).
 */
const BIN = path.resolve(__dirname, '../../../bin/ts-img');
const FILES = 60000;

let base: string;
let image: string;
beforeAll(() => {
  base = tmpdir('ts-img-signals-');
  const entries: WEntry[] = [];
  for (let i = 0; i < FILES; i++) entries.push({ name: `f${String(i).padStart(6, '0')}` });
  entries.push({ name: 'zzz-last', data: 'last' });
  image = writeLayout('img', [{ entries, compression: 'gzip' }]);
  // A huge lower directory removed by a whiteout of the next layer, then one more layer.
  const big: WEntry[] = [{ name: 'big', type: 'dir' }];
  for (let i = 0; i < FILES; i++) big.push({ name: `big/f${String(i).padStart(6, '0')}` });
  whiteoutImage = writeLayout('img-wh', [
    { entries: big, compression: 'gzip' },
    { entries: [{ name: '.wh.big' }], compression: 'gzip' },
    { entries: [{ name: 'zzz-last', data: 'last' }], compression: 'gzip' },
  ]);
});
let whiteoutImage: string;

const writeLayout = (name: string, layers: Parameters<typeof buildImage>[0]['layers']): string => writeTaggedLayout(path.join(base, name), buildImage({ layers }));
afterAll(() => rmrf(base));

/** Resolves with the temp rootfs of an unpack into `parent` once it exists (watching the temp dir too). */
function tempRootfs(parent: string): Promise<{ rootfs: string }> {
  return new Promise((resolve) => {
    const watchers: fs.FSWatcher[] = [];
    let done = false;
    const look = (): void => {
      if (done) return;
      for (const n of fs.readdirSync(parent)) {
        if (!n.includes('.ts-img-')) continue;
        const tmp = path.join(parent, n);
        const r = path.join(tmp, 'rootfs');
        if (fs.existsSync(r)) {
          done = true;
          for (const w of watchers) w.close();
          resolve({ rootfs: r });
          return;
        }
        try {
          watchers.push(fs.watch(tmp, () => look()));
        } catch {
          // gone already
        }
      }
    };
    watchers.push(fs.watch(parent, () => look()));
    look();
  });
}

test.each([['SIGINT'], ['SIGTERM']])('%s during a layer of 60000 small files stops the unpack there', async (sig) => {
  const parent = path.join(base, `p-${sig}`);
  fs.mkdirSync(parent);
  const bundle = path.join(parent, 'b');
  const child = spawn(BIN, ['unpack', '--quiet', `${image}:x`, bundle], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const found = await Promise.race([tempRootfs(parent), exited.then((code) => ({ exitedFirst: code }))]);
  if (!('rootfs' in found)) throw new Error(`the unpack ended (exit ${found.exitedFirst}) before its rootfs was seen: ${stderr}`);
  const { rootfs } = found;
  let sawLast = false;
  let signalled = false;
  const watcher = fs.watch(rootfs, (_ev, name) => {
    if (name === 'zzz-last') sawLast = true;
    if (!signalled) {
      signalled = true;
      child.kill(sig as NodeJS.Signals);
    }
  });
  watcher.on('error', () => undefined); // the rootfs is removed under it
  const code = await exited;
  watcher.close();
  expect(signalled).toBe(true);
  expect(sawLast).toBe(false);
  expect(code).toBe(130);
  expect(stderr).toMatch(new RegExp(`interrupted \\(${sig}\\)`));
  expect(fs.readdirSync(parent)).toEqual([]);
});

test('SIGINT while a whiteout removes a lower directory of 60000 files stops the unpack there', async () => {
  const parent = path.join(base, 'p-whiteout');
  fs.mkdirSync(parent);
  const child = spawn(BIN, ['unpack', '--quiet', `${whiteoutImage}:x`, path.join(parent, 'b')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const found = await Promise.race([tempRootfs(parent), exited.then((code) => ({ exitedFirst: code }))]);
  if (!('rootfs' in found)) throw new Error(`the unpack ended (exit ${found.exitedFirst}) before its rootfs was seen: ${stderr}`);
  // The removal starts when the directory is put aside under the root: the signal goes then.
  let sawLast = false;
  let signalled = false;
  const watcher = fs.watch(found.rootfs, (_ev, name) => {
    if (name === 'zzz-last') sawLast = true;
    if (!signalled && String(name).startsWith('.ts-img-removed-')) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  watcher.on('error', () => undefined);
  const code = await exited;
  watcher.close();
  expect({ signalled, sawLast, code }).toEqual({ signalled: true, sawLast: false, code: 130 });
  expect(fs.readdirSync(parent)).toEqual([]);
});
