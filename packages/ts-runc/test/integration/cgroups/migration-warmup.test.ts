/**
 * create, run and exec move the CLI into the cgroup it is already in as they start (launch.ts,
 * cgroups/migration-warmup.ts), so that the kernel's wait for the first migration passes early.
 * The CLI must stay exactly where its caller put it: here, in a cgroup of its own made for the
 * test in the hierarchy that move uses, never its hierarchy's root nor the container's cgroup.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawn, type ChildProcess } from 'child_process';
import { TS_RUNC, makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../../helpers/runtime';
import { waitFor } from '../../helpers/wait';
import { detectHierarchies, hierarchyDir, parseProcCgroup } from '../../../src/cgroups/paths';

jest.setTimeout(90_000);

const maybe = process.getuid?.() === 0 ? describe : describe.skip;
const h = detectHierarchies();
const key = Object.keys(h.v1)[0] ?? '';
const mount = (key === '' ? h.unified : h.v1[key])!;
const ownOfJest = parseProcCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'))[key];

let rt: Runtime;
let b: Bundle;
let cg = '';
const id = uniqueId('warm');
const children: ChildProcess[] = [];

/** The CLI as its caller starts it: first put into `cg`, then exec'd. */
function cliIn(args: string[]): ChildProcess {
  const c = spawn('sh', ['-c', `echo $$ > "${cg}/cgroup.procs" && exec "$@"`, 'sh', TS_RUNC, '--root', rt.root, ...args], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** The CLI's cgroup in that hierarchy, as /proc shows it. */
const cgroupOf = (pid: number) => parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'))[key];
/** What `cg` is in /proc/PID/cgroup's terms (the mount may show a sub-tree). */
const expected = () => path.posix.join(mount.root, path.posix.relative(mount.mountPoint, cg));

/** Children of any thread of `pid` (the command of an exec is the container thread's). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number));
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));
}

maybe(`the CLI stays in its own cgroup (${key || 'unified'} hierarchy)`, () => {
  beforeAll(() => {
    rt = runtime();
    b = makeBundle(['sleep', '1000']);
    cg = path.posix.join(hierarchyDir(mount, '', ownOfJest), `tsrt-warm-${process.pid}`);
    fs.mkdirSync(cg);
    const r = rt.run(['run', '-d', '-b', b.dir, id]);
    if (r.status !== 0) throw new Error(r.stderr);
  });
  afterAll(async () => {
    for (const c of children) {
      c.kill('SIGKILL');
      await exited(c);
    }
    rt.cleanup();
    removeBundle(b);
    await waitFor(`${cg} to be empty`, () => fs.readFileSync(`${cg}/cgroup.procs`, 'utf8').trim() === '');
    fs.rmdirSync(cg);
  });

  test('exec: while its command runs', async () => {
    const cli = cliIn(['exec', id, 'sleep', '30']);
    await waitFor('the exec\'d command', () => childrenOf(cli.pid!).some((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\x0030\x00'));
    expect(cgroupOf(cli.pid!)).toBe(expected());
    cli.kill('SIGKILL');
    await exited(cli);
  });

  test('run: while its container runs', async () => {
    const rid = uniqueId('warm-run');
    const cli = cliIn(['run', '-b', b.dir, rid]);
    await waitFor(`${rid} running`, () => rt.run(['state', rid]).stdout.includes('"running"'));
    expect(cgroupOf(cli.pid!)).toBe(expected());
    expect(rt.run(['kill', rid, 'KILL']).status).toBe(0);
    await exited(cli);
  });
});
