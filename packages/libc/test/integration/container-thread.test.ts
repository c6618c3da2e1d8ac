/**
 * The container thread's playback (container-thread.ts ContainerThread.run) on a real pool thread,
 * in a Node child started with UV_THREADPOOL_SIZE=1 as the CLI starts: the calls of one run are
 * made without a turn of the event loop between them, a failure names the first call that failed
 * with its own errno, and a spawn is made only once every call before it has worked.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';

const INDEX = path.join(__dirname, '../../src/index.js');

/** Runs `body` (an async function's body, given `startContainerThread`) in a fresh Node; its JSON result. */
function inChild(body: string): any {
  const script = `
    const { startContainerThread } = require(${JSON.stringify(INDEX)});
    (async () => { ${body} })().then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify({ thrown: e.message })));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8', timeout: 30000 });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'container-thread-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the calls after a spawn are made while the main thread never yields', () => {
  // The run: a spawn held at a gate (a fifo), then names for the thread. Once the held child
  // exists, the main thread opens the gate and spins without yielding. With a turn of the event
  // loop per call, the thread would stop after the spawn; queued with it, it gets to the names.
  // (A non-blocking open could come before the child's, which would then wait for good.)
  expect(spawnSync('mkfifo', [path.join(dir, 'gate')]).status).toBe(0);
  const r = inChild(`
    const fs = require('fs');
    const t = await startContainerThread();
    const dirFd = fs.openSync(${JSON.stringify(dir)}, 0o10000000 | 0o200000); // O_PATH | O_DIRECTORY
    const done = t.run((s) => {
      s.posixSpawn({ path: '/bin/true', argv: ['true'], env: [], fds: [[0, 0], [1, 1], [2, 2]], gate: { dirFd, name: 'gate', cwdFd: dirFd, closeOthers: true } });
      for (const n of ['n1', 'n2', 'n3']) s.setThreadName(n);
    });
    // The child exists once the spawn is queued (the run's first round trip needs the event loop);
    // its open of the gate may still be to come, so our open waits for it (a blocking read end).
    const children = '/proc/self/task/' + t.tid + '/children';
    while (fs.readFileSync(children, 'utf8') === '') await new Promise((r) => setImmediate(r));
    fs.closeSync(fs.openSync(${JSON.stringify(path.join(dir, 'gate'))}, fs.constants.O_RDONLY));
    const comm = '/proc/self/task/' + t.tid + '/comm';
    const until = Date.now() + 10000;
    let name = '';
    while (Date.now() < until && (name = fs.readFileSync(comm, 'utf8').trim()) !== 'n3');
    await done;
    return { name };
  `);
  expect(r).toEqual({ name: 'n3' });
});

test('a failure names the first call that failed, with its own errno, not that of a later one', () => {
  const r = inChild(`
    const t = await startContainerThread();
    try {
      await t.run((s) => {
        s.setThreadName('before');
        s.setns(987654, 0); // EBADF
        s.prctl(123456, 0); // EINVAL, made too
      });
      return { ok: true };
    } catch (e) {
      return { code: e.code, message: e.message };
    }
  `);
  expect(r.code).toBe('EBADF');
  expect(r.message).toContain('setns');
});

test('after a failed call, a spawn behind it is never made', () => {
  const spawnAfter = (marker: string, failFirst: boolean) => `
    const t = await startContainerThread();
    try {
      await t.run((s) => {
        ${failFirst ? 's.setns(987654, 0);' : ''}
        s.posixSpawn({ path: '/bin/sh', argv: ['sh', '-c', 'touch ${marker}'], env: [], fds: [[0, 0], [1, 1], [2, 2]] });
      });
    } catch (e) {
      return { code: e.code };
    }
    const until = Date.now() + 10000;
    while (Date.now() < until && !require('fs').existsSync('${marker}')) await new Promise((r) => setTimeout(r, 5));
    return { ok: true };
  `;
  expect(inChild(spawnAfter(path.join(dir, 'after-failure'), true))).toEqual({ code: 'EBADF' });
  // The control: the same spawn without the failure before it.
  expect(inChild(spawnAfter(path.join(dir, 'alone'), false))).toEqual({ ok: true });
  expect(fs.readdirSync(dir)).toEqual(['alone']);
});
