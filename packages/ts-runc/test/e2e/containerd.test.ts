/**
 * containerd 1.6 (its runc v2 shim) driving ts-runc through `ctr run --runc-binary`, and runc as the
 * baseline with the same scenarios (E2E_RUNTIMES). The daemon is private to the test.
 */
import * as fs from 'fs';
import * as path from 'path';
import { runtimes, have, ok, waitFor, sleep, PtySession, removeDemoImage, runAsync, alive, CGROUP_V2 } from './helpers';
import { Containerd, IMAGE } from './containerd-harness';

jest.setTimeout(120000);

const RUNTIMES = runtimes();
const enabled = have('containerd') && have('ctr') && have('script');
const d = enabled ? describe : describe.skip;

let cd: Containerd;
beforeAll(async () => {
  if (!enabled) return;
  cd = new Containerd(RUNTIMES);
  await cd.start();
  cd.importImage();
}, 120000);
afterAll(async () => {
  if (!enabled || !cd) return;
  const problems = await cd.cleanup();
  removeDemoImage();
  if (problems.length) throw new Error(`clean-up found leftovers:\n${problems.join('\n')}`);
}, 120000);

let n = 0;
const made: string[] = [];
const name = (rt: string, what: string) => {
  const c = `${rt}-${what}-${n++}`;
  made.push(c);
  return c;
};
afterEach(async () => {
  if (!enabled) return;
  for (const c of made.splice(0)) {
    if (cd.ctr(['task', 'ls', '-q']).stdout.split('\n').includes(c)) {
      cd.ctr(['task', 'kill', '-a', '-s', 'KILL', c]);
      // Clean-up: wait (bounded) for the kill to land; delete -f copes with a task still running.
      await waitFor(`task ${c} to stop`, () => !/\bRUNNING\b|\bPAUSED\b/.test(cd.ctr(['task', 'ls']).stdout.split('\n').find((l) => l.split(/\s+/)[0] === c) ?? '')).catch(() => undefined);
      cd.ctr(['task', 'delete', '-f', c]);
    }
    cd.ctr(['container', 'rm', c]);
  }
});

/** A long-running task that records signals in /tmp/events (read from the host through /proc/PID/root). */
const EVENTS_LOOP =
  'trap "echo usr1 >> /tmp/events" USR1; trap "echo term >> /tmp/events; exit 3" TERM; echo ready > /tmp/events; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done';

d.each(RUNTIMES.map((r) => [r.name]))('ctr --runc-binary %s', (rt) => {
  const C = (args: string[], opts?: { input?: string; timeout?: number }) => cd.ctr(args, opts);
  const runArgs = () => cd.runtimeArgs(rt);
  const calls = (verb: string) => cd.wrappers[rt].calls().filter((l) => ` ${l} `.includes(` ${verb} `));
  const taskStatus = (c: string) => {
    const line = ok(C(['task', 'ls'])).split('\n').find((l) => l.split(/\s+/)[0] === c);
    return line ? { pid: Number(line.split(/\s+/)[1]), status: line.split(/\s+/)[2] } : undefined;
  };
  const inRoot = (pid: number, file: string) => fs.readFileSync(`/proc/${pid}/root${file}`, 'utf8');
  const startD = async (c: string) => {
    ok(C(['run', '-d', ...runArgs(), IMAGE, c, 'sh', '-c', EVENTS_LOOP]));
    const t = await waitFor('task running', () => taskStatus(c)?.status === 'RUNNING' && taskStatus(c));
    await waitFor('ready', () => inRoot(t.pid, '/tmp/events').includes('ready'));
    return t.pid;
  };
  const pidsOf = (c: string) => ok(C(['task', 'ps', c])).trim().split('\n').slice(1).map((l) => Number(l.split(/\s+/)[0]));
  const readComm = (p: number) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const containerGone = (c: string) => expect(ok(C(['container', 'ls', '-q'])).split('\n')).not.toContain(c);
  const stateGone = (c: string) => expect(fs.existsSync(path.join(cd.dir, 'runc-root', cd.ns, c))).toBe(false);

  test('run --rm: output, exit code, container and runtime state gone; the shim uses --log-format json', () => {
    const c = name(rt, 'rm');
    const r = C(['run', '--rm', ...runArgs(), IMAGE, c, 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err');
    expect(r.status).toBe(3);
    containerGone(c);
    stateGone(c);
    const create = calls('create').find((l) => l.endsWith(` ${c}`));
    expect(create).toMatch(/--log \S+log\.json --log-format json create --bundle \S+ --pid-file \S+init\.pid/);
    expect(calls('delete').some((l) => l.endsWith(` ${c}`))).toBe(true);
    const ok0 = C(['run', '--rm', ...runArgs(), IMAGE, name(rt, 'rm0'), 'true']);
    expect(ok0.status).toBe(0);
  });

  test('run --rm with the shim\'s default runtime root (/run/containerd/runc/NS)', () => {
    const c = name(rt, 'defroot');
    const r = C(['run', '--rm', '--runc-binary', cd.wrappers[rt].bin, '--fifo-dir', path.join(cd.dir, 'fifo'), IMAGE, c, 'sh', '-c', 'echo default-root; exit 5']);
    expect(r.stdout).toBe('default-root\n');
    expect(r.status).toBe(5);
    expect(calls('create').find((l) => l.endsWith(` ${c}`))).toMatch(new RegExp(`^--root /run/containerd/runc/${cd.ns} `));
    expect(fs.existsSync(`/run/containerd/runc/${cd.ns}/${c}`)).toBe(false);
    containerGone(c);
  });

  test('run --rm of a missing executable fails with the runtime error from its JSON log', () => {
    const c = name(rt, 'missing');
    const r = C(['run', '--rm', ...runArgs(), IMAGE, c, 'no-such-command']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/OCI runtime create failed: .*executable file not found in \$PATH/);
    const p = C(['run', '--rm', ...runArgs(), IMAGE, name(rt, 'missing2'), '/no/such/file']);
    expect(p.status).not.toBe(0);
    expect(p.stderr).toMatch(/OCI runtime create failed: .*no such file or directory/);
    // ctr leaves the container record behind when the task cannot be created
    C(['container', 'rm', c]);
    containerGone(c);
    stateGone(c);
  });

  test('four run --rm at once: outputs and exit codes', async () => {
    const ids = [0, 1, 2, 3].map((i) => name(rt, `par${i}`));
    const rs = await Promise.all(ids.map((c, i) => runAsync('ctr', ['--address', cd.sock, '-n', cd.ns, 'run', '--rm', ...runArgs(), IMAGE, c, 'sh', '-c', `echo par-${i}; exit ${i}`])));
    rs.forEach((r, i) => {
      expect(r.stdout).toBe(`par-${i}\n`);
      expect(r.status).toBe(i);
    });
    for (const c of ids) stateGone(c);
  });

  test('run -t under a real pty: interactive shell, tty, exit code', async () => {
    const c = name(rt, 'tty');
    const s = new PtySession(cd.cmdline(['run', '--rm', '-t', ...runArgs(), IMAGE, c, 'sh']));
    try {
      await s.expect(/# /);
      s.send('tty; echo "in-$((6*7))"\r');
      await s.expect(/in-42/);
      expect(s.output).toMatch(/\/dev\/pts\/\d+|\/dev\/console/);
      s.send('exit 4\r');
      expect(await s.wait()).toBe(4);
    } finally {
      s.kill();
    }
    expect(calls('create').find((l) => l.endsWith(` ${c}`))).toMatch(/--console-socket /);
    containerGone(c);
  });

  test('task exec: output, exit code, user and cwd, tty exec under a real pty, missing executable', async () => {
    const c = name(rt, 'exec');
    const pid = await startD(c);
    const e = C(['task', 'exec', ...cd.fifoArgs(), '--exec-id', 'e1', c, 'sh', '-c', 'echo exec-out; cat /proc/1/cmdline | tr "\\0" " "']);
    expect(e.stdout).toMatch(/^exec-out\nsh -c /);
    expect(e.status).toBe(0);
    expect(C(['task', 'exec', ...cd.fifoArgs(), '--exec-id', 'e2', c, 'sh', '-c', 'exit 42']).status).toBe(42);
    const u = C(['task', 'exec', ...cd.fifoArgs(), '--exec-id', 'e3', '--user', '1000', '--cwd', '/tmp', c, 'sh', '-c', 'echo "$(id -u):$(pwd)"']);
    expect(u.stdout.trim()).toBe('1000:/tmp');
    const missing = C(['task', 'exec', ...cd.fifoArgs(), '--exec-id', 'e4', c, 'no-such-command']);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/executable file not found/);
    const execs = calls('exec').filter((l) => l.endsWith(` ${c}`));
    expect(execs[0]).toMatch(/exec --process \S+ --detach --pid-file \S+ /);

    const s = new PtySession(cd.cmdline(['task', 'exec', ...cd.fifoArgs(), '-t', '--exec-id', 'e5', c, 'sh']));
    try {
      await s.expect(/# /);
      s.send('tty; echo "in-$((6*7))"\r');
      await s.expect(/in-42/);
      expect(s.output).toMatch(/\/dev\/pts\/\d+/);
      s.send('exit 6\r');
      expect(await s.wait()).toBe(6);
    } finally {
      s.kill();
    }
    expect(calls('exec').filter((l) => l.endsWith(` ${c}`)).pop()).toMatch(/--console-socket \S+ --detach/);
    expect(taskStatus(c)?.status).toBe('RUNNING');
    expect(taskStatus(c)?.pid).toBe(pid);
  });

  test('task ps lists the container processes (runtime ps --format json)', async () => {
    const c = name(rt, 'ps');
    const pid = await startD(c);
    const out = ok(C(['task', 'ps', c]));
    const pids = out.split('\n').slice(1).filter(Boolean).map((l) => Number(l.split(/\s+/)[0]));
    expect(pids).toContain(pid);
    expect(pids.length).toBeGreaterThanOrEqual(1);
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`/${cd.ns}/${c}`);
    expect(calls('ps').some((l) => l.endsWith(`ps --format json ${c}`))).toBe(true);
  });

  test('task pause and resume: frozen, then making progress again', async () => {
    const c = name(rt, 'pause');
    const pid = await startD(c);
    ok(C(['task', 'pause', c]));
    expect(taskStatus(c)?.status).toBe('PAUSED');
    const frozen = inRoot(pid, '/tmp/count');
    await sleep(600);
    expect(inRoot(pid, '/tmp/count')).toBe(frozen);
    ok(C(['task', 'resume', c]));
    expect(taskStatus(c)?.status).toBe('RUNNING');
    await waitFor('count to move', () => inRoot(pid, '/tmp/count') !== frozen);
    expect(calls('pause').some((l) => l.endsWith(`pause ${c}`))).toBe(true);
    expect(calls('resume').some((l) => l.endsWith(`resume ${c}`))).toBe(true);
  });

  test('task metrics, exec killed by exec id, exec refused while paused', async () => {
    const c = name(rt, 'metrics');
    await startD(c);
    const m = ok(C(['task', 'metrics', c]));
    // The shim reports v1 metrics on a v1/hybrid host, v2 metrics on a pure cgroup v2 one.
    expect(m).toMatch(CGROUP_V2 ? /memory\.usage\s+[1-9]\d*/ : /memory\.usage_in_bytes\s+[1-9]\d*/);
    expect(m).toMatch(/pids\.current\s+[1-9]/);
    ok(C(['task', 'exec', ...cd.fifoArgs(), '-d', '--exec-id', 'bg', c, 'sleep', '100']));
    await waitFor('exec in ps', () => ok(C(['task', 'ps', c])).trim().split('\n').length >= 3);
    ok(C(['task', 'kill', '--exec-id', 'bg', '-s', 'KILL', c]));
    // (the shim signals exec processes itself, not through the runtime)
    await waitFor('exec gone', () => !pidsOf(c).some((p) => readComm(p) === 'sleep' && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('100')));
    ok(C(['task', 'pause', c]));
    const e = C(['task', 'exec', ...cd.fifoArgs(), '--exec-id', 'p1', c, 'true']);
    expect(e.status).not.toBe(0);
    expect(e.stderr).toMatch(/paused/);
    ok(C(['task', 'resume', c]));
    expect(taskStatus(c)?.status).toBe('RUNNING');
  });

  test('task kill: USR1 delivered, TERM ends it with its exit code, delete, container rm', async () => {
    const c = name(rt, 'kill');
    const pid = await startD(c);
    ok(C(['task', 'kill', '-s', 'USR1', c]));
    await waitFor('usr1', () => inRoot(pid, '/tmp/events').includes('usr1'));
    expect(taskStatus(c)?.status).toBe('RUNNING');
    ok(C(['task', 'kill', c]));
    await waitFor('stopped', () => taskStatus(c)?.status === 'STOPPED');
    const del = C(['task', 'delete', c]);
    expect(del.status).toBe(0);
    expect(del.stderr + del.stdout).toMatch(/exit code 3/);
    expect(taskStatus(c)).toBeUndefined();
    ok(C(['container', 'rm', c]));
    containerGone(c);
    stateGone(c);
    expect(calls('kill').filter((l) => / kill \S+ \d+$/.test(l) && l.includes(` ${c} `)).map((l) => l.split(' ').pop())).toEqual(['10', '15']);
  });

  test('task kill --all with KILL, delete of a running task refused, delete -f', async () => {
    const c = name(rt, 'killall');
    const pid = await startD(c);
    ok(C(['task', 'exec', ...cd.fifoArgs(), '-d', '--exec-id', 'bg', c, 'sleep', '1000']));
    const refused = C(['task', 'delete', c]);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/running|stopped before deletion|failed precondition/);
    ok(C(['task', 'kill', '-a', '-s', 'KILL', c]));
    await waitFor('stopped', () => taskStatus(c)?.status === 'STOPPED');
    expect(() => process.kill(pid, 0)).toThrow();
    expect(calls('kill').some((l) => l.endsWith(`kill --all ${c} 9`))).toBe(true);
    ok(C(['task', 'delete', c]));

    const f = name(rt, 'force');
    const fpid = await startD(f);
    ok(C(['task', 'delete', '-f', f]));
    expect(taskStatus(f)).toBeUndefined();
    await waitFor('init gone', () => !alive(fpid));
    ok(C(['container', 'rm', c, f]));
    stateGone(c);
    stateGone(f);
  });
});
