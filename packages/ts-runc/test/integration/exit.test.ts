// How every command ends: by exit_group once koffi is loaded (lifecycle/process-exit.ts). koffi's
// exit handler fsyncs stdout and stderr, which on a regular file (a log, an engine's capture file)
// is a journal commit at the end of each start, delete, kill and exec.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { TS_RUNC, containerSuite, uniqueId } from '../helpers/runtime';

jest.setTimeout(60000);

const suite = containerSuite('exit');
const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-exit-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs ts-runc with stdout and stderr on new regular files; returns its output and its sync calls. */
function traced(args: string[]): { status: number | null; out: string; err: string; syncs: string[] } {
  const out = path.join(dir, 'out');
  const err = path.join(dir, 'err');
  const trace = path.join(dir, 'trace');
  const o = fs.openSync(out, 'w');
  const e = fs.openSync(err, 'w');
  try {
    // Not -f: strace would wait for the container's processes, which outlive the command.
    const r = spawnSync('strace', ['-qq', '-o', trace, '-e', 'trace=fsync,fdatasync,syncfs,sync', TS_RUNC, '--root', suite.rt.root, ...args], { stdio: ['ignore', o, e], timeout: 30000 });
    const syncs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\b(fsync|fdatasync|syncfs|sync)\(/.test(l));
    return { status: r.status, out: fs.readFileSync(out, 'utf8'), err: fs.readFileSync(err, 'utf8'), syncs };
  } finally {
    fs.closeSync(o);
    fs.closeSync(e);
  }
}

(hasStrace ? test : test.skip)('create, start, exec, ps, kill and delete sync nothing, and their output is whole', () => {
  const b = suite.bundle(['sleep', '1000']);
  const id = uniqueId('exit');
  try {
    for (const args of [['create', '-b', b.dir, id], ['start', id]]) {
      const r = traced(args);
      expect({ args, status: r.status, err: r.err, syncs: r.syncs }).toEqual({ args, status: 0, err: '', syncs: [] });
    }
    const exec = traced(['exec', id, 'echo', 'from exec']);
    expect(exec).toMatchObject({ status: 0, out: 'from exec\n', syncs: [] });
    const ps = traced(['ps', '--format', 'json', id]);
    expect(ps).toMatchObject({ status: 0, syncs: [] });
    expect(JSON.parse(ps.out)).toHaveLength(1);
    const state = traced(['state', id]);
    expect(state).toMatchObject({ status: 0, syncs: [] });
    expect(JSON.parse(state.out)).toMatchObject({ id, status: 'running' });
    expect(traced(['kill', id, 'KILL'])).toMatchObject({ status: 0, syncs: [] });
    const del = traced(['delete', '-f', id]);
    expect(del).toMatchObject({ status: 0, err: '', syncs: [] });
    // An error still reaches stderr whole.
    expect(traced(['delete', id])).toMatchObject({ status: 1, err: expect.stringContaining('container does not exist'), syncs: [] });
  } finally {
    suite.rt.run(['delete', '-f', id]);
  }
});

test('through a pipe the output is whole: list of 3000 containers, to a reader that is slow to start', async () => {
  // cli/output.ts writes stdout synchronously, waiting for room in the pipe: the process may end
  // right after (by exit_group too, process-exit.ts), and Node's own stdout stream would queue.
  const b = suite.bundle(['sleep', '1000']);
  const id = uniqueId('exit');
  const root = path.join(dir, 'many');
  try {
    expect(suite.rt.run(['create', '-b', b.dir, id]).status).toBe(0);
    const state = fs.readFileSync(path.join(suite.rt.root, id, 'state.json'), 'utf8');
    for (let i = 0; i < 3000; i++) {
      fs.mkdirSync(path.join(root, `c${i}`), { recursive: true });
      fs.writeFileSync(path.join(root, `c${i}`, 'state.json'), state.split(JSON.stringify(id)).join(JSON.stringify(`c${i}`)));
    }
  } finally {
    suite.rt.run(['delete', '-f', id]);
  }
  const file = path.join(dir, 'list.json');
  const fd = fs.openSync(file, 'w');
  try {
    expect(spawnSync(TS_RUNC, ['--root', root, 'list', '--format', 'json'], { stdio: ['ignore', fd, 'inherit'] }).status).toBe(0);
  } finally {
    fs.closeSync(fd);
  }
  const whole = fs.readFileSync(file, 'utf8');
  expect(JSON.parse(whole)).toHaveLength(3000);
  // The reader holds off for a second, so that the pipe fills and ts-runc must wait for room.
  const child = spawn(TS_RUNC, ['--root', root, 'list', '--format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.pause();
  await new Promise((r) => setTimeout(r, 1000));
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stdout.resume();
  const code = await new Promise((r) => child.on('close', r));
  expect({ code, length: Buffer.concat(chunks).length }).toEqual({ code: 0, length: Buffer.byteLength(whole) });
});
