/**
 * podman 4.3 + conmon driving ts-runc (and runc as the baseline, same scenarios: E2E_RUNTIMES).
 * Private storage, cgroupfs, netns none; every assertion is on what podman reports.
 */
import * as fs from 'fs';
import { runtimes, have, ok, waitFor, sleep, PtySession, memoryLimitFileOf, removeDemoImage, SIGNAL_LOOP, COUNTER_LOOP, CGROUP_V2 } from './helpers';
import { Podman, IMAGE } from './podman-harness';

jest.setTimeout(120000);

const RUNTIMES = runtimes();
const enabled = have('podman') && have('conmon') && have('script');
const d = enabled ? describe : describe.skip;

let pm: Podman;
beforeAll(() => {
  if (!enabled) return;
  pm = new Podman(RUNTIMES);
  pm.loadImage();
}, 120000);
afterAll(() => {
  if (!enabled) return;
  const problems = pm?.cleanup() ?? [];
  removeDemoImage();
  if (problems.length) throw new Error(`clean-up found leftovers:\n${problems.join('\n')}`);
}, 120000);

let n = 0;
const made: string[] = [];
/** A container name, removed after the test even when it fails. */
const name = (rt: string, what: string) => {
  const c = `e2e-${rt}-${what}-${process.pid}-${n++}`;
  made.push(c);
  return c;
};
afterEach(() => {
  if (enabled && made.length) pm.podman(['rm', '-f', '-t', '0', ...made.splice(0)]);
});

d.each(RUNTIMES.map((r) => [r.name]))('podman --runtime %s', (rt) => {
  const P = (args: string[], opts?: { input?: string; timeout?: number }) => pm.podman(['--runtime', rt, ...args], opts);
  const inspect = (c: string, fmt: string) => ok(P(['inspect', '-f', fmt, c])).trim();
  const runD = (c: string, script: string, extra: string[] = []) => ok(P(['run', '-d', '--name', c, ...extra, IMAGE, 'sh', '-c', script])).trim();
  const logs = (c: string) => ok(P(['logs', c]));

  const gone = (c: string) => expect(P(['container', 'exists', c]).status).toBe(1);

  test('run --rm: output, exit codes, container gone, conmon passed --log-format json', () => {
    const c = name(rt, 'rm');
    const r = P(['run', '--rm', '--name', c, IMAGE, 'sh', '-c', 'echo hello from $(cat /etc/hostname | wc -c) && echo err >&2']);
    expect(r.stdout).toMatch(/^hello from \d+\n$/);
    expect(r.stderr).toContain('err');
    expect(r.status).toBe(0);
    gone(c);
    const c7 = name(rt, 'rm7');
    const seven = P(['run', '--rm', '--name', c7, IMAGE, 'sh', '-c', 'exit 7']);
    expect(seven.status).toBe(7);
    gone(c7);
    const creates = pm.wrappers[rt].calls().filter((l) => / create /.test(` ${l} `));
    expect(creates.length).toBeGreaterThanOrEqual(2);
    for (const c of creates) expect(c).toMatch(/--log-format[= ]json/);
  });

  test('run -i --rm with stdin from a pipe', () => {
    const r = P(['run', '-i', '--rm', IMAGE, 'sh', '-c', 'tr a-z A-Z; echo done'], { input: 'piped text\n' });
    expect(r.stdout).toBe('PIPED TEXT\ndone\n');
    expect(r.status).toBe(0);
  });

  test('a failing command: missing executable 127, not executable 126', () => {
    const c = name(rt, 'fail');
    const missing = P(['run', '--rm', '--name', c, IMAGE, 'no-such-command']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/executable file not found in \$PATH/);
    const missingPath = P(['run', '--rm', IMAGE, '/no/such/file']);
    expect(missingPath.status).toBe(127);
    expect(missingPath.stderr).toMatch(/no such file or directory/);
    const notExec = P(['run', '--rm', IMAGE, '/etc/passwd']);
    expect(notExec.status).toBe(126);
    expect(notExec.stderr).toMatch(/permission denied/);
    gone(c);
  });

  test('run -d, exec (output, exit code, user/env/workdir, missing executable), stop, rm', async () => {
    const c = name(rt, 'd');
    const id = runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    expect(pid).toBeGreaterThan(1);
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('sh');

    const e = P(['exec', c, 'sh', '-c', 'echo exec-out; ps -o pid,comm | grep -c " sh"']);
    expect(e.stdout).toMatch(/^exec-out\n/);
    expect(e.status).toBe(0);
    expect(P(['exec', c, 'sh', '-c', 'exit 42']).status).toBe(42);
    const u = P(['exec', '-u', '1000:1000', '-e', 'E2E_VAR=v1', '-w', '/tmp', c, 'sh', '-c', 'echo "$(id -u):$(id -g):$E2E_VAR:$(pwd)"']);
    expect(u.stdout.trim()).toBe('1000:1000:v1:/tmp');
    const missing = P(['exec', c, 'no-such-command']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/executable file not found/);
    // still running after all that
    expect(inspect(c, '{{.State.Status}}')).toBe('running');

    const stop = P(['stop', '-t', '10', c]);
    expect(stop.status).toBe(0);
    expect(inspect(c, '{{.State.Status}}')).toBe('exited');
    expect(inspect(c, '{{.State.ExitCode}}')).toBe('3'); // the TERM trap
    expect(logs(c)).toContain('got-term');
    expect(ok(P(['rm', c])).trim()).toMatch(new RegExp(`^(${c}|${id})$`));
    expect(P(['inspect', c]).status).not.toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  test('stop of a container that ignores TERM: KILL after the timeout, exit code 137', async () => {
    const c = name(rt, 'stopkill');
    const id = runD(c, 'trap "" TERM; echo ready; while :; do sleep 0.1; done');
    await waitFor('ready', () => logs(c).includes('ready'));
    ok(P(['stop', '-t', '1', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('exited');
    expect(inspect(c, '{{.State.ExitCode}}')).toBe('137');
    const kills = pm.wrappers[rt].calls().filter((l) => l.includes(`kill ${id} `)).map((l) => l.split(' ').pop());
    expect(kills).toEqual(['15', '9']);
  });

  test('run options reach the container: read-only, user, workdir, hostname, env, limits, caps, nnp, mounts, seccomp, uidmap', () => {
    const run = (opts: string[], script: string) => {
      const r = P(['run', '--rm', ...opts, IMAGE, 'sh', '-c', script]);
      if (r.status !== 0) throw new Error(r.text);
      return r.stdout.trim().split('\n');
    };
    expect(run(['--read-only'], 'touch /x 2>/dev/null && echo wrote || echo ro; touch /tmp/y && echo tmp-ok')).toEqual(['ro', 'tmp-ok']);
    expect(run(['--user', '1000:100', '--workdir', '/tmp', '--hostname', 'hh', '-e', 'A=b'], 'echo "$(id -u):$(id -g):$(pwd):$(hostname):$A"')).toEqual(['1000:100:/tmp:hh:b']);
    // The limits where this host keeps them: v1 controller directories, or the unified files.
    const limits = CGROUP_V2
      ? 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; cut -d" " -f1 /sys/fs/cgroup/cpu.max'
      : 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us';
    expect(run(['--memory', '6m', '--pids-limit', '10', '--cpus', '0.5'], limits)).toEqual([String(6 * 1024 * 1024), '10', '50000']);
    expect(run(['--cap-drop', 'all', '--cap-add', 'chown', '--security-opt', 'no-new-privileges'], 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status | tr -s "\\t" " "')).toEqual(['CapEff: 0000000000000001', 'CapBnd: 0000000000000001', 'NoNewPrivs: 1']);
    const mounts = run(['--tmpfs', '/data:size=1m', '-v', '/etc/hostname:/h:ro', '--shm-size', '2m'], 'grep -E " /(data|h|dev/shm) " /proc/self/mountinfo | cut -d" " -f5,6');
    expect(mounts.sort()).toEqual([expect.stringMatching(/^\/data rw,/), expect.stringMatching(/^\/dev\/shm rw,nosuid,nodev,noexec/), expect.stringMatching(/^\/h ro/)]);
    expect(run([], 'grep Seccomp: /proc/self/status | tr -s "\t" " "')).toEqual(['Seccomp: 2']);
    expect(run(['--security-opt', 'seccomp=unconfined'], 'grep Seccomp: /proc/self/status | tr -s "\t" " "')).toEqual(['Seccomp: 0']);
    expect(run(['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'], 'id -u; tr -s " " < /proc/self/uid_map')).toEqual(['0', ' 0 100000 65536']);
  });

  test('top, stats, exec -d, create + start -a, a container killed from outside', async () => {
    const c = name(rt, 'top');
    runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    const top = ok(P(['top', c]));
    expect(top).toMatch(/\n\S+\s+1\s+0\s.*sh -c/);
    expect(ok(P(['stats', '--no-stream', '--format', '{{.PIDs}}', c])).trim()).toMatch(/^[1-9]\d*$/);
    expect(ok(P(['exec', '-d', c, 'sleep', '30'])).trim()).toMatch(/^[0-9a-f]{64}$/);
    await waitFor('exec -d process', () => ok(P(['top', c])).includes('sleep 30'));
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    process.kill(pid, 'SIGKILL');
    await waitFor('exited', () => inspect(c, '{{.State.Status}}') === 'exited');
    expect(inspect(c, '{{.State.ExitCode}}')).toBe('137');

    const c2 = name(rt, 'create');
    ok(P(['create', '--name', c2, IMAGE, 'sh', '-c', 'echo created-then-started; exit 6']));
    expect(inspect(c2, '{{.State.Status}}')).toBe('created');
    const st = P(['start', '-a', c2]);
    expect(st.stdout).toBe('created-then-started\n');
    expect(inspect(c2, '{{.State.ExitCode}}')).toBe('6');
  });

  test('four run --rm at once, then four run -d stopped at once', async () => {
    const names = [0, 1, 2, 3].map((i) => name(rt, `par${i}`));
    // Each prints a moment after it starts. Right after a full test run, 4 in 10 of these gave one
    // container an empty stdout (0 in 34 later). A guess from conmon's source, not confirmed:
    // conmon accepts podman's attach only once its main loop runs, after its own set-up (the OOM
    // watch), and output from before that goes to its log only. The single run --rm test above
    // keeps the immediate case.
    const rs = await Promise.all(names.map((c, i) => pm.podmanAsync(['--runtime', rt, 'run', '--rm', '--name', c, IMAGE, 'sh', '-c', `sleep 0.3; echo par-${i}; exit ${i}`])));
    rs.forEach((r, i) => {
      expect(r.stdout).toBe(`par-${i}\n`);
      expect(r.status).toBe(i);
    });
    const ds = [0, 1, 2, 3].map((i) => name(rt, `pard${i}`));
    const started = await Promise.all(ds.map((c) => pm.podmanAsync(['--runtime', rt, 'run', '-d', '--name', c, IMAGE, 'sh', '-c', SIGNAL_LOOP])));
    for (const r of started) expect(r.status).toBe(0);
    await waitFor('all ready', () => ds.every((c) => logs(c).includes('ready')));
    const stopped = await Promise.all(ds.map((c) => pm.podmanAsync(['--runtime', rt, 'stop', '-t', '10', c])));
    for (const r of stopped) expect(r.status).toBe(0);
    for (const c of ds) expect(inspect(c, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 3');
  });

  test('run -it under a real pty: interactive shell, tty, exit code', async () => {
    const s = new PtySession(pm.cmdline(['--runtime', rt, 'run', '--rm', '-it', IMAGE, 'sh']), pm.env);
    try {
      await s.expect(/# /);
      s.send('tty; echo "in-$((6*7))"\r');
      await s.expect(/in-42/);
      expect(s.output).toMatch(/\/dev\/pts\/\d+/);
      s.send('exit 4\r');
      expect(await s.wait()).toBe(4);
    } finally {
      s.kill();
    }
    const creates = pm.wrappers[rt].calls().filter((l) => / create /.test(` ${l} `));
    expect(creates[creates.length - 1]).toMatch(/--console-socket /);
  });

  test('exec -it under a real pty into a running container', async () => {
    const c = name(rt, 'execit');
    runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    const s = new PtySession(pm.cmdline(['--runtime', rt, 'exec', '-it', c, 'sh']), pm.env);
    try {
      await s.expect(/# /);
      s.send('tty; echo "pid1=$(cat /proc/1/comm)"\r');
      await s.expect(/pid1=sh/);
      expect(s.output).toMatch(/\/dev\/pts\/\d+/);
      s.send('exit 5\r');
      expect(await s.wait()).toBe(5);
    } finally {
      s.kill();
    }
    const execs = pm.wrappers[rt].calls().filter((l) => / exec /.test(` ${l} `));
    expect(execs[execs.length - 1]).toMatch(/--tty/);
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    ok(P(['rm', '-f', '-t', '0', c]));
  });

  test('pause and unpause: the container stops making progress, then resumes', async () => {
    const c = name(rt, 'pause');
    runD(c, COUNTER_LOOP);
    await waitFor('ticks', () => logs(c).includes('tick-3'));
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    const count = () => fs.readFileSync(`/proc/${pid}/root/tmp/count`, 'utf8');
    ok(P(['pause', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('paused');
    const frozen = count();
    // "No progress while paused" has no event to wait for: look again after a while (a slower
    // machine only makes this stricter). The counter file is written by the process itself.
    await sleep(700);
    expect(count()).toBe(frozen);
    ok(P(['unpause', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    await waitFor('more ticks', () => count() !== frozen);
    ok(P(['rm', '-f', '-t', '0', c]));
  });

  test('kill with signals: USR1 and HUP are delivered, default KILL gives 137', async () => {
    const c = name(rt, 'kill');
    runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    ok(P(['kill', '-s', 'USR1', c]));
    await waitFor('got-usr1', () => logs(c).includes('got-usr1'));
    ok(P(['kill', '--signal', 'SIGHUP', c]));
    await waitFor('got-hup', () => logs(c).includes('got-hup'));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    ok(P(['kill', c]));
    await waitFor('exited', () => inspect(c, '{{.State.Status}}') === 'exited');
    expect(inspect(c, '{{.State.ExitCode}}')).toBe('137');
    const signals = pm.wrappers[rt].calls().filter((l) => / kill /.test(` ${l} `)).map((l) => l.split(' ').pop());
    expect(signals.slice(-3)).toEqual(['10', '1', '9']);
    ok(P(['rm', c]));
  });

  test('update --memory changes the cgroup limit of a running container', async () => {
    const c = name(rt, 'update');
    runD(c, SIGNAL_LOOP, ['--memory', '96m']);
    await waitFor('ready', () => logs(c).includes('ready'));
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    const limitFile = memoryLimitFileOf(pid);
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(96 * 1024 * 1024));
    const u = P(['update', '--memory', '64m', c]);
    expect(u.status).toBe(0);
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    expect(pm.wrappers[rt].calls().some((l) => /\bupdate --resources[= ]/.test(l))).toBe(true);
    ok(P(['rm', '-f', '-t', '0', c]));
  });

  test('restart: a running container gets a new init, an exited one runs again', async () => {
    const c = name(rt, 'restart');
    runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    const pid1 = Number(inspect(c, '{{.State.Pid}}'));
    ok(P(['restart', '-t', '10', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    const pid2 = Number(inspect(c, '{{.State.Pid}}'));
    expect(pid2).not.toBe(pid1);
    expect(() => process.kill(pid1, 0)).toThrow();
    await waitFor('second ready', () => logs(c).split('ready').length >= 3);

    const once = name(rt, 'once');
    const first = P(['run', '--name', once, IMAGE, 'sh', '-c', 'echo ran; exit 2']);
    expect(first.stdout).toBe('ran\n');
    expect(first.status).toBe(2);
    expect(inspect(once, '{{.State.ExitCode}}')).toBe('2');
    ok(P(['restart', once]));
    await waitFor('exited again', () => inspect(once, '{{.State.Status}}') === 'exited');
    expect(logs(once).split('ran').length - 1).toBe(2);
    expect(inspect(once, '{{.State.ExitCode}}')).toBe('2');
    ok(P(['rm', '-f', '-t', '0', c, once]));
  });
});
