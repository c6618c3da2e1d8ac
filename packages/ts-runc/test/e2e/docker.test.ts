/**
 * dockerd 20.10 (its managed containerd and runc v2 shim) driving ts-runc (`--runtime ts`), and
 * runc as the baseline (`--runtime runc-ref`) with the same scenarios (E2E_RUNTIMES). The daemon
 * is private to the test; every assertion is on what docker reports or the container shows, and
 * states runc's behaviour.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  runtimes, ok, waitFor, sleep, PtySession, removeDemoImage, memoryLimitFileOf, pidsLimitFileOf,
  SIGNAL_LOOP, COUNTER_LOOP, CGROUP_V2, alive,
} from './helpers';
import { Docker, IMAGE, dockerUnavailable } from './docker-harness';

jest.setTimeout(120000);

const RUNTIMES = runtimes();
const unavailable = dockerUnavailable();
if (unavailable) console.log(`docker e2e tests skipped: ${unavailable}`);
const d = unavailable ? describe.skip : describe;

let dk: Docker;
beforeAll(() => {
  if (unavailable) return;
  dk = new Docker(RUNTIMES);
  dk.start();
  dk.loadImage();
}, 120000);
afterAll(() => {
  if (unavailable || !dk) return;
  let problems: string[];
  try {
    problems = dk.cleanup();
  } finally {
    removeDemoImage();
  }
  if (problems.length) throw new Error(`clean-up found leftovers:\n${problems.join('\n')}`);
}, 180000);

let n = 0;
const made: string[] = [];
/** A container name, removed after the test even when it fails. */
const name = (rt: string, what: string) => {
  const c = `e2e-${rt}-${what}-${n++}`;
  made.push(c);
  return c;
};
afterEach(() => {
  if (!unavailable && made.length) dk.docker(['rm', '-f', ...made.splice(0)], { timeout: 120000 });
});

d.each(RUNTIMES.map((r) => [r.name]))('docker --runtime (%s)', (rt) => {
  const R = () => dk.wrappers[rt].dockerName;
  const D = (args: string[], opts?: { input?: string; timeout?: number }) => dk.docker(args, opts);
  const runRm = (opts: string[], args: string[]) => D(['run', '--rm', '--runtime', R(), ...opts, IMAGE, ...args]);
  /** The lines a --rm container printed; fails with the transcript unless it exited 0. */
  const lines = (opts: string[], script: string) => ok(runRm(opts, ['sh', '-c', script])).trim().split('\n');
  const runD = (c: string, script: string, extra: string[] = []) => ok(D(['run', '-d', '--name', c, '--runtime', R(), ...extra, IMAGE, 'sh', '-c', script])).trim();
  const inspect = (c: string, fmt: string) => ok(D(['inspect', '-f', fmt, c])).trim();
  const logs = (c: string) => ok(D(['logs', c]));
  const calls = (verb: string, id: string) => dk.wrappers[rt].calls().filter((l) => ` ${l} `.includes(` ${verb} `) && l.includes(id));

  test('run: output, exit codes 0 and 3, missing executable 127, not executable 126; the shim called the runtime', () => {
    const c = name(rt, 'run');
    const r = D(['run', '--name', c, '--runtime', R(), IMAGE, 'sh', '-c', 'echo out; echo err >&2']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err');
    expect(r.status).toBe(0);
    expect(inspect(c, '{{.State.Status}} {{.State.ExitCode}} {{.HostConfig.Runtime}}')).toBe(`exited 0 ${R()}`);
    const id = inspect(c, '{{.Id}}');
    expect(calls('create', id)[0]).toMatch(new RegExp(`^--root ${dk.runtimeRoot()} --log \\S+/log\\.json --log-format json create --bundle \\S+ --pid-file \\S+/init\\.pid ${id}$`));
    expect(calls('start', id)).toHaveLength(1);
    expect(calls('delete', id).length).toBeGreaterThanOrEqual(1);

    expect(runRm([], ['sh', '-c', 'exit 3']).status).toBe(3);
    const missing = runRm([], ['no-such-command']);
    expect(missing.status).toBe(127);
    expect(missing.stderr).toMatch(/OCI runtime create failed: .*exec: "no-such-command": executable file not found in \$PATH/);
    const notExec = runRm([], ['/etc/passwd']);
    expect(notExec.status).toBe(126);
    expect(notExec.stderr).toMatch(/OCI runtime create failed: .*exec: "\/etc\/passwd": permission denied/);
  });

  test('a network namespace of its own (no docker network on this daemon): its loopback is up, as runc sets it', () => {
    // runc brings "lo" up in a new network namespace it makes (no path); docker's libnetwork
    // does it only for the containers it gives a network sandbox (not here: --bridge=none).
    const out = lines([], 'readlink /proc/self/ns/net; ip -o link show lo | cut -d" " -f2,3; ip -o addr show lo | grep -o "inet [0-9./]*"; true');
    expect(out[0]).not.toBe(fs.readlinkSync('/proc/self/ns/net'));
    expect(out.slice(1)).toEqual(['lo: <LOOPBACK,UP,LOWER_UP>', 'inet 127.0.0.1/8']);
  });

  test('--read-only: the rootfs refuses writes, /dev/shm takes them; the mounts read-only or not as with runc', () => {
    const out = lines(['--read-only'], 'touch /x 2>&1; touch /tmp/x 2>&1; touch /dev/shm/x && echo shm-ok');
    expect(out).toEqual(['touch: /x: Read-only file system', 'touch: /tmp/x: Read-only file system', 'shm-ok']);
    // Per-mount rw/ro of the mounts docker asks for (from mountinfo). On a v1 or hybrid host
    // runc mounts a tmpfs at /sys/fs/cgroup that stays rw; the hierarchies in it are ro.
    const points = ['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/sys/fs/cgroup/memory', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf'];
    const mounts = lines(['--read-only'], 'cut -d" " -f5,6 /proc/self/mountinfo | cut -d, -f1');
    const seen = Object.fromEntries(mounts.map((l) => l.split(' ')).filter(([p]) => points.includes(p)));
    expect(seen).toEqual({
      '/': 'ro', '/proc': 'rw', '/dev': 'rw', '/dev/pts': 'rw', '/dev/shm': 'rw', '/dev/mqueue': 'rw', '/sys': 'ro',
      '/sys/fs/cgroup': CGROUP_V2 ? 'ro' : 'rw', ...(CGROUP_V2 ? {} : { '/sys/fs/cgroup/memory': 'ro' }),
      '/etc/hostname': 'ro', '/etc/hosts': 'ro', '/etc/resolv.conf': 'ro',
    });
  });

  test('-v hostdir:/data (rw and :ro), --user, --cap-drop/--cap-add, --pids-limit', () => {
    const host = fs.mkdtempSync(path.join(dk.dir, `vol-${rt}-`));
    fs.writeFileSync(path.join(host, 'in'), 'host-data\n');
    const vol = ['-v', `${host}:/data`, '-v', `${host}:/ro:ro`];
    expect(lines(vol, 'cat /data/in; echo from-container > /data/out; touch /ro/x 2>&1; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t" " "')).toEqual([
      'host-data', 'touch: /ro/x: Read-only file system', 'CapEff: 00000000a80425fb', 'CapBnd: 00000000a80425fb', 'NoNewPrivs: 0', 'Seccomp: 2',
    ]);
    expect(fs.readFileSync(path.join(host, 'out'), 'utf8')).toBe('from-container\n');
    expect(fs.statSync(path.join(host, 'out')).uid).toBe(0);

    expect(lines(['--user', '1000:1000', ...vol], 'id -u; id -g; touch /data/u 2>&1; grep -E "^Cap(Eff|Bnd):" /proc/self/status | tr -s "\\t" " "')).toEqual([
      '1000', '1000', 'touch: /data/u: Permission denied', 'CapEff: 0000000000000000', 'CapBnd: 00000000a80425fb',
    ]);
    expect(lines(['--cap-drop', 'all', '--cap-add', 'chown'], 'grep -E "^Cap(Prm|Eff|Bnd):" /proc/self/status | tr -s "\\t" " "; touch /tmp/f; chown 1 /tmp/f && echo chown-ok; mknod /tmp/n c 1 3 2>&1; true')).toEqual([
      'CapPrm: 0000000000000001', 'CapEff: 0000000000000001', 'CapBnd: 0000000000000001', 'chown-ok', 'mknod: /tmp/n: Operation not permitted',
    ]);
    expect(lines(['--cap-drop', 'chown', '--cap-add', 'sys_admin'], 'grep -E "^CapEff:" /proc/self/status | tr -s "\\t" " "; touch /tmp/f; chown 1 /tmp/f 2>&1; true')).toEqual([
      'CapEff: 00000000a82425fa', 'chown: /tmp/f: Operation not permitted',
    ]);

    const pidsMax = CGROUP_V2 ? '/sys/fs/cgroup/pids.max' : '/sys/fs/cgroup/pids/pids.max';
    // the shell gives up (status 2) at the first fork the limit refuses
    const forks = runRm(['--pids-limit', '10'], ['sh', '-c', `cat ${pidsMax}; for i in $(seq 20); do sleep 5 & done 2>&1; echo not-reached`]);
    expect(forks.stdout).toBe("10\nsh: can't fork: Resource temporarily unavailable\n");
    expect(forks.status).toBe(2);
  });

  test('run -d, exec (output, exit codes, user/env/workdir, 126 for missing or not executable), exec -d, top, stats, exec -it and run -it under a pty', async () => {
    const c = name(rt, 'exec');
    const id = runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    const pid = Number(inspect(c, '{{.State.Pid}}'));

    const e = D(['exec', c, 'sh', '-c', 'echo exec-out; cat /proc/1/cmdline | tr "\\0" " "']);
    expect(e.stdout).toMatch(/^exec-out\nsh -c trap /);
    expect(e.status).toBe(0);
    expect(D(['exec', c, 'sh', '-c', 'exit 42']).status).toBe(42);
    expect(ok(D(['exec', '-u', '1000:1000', '-e', 'E2E_VAR=v1', '-w', '/tmp', c, 'sh', '-c', 'echo "$(id -u):$(id -g):$E2E_VAR:$(pwd)"'])).trim()).toBe('1000:1000:v1:/tmp');
    const missing = D(['exec', c, 'no-such-command']);
    expect(missing.status).toBe(126);
    expect(missing.stdout + missing.stderr).toMatch(/OCI runtime exec failed: .*exec: "no-such-command": executable file not found in \$PATH/);
    const notExec = D(['exec', c, '/etc/passwd']);
    expect(notExec.status).toBe(126);
    expect(notExec.stdout + notExec.stderr).toMatch(/OCI runtime exec failed: .*exec: "\/etc\/passwd": permission denied/);
    expect(calls('exec', id)[0]).toMatch(/ exec --process \S+ --detach --pid-file \S+ /);

    ok(D(['exec', '-d', c, 'sleep', '31']));
    const top = await waitFor('exec -d process in docker top', () => {
      const t = ok(D(['top', c]));
      return t.includes('sleep 31') && t;
    });
    expect(top).toMatch(new RegExp(`\\n\\S+\\s+${pid}\\s+\\d+\\s.*sh -c trap `));
    expect(calls('ps', id).some((l) => l.endsWith(`ps --format json ${id}`))).toBe(true);
    // the exec'd process is in the container's cgroups; stats counts it (and sh, and maybe a sleep 0.1)
    const execPid = Number(top.split('\n').find((l) => l.includes('sleep 31'))!.trim().split(/\s+/)[1]);
    expect(fs.readFileSync(`/proc/${execPid}/cgroup`, 'utf8')).toBe(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
    expect(Number(ok(D(['stats', '--no-stream', '--format', '{{.PIDs}}', c])).trim())).toBeGreaterThanOrEqual(2);

    const s = new PtySession(dk.cmdline(['exec', '-it', c, 'sh']), dk.env);
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
    expect(calls('exec', id).pop()).toMatch(/ exec --process \S+ --console-socket \S+ --detach /);
    expect(inspect(c, '{{.State.Status}} {{.State.Pid}}')).toBe(`running ${pid}`);

    const t = new PtySession(dk.cmdline(['run', '--rm', '-it', '--runtime', R(), IMAGE, 'sh']), dk.env);
    try {
      await t.expect(/# /);
      t.send('tty; echo "in-$((6*7))"\r');
      await t.expect(/in-42/);
      expect(t.output).toMatch(/\/dev\/pts\/\d+/);
      t.send('exit 4\r');
      expect(await t.wait()).toBe(4);
    } finally {
      t.kill();
    }
  });

  test('pause and unpause: no progress while paused, then progress; kill of a paused container', async () => {
    const c = name(rt, 'pause');
    const id = runD(c, COUNTER_LOOP);
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    const count = () => fs.readFileSync(`/proc/${pid}/root/tmp/count`, 'utf8');
    await waitFor('ticks', () => Number(count()) >= 3);
    ok(D(['pause', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('paused');
    const frozen = count();
    // "No progress while paused" has no event to wait for: look again after a while.
    await sleep(700);
    expect(count()).toBe(frozen);
    ok(D(['unpause', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');
    await waitFor('more ticks', () => count() !== frozen);
    expect(calls('pause', id).length).toBe(1);
    expect(calls('resume', id).length).toBe(1);

    ok(D(['pause', c]));
    expect(inspect(c, '{{.State.Status}}')).toBe('paused');
    ok(D(['kill', c]));
    await waitFor('exited', () => inspect(c, '{{.State.Status}}') === 'exited');
    expect(inspect(c, '{{.State.ExitCode}} {{.State.Paused}}')).toBe('137 false');
    expect(alive(pid)).toBe(false);
  });

  test('kill -s, restart, stop (the TERM trap exits 3), stop of a container ignoring TERM (KILL after -t: 137)', async () => {
    const c = name(rt, 'stop');
    const id = runD(c, SIGNAL_LOOP);
    await waitFor('ready', () => logs(c).includes('ready'));
    const pid1 = Number(inspect(c, '{{.State.Pid}}'));
    ok(D(['kill', '-s', 'USR1', c]));
    await waitFor('got-usr1', () => logs(c).includes('got-usr1'));
    ok(D(['kill', '-s', 'HUP', c]));
    await waitFor('got-hup', () => logs(c).includes('got-hup'));
    expect(inspect(c, '{{.State.Status}}')).toBe('running');

    ok(D(['restart', '-t', '10', c]));
    expect(inspect(c, '{{.State.Status}} {{.RestartCount}}')).toMatch(/^running \d+$/);
    const pid2 = Number(inspect(c, '{{.State.Pid}}'));
    expect(pid2).not.toBe(pid1);
    expect(alive(pid1)).toBe(false);
    await waitFor('ready again', () => logs(c).split('ready').length === 3);
    expect(logs(c)).toContain('got-term');

    ok(D(['stop', '-t', '10', c]));
    expect(inspect(c, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 3');
    expect(alive(pid2)).toBe(false);
    // the runtime's kill signals for this container, in order (the shim also checks with 0)
    expect(calls('kill', id).map((l) => l.split(' ').pop()).filter((s) => s !== '0')).toEqual(['10', '1', '15', '15']);

    const k = name(rt, 'stopkill');
    const kid = runD(k, 'trap "" TERM; echo ready; while :; do sleep 0.1; done');
    await waitFor('ready', () => logs(k).includes('ready'));
    ok(D(['stop', '-t', '1', k]));
    expect(inspect(k, '{{.State.Status}} {{.State.ExitCode}}')).toBe('exited 137');
    expect(calls('kill', kid).map((l) => l.split(' ').pop()).filter((s) => s !== '0')).toEqual(['15', '9']);
  });

  test('update --memory and --pids-limit change the cgroup limits of a running container', async () => {
    const c = name(rt, 'update');
    const id = runD(c, SIGNAL_LOOP, ['--memory', '96m', '--pids-limit', '50']);
    await waitFor('ready', () => logs(c).includes('ready'));
    const pid = Number(inspect(c, '{{.State.Pid}}'));
    const mem = memoryLimitFileOf(pid);
    const pids = pidsLimitFileOf(pid);
    const read = (f: string) => fs.readFileSync(f, 'utf8').trim();
    expect([read(mem), read(pids)]).toEqual([String(96 << 20), '50']);
    ok(D(['update', '--memory', '64m', '--pids-limit', '20', c]));
    expect([read(mem), read(pids)]).toEqual([String(64 << 20), '20']);
    expect(inspect(c, '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}')).toBe(`${64 << 20} 20`);
    expect(calls('update', id).some((l) => /\bupdate --resources[= ]/.test(l))).toBe(true);
    expect(inspect(c, '{{.State.Status}} {{.State.Pid}}')).toBe(`running ${pid}`);
  });

  test('OOM: a process over --memory is killed; exit code 137, the shim reports the OOM, and docker inspect says OOMKilled', async () => {
    const c = name(rt, 'oom');
    const since = ok(D(['info', '-f', '{{.SystemTime}}'])).trim();
    // dd fills a 64 MiB buffer from /dev/zero: more than the 16 MiB limit (no swap on top)
    const r = D(['run', '--name', c, '--runtime', R(), '--memory', '16m', '--memory-swap', '16m', IMAGE, 'sh', '-c', 'echo start; exec dd if=/dev/zero of=/dev/null bs=64M count=1']);
    expect(r.stdout).toBe('start\n');
    expect(r.status).toBe(137);
    // The shim sees the OOM through the container's memory cgroup, the runtime's work: dockerd
    // logs it as an "oom" event, which can come after "die" (containerd#12372, with runc too).
    const events = await waitFor('the oom event', () => {
      const seen = ok(D(['events', '--since', since, '--until', ok(D(['info', '-f', '{{.SystemTime}}'])).trim(), '--filter', `container=${c}`, '--format', '{{.Action}}'])).trim().split('\n');
      return seen.includes('oom') && seen.includes('die') && seen;
    }, 20000, 200);
    // dockerd 20.10 sets OOMKilled only from an OOM it saw before the exit.
    const oomFirst = events.indexOf('oom') < events.indexOf('die');
    expect(inspect(c, '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}')).toBe(`exited 137 ${oomFirst}`);
  });
});
