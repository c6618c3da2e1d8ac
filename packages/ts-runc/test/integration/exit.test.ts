// How every command ends: by exit_group once koffi is loaded (lifecycle/process-exit.ts). koffi's
// exit handler fsyncs stdout and stderr, which on a regular file (a log, an engine's capture file)
// is a journal commit at the end of each start, delete, kill and exec.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
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
