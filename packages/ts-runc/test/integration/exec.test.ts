import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { TS_RUNC, makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../helpers/runtime';
import { waitFor, waitForSync } from '../helpers/wait';

jest.setTimeout(60000);

let rt: Runtime;
let b: Bundle;
const id = uniqueId('exec');

beforeAll(() => {
  rt = runtime();
  b = makeBundle(['sleep', '1000'], (c) => (c.hostname = 'exec-box'));
  const r = rt.run(['run', '-d', '-b', b.dir, id]);
  if (r.status !== 0) throw new Error(r.stderr);
});
afterAll(() => {
  rt.cleanup();
  removeBundle(b);
});

test('runs in every namespace of the container, invisible runtime', () => {
  const r = rt.run(['exec', id, 'sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; ls /proc | grep -c "^[0-9]"']);
  expect(r.stderr).toBe('');
  const [host, cmd, count] = r.stdout.trim().split('\n');
  expect(host).toBe('exec-box');
  expect(cmd.trim()).toBe('sleep 1000');
  expect(Number(count)).toBeLessThanOrEqual(4); // init, sh, ls, grep: no stage 2
});

test('exit code, env, cwd and user overrides', () => {
  expect(rt.run(['exec', id, 'sh', '-c', 'exit 9']).status).toBe(9);
  const r = rt.run(['exec', '-u', '1000:100', '--cwd', '/tmp', '-e', 'A=b=c', id, 'sh', '-c', 'echo "$(id -u):$(id -g) $(pwd) $A $PATH"']);
  expect(r.stdout.trim()).toBe('1000:100 /tmp b=c /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
});

test('exec -p process.json', () => {
  const file = path.join(b.dir, 'process.json');
  fs.writeFileSync(file, JSON.stringify({ args: ['sh', '-c', 'echo from-json $X; id -u'], env: ['X=1', 'PATH=/bin'], cwd: '/', user: { uid: 1000, gid: 1000 } }));
  const r = rt.run(['exec', '-p', file, id]);
  expect(r.stdout.trim().split('\n')).toEqual(['from-json 1', '1000']);
  fs.writeFileSync(file, JSON.stringify({ args: [], cwd: '/' }));
  expect(rt.run(['exec', '-p', file, id]).stderr).toContain('args');
});

test('detach with a pid file', async () => {
  const pidFile = path.join(b.dir, 'exec.pid');
  const r = rt.run(['exec', '-d', '--pid-file', pidFile, id, 'sleep', '30']);
  expect(r.status).toBe(0);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x0030\x00');
  // the same pid namespace as the init
  expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).toBe(fs.readlinkSync(`/proc/${JSON.parse(rt.run(['state', id]).stdout).pid}/ns/pid`));
  process.kill(pid, 'SIGKILL');
});

test('a pid file that cannot be written fails the exec, and its command does not go on running', async () => {
  // As runc: the command has started when the pid file is written; exec then kills it.
  const tag = String(40000 + Math.floor(Math.random() * 20000));
  const live = () =>
    fs.readdirSync('/proc').filter((p) => {
      try {
        return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${tag}\0` && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      } catch {
        return false; // gone meanwhile
      }
    });
  for (const detach of [['-d'], []]) {
    const r = rt.run(['exec', ...detach, '--pid-file', path.join(b.dir, 'no-such-dir', 'exec.pid'), id, 'sleep', tag]);
    expect(r.status).toBe(255);
    expect(r.stderr).toContain('write pid file');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    await waitFor(`no "sleep ${tag}" left after exec ${detach.join(' ')}`, () => live().length === 0, { timeoutMs: 10_000, lastSeen: live });
  }
});

test('missing executable says "executable file not found"', () => {
  const r = rt.run(['exec', id, 'no-such-binary']);
  expect(r.status).not.toBe(0);
  // runc's words: `exec failed: unable to start container process: exec: "x": ...`
  expect(r.stderr).toContain('exec failed: unable to start container process: exec: \\"no-such-binary\\": executable file not found in $PATH');
});

test('no runtime fd reaches the process', () => {
  expect(rt.run(['exec', id, 'ls', '/proc/self/fd']).stdout.trim().split('\n').sort()).toEqual(['0', '1', '2', '3']);
});

test('tty exec through a console socket', async () => {
  const sock = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'console-')), 'sock');
  const srv = spawn('python3', [path.join(__dirname, '../../../test/helpers/console-socket.py'), sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  srv.stdout.on('data', (d) => (out += d));
  const done = new Promise((r) => srv.on('exit', r));
  await waitFor('the console socket server to listen', () => out.includes('ready') || srv.exitCode !== null, { lastSeen: () => ({ out, exit: srv.exitCode }) });
  expect(out).toContain('ready');
  const r = rt.run(['exec', '-t', '--console-socket', sock, id, 'sh', '-c', 'tty; echo on-the-pty']);
  expect(r.status).toBe(0);
  await done;
  expect(out).toMatch(/\/dev\/pts\/\d+/);
  expect(out).toContain('on-the-pty');
  fs.rmSync(path.dirname(sock), { recursive: true, force: true });
});

test('tty exec in the foreground passes on all of a burst written just before the exit', () => {
  // The pty proxy of run and exec (terminal-proxy.ts) lost the tail of such a burst in most runs.
  const line = '0123456789'.repeat(7);
  for (let n = 0; n < 5; n++) {
    const r = rt.run(['exec', '-t', id, 'sh', '-c', `i=0; while [ $i -lt 2000 ]; do echo ${line}; i=$((i+1)); done; echo END`]);
    const lines = r.stdout.split('\r\n');
    expect({ n, status: r.status, lines: lines.filter((l) => l === line).length, end: lines.includes('END') }).toEqual({ n, status: 0, lines: 2000, end: true });
  }
});

test('container root cannot open the runtime binary through /proc during exec', async () => {
  // A watcher inside the container opens every /proc/PID/exe it can see, looking for something
  // the size of a Node binary, while execs run next to it. It watches from before the first exec
  // until told to stop after the last one, however long they take on this machine.
  const rootfs = path.join(b.dir, 'rootfs');
  const tmp = (f: string) => path.join(rootfs, 'tmp', f);
  const watcher = rt.run(['exec', '-d', id, 'sh', '-c',
    'touch /tmp/watch-started; while [ ! -e /tmp/watch-stop ]; do for e in /proc/[0-9]*/exe; do s=$(wc -c < $e 2>/dev/null); [ "${s:-0}" -gt 20000000 ] && echo "LEAK $e $s" >> /tmp/leak; done; done; echo done > /tmp/watch-done']);
  expect(watcher.status).toBe(0);
  try {
    await waitFor('the watcher to start', () => fs.existsSync(tmp('watch-started')));
    for (let i = 0; i < 15; i++) expect(rt.run(['exec', id, 'true']).status).toBe(0);
  } finally {
    fs.writeFileSync(tmp('watch-stop'), '');
  }
  await waitFor('the watcher to finish its last round', () => fs.existsSync(tmp('watch-done')));
  expect(fs.existsSync(tmp('leak')) ? fs.readFileSync(tmp('leak'), 'utf8') : '').toBe('');
  for (const f of ['watch-started', 'watch-stop', 'watch-done', 'leak']) fs.rmSync(tmp(f), { force: true });
});

/** What an exec that failed shows: runc's exit status 255, which no command's own can be taken for, and its text. */
function expectExecFailed(r: { status: number | null; stderr: string }, text: string): void {
  expect([r.status, r.stderr]).toEqual([255, expect.stringContaining(`exec failed: ${text}`)]);
}

test('errors: missing, stopped and paused containers (exit status 255, as runc)', () => {
  expectExecFailed(rt.run(['exec', 'nope', 'true']), 'container does not exist');
  // The command's own status is its own, 1 included; argument errors exit 1, as runc's.
  expect(rt.run(['exec', id, 'sh', '-c', 'exit 1']).status).toBe(1);
  expectExecFailed(rt.run(['exec', id]), 'process args cannot be empty');
  const usage = rt.run(['exec']);
  expect([usage.status, usage.stderr]).toEqual([1, expect.not.stringContaining('exec failed')]);
  const b2 = makeBundle(['true']);
  const id2 = uniqueId('stopped');
  rt.run(['run', '-d', '-b', b2.dir, id2]);
  waitForSync(`container ${id2} (true) to be stopped`, () => JSON.parse(rt.run(['state', id2]).stdout).status === 'stopped');
  expectExecFailed(rt.run(['exec', id2, 'true']), 'cannot exec in a stopped container');
  rt.run(['delete', '-f', id2]);
  removeBundle(b2);
  expect(rt.run(['pause', id]).status).toBe(0);
  expectExecFailed(rt.run(['exec', id, 'true']), 'cannot exec in a paused container (use --ignore-paused to override)');
  expect(rt.run(['resume', id]).status).toBe(0);
});

test("exec'd processes get the container's seccomp filter", () => {
  const sb = makeBundle(['sleep', '1000'], (c) => {
    c.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    };
  });
  const sid = uniqueId('secc');
  try {
    expect(rt.run(['run', '-d', '-b', sb.dir, sid]).status).toBe(0);
    const r = rt.run(['exec', sid, 'sh', '-c', 'mkdir /tmp/denied 2>&1; grep Seccomp: /proc/self/status']);
    expect(r.stdout).toMatch(/Operation not permitted/);
    expect(r.stdout).toMatch(/Seccomp:\s+2/);
  } finally {
    rt.run(['delete', '-f', sid]);
    removeBundle(sb);
  }
});

test('foreground exec -t without a console socket proxies a pty (under script)', () => {
  const cmd = `${TS_RUNC} --root ${rt.root} exec -t ${id} sh -c 'tty; read x; echo "got $x"; exit 4'; echo "rc=$?"`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: 'hello\n', encoding: 'utf8', timeout: 30000 });
  expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
  expect(r.stdout).toContain('got hello');
  expect(r.stdout).toContain('rc=4');
});

test('delete -f does not wait for a detached exec process whose zombie its adopter has not reaped yet', () => {
  // We become the subreaper that adopts the detached process (as a slow host init would): while
  // its zombie waits for us, the container's init stays in exit() and cannot finish.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { libc, PR_SET_CHILD_SUBREAPER } = require('@tsrt/libc') as typeof import('@tsrt/libc');
  const sys = libc();
  const zid = uniqueId('zomb');
  const zb = makeBundle(['sleep', '1000']);
  sys.prctl(PR_SET_CHILD_SUBREAPER, 1);
  let pid = 0;
  try {
    expect(rt.run(['run', '-d', '-b', zb.dir, zid]).status).toBe(0);
    const pidFile = path.join(zb.dir, 'z.pid');
    expect(rt.run(['exec', '-d', '--pid-file', pidFile, zid, 'sleep', '1000']).status).toBe(0);
    pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]).toBe(String(process.pid)); // adopted by us
    const t0 = Date.now();
    const r = rt.run(['delete', '-f', zid]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000); // it used to give up after 10 s, leaving everything
    expect(rt.ids()).not.toContain(zid);
    expect(spawnSync('find', ['/sys/fs/cgroup', '-mindepth', '2', '-maxdepth', '5', '-type', 'd', '-name', zid], { encoding: 'utf8' }).stdout).toBe('');
  } finally {
    sys.prctl(PR_SET_CHILD_SUBREAPER, 0);
    if (pid > 0) {
      try {
        sys.waitpid(pid, 0); // reap the zombie we adopted
      } catch {
        /* not ours after all */
      }
    }
    rt.run(['delete', '-f', zid]);
    removeBundle(zb);
  }
});

/** A container of its own for one test, deleted (with its bundle) whatever happens. */
function withContainer(prefix: string, edit: (c: any) => void, fn: (cid: string, initPid: number) => void): void {
  const cb = makeBundle(['sleep', '1000'], edit);
  const cid = uniqueId(prefix);
  try {
    const r = rt.run(['run', '-d', '-b', cb.dir, cid]);
    expect(r.stderr).toBe('');
    fn(cid, JSON.parse(rt.run(['state', cid]).stdout).pid);
  } finally {
    rt.run(['delete', '-f', cid]);
    removeBundle(cb);
  }
}

const statusField = (pid: number, field: string) => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].trim();

test('a pids limit of 8 with one task running leaves room for exec, as runc: only the command joins the cgroups', () => {
  withContainer('pids', (c) => (c.linux.resources = { ...c.linux.resources, pids: { limit: 8 } }), (cid, initPid) => {
    const r = rt.run(['exec', cid, 'echo', 'in-the-box']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('in-the-box\n');
    expect(r.status).toBe(0);
    // The command is in every cgroup of the container (moved there before its execve).
    const pidFile = path.join(os.tmpdir(), `${cid}.pid`);
    expect(rt.run(['exec', '-d', '--pid-file', pidFile, cid, 'sleep', '30']).status).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    fs.rmSync(pidFile, { force: true });
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toBe(fs.readFileSync(`/proc/${initPid}/cgroup`, 'utf8'));
    // Nothing but the init and that command was ever charged: no helper remains either.
    expect(rt.run(['ps', '-f', 'json', cid]).stdout.trim()).toBe(JSON.stringify([initPid, pid].sort((a, b) => a - b)));
  });
});

test("exec'd processes: the container's oomScoreAdj, and no signal ignored (glibc's 32 and 33 neither), like the init", () => {
  withContainer('oom', (c) => (c.process.oomScoreAdj = 123), (cid, initPid) => {
    const r = rt.run(['exec', cid, 'sh', '-c', 'grep SigIgn /proc/self/status; cat /proc/self/oom_score_adj']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('SigIgn:\t0000000000000000\n123\n');
    // A command's children inherit what it starts with: a detached one, seen from the host.
    const pidFile = path.join(os.tmpdir(), `${cid}.pid`);
    expect(rt.run(['exec', '-d', '--pid-file', pidFile, cid, 'sleep', '30']).status).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    fs.rmSync(pidFile, { force: true });
    expect(statusField(pid, 'SigIgn')).toBe('0000000000000000');
    expect(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim()).toBe('123');
    // The init (stage 2 path) too.
    expect(statusField(initPid, 'SigIgn')).toBe('0000000000000000');
    expect(fs.readFileSync(`/proc/${initPid}/oom_score_adj`, 'utf8').trim()).toBe('123');
  });
});

test('supplementary groups: repeats are dropped, --additional-gids adds to the config\'s (runc 1.1.5)', () => {
  withContainer('grp', (c) => (c.process.user = { uid: 0, gid: 0, additionalGids: [10, 10, 0, 20, 10] }), (cid, initPid) => {
    expect(statusField(initPid, 'Groups')).toBe('0 10 20');
    const groups = (...args: string[]) => rt.run(['exec', ...args, cid, 'grep', 'Groups', '/proc/self/status']).stdout.trim();
    expect(groups()).toBe('Groups:\t0 10 20');
    expect(groups('-g', '10', '-g', '10', '-g', '0')).toBe('Groups:\t0 10 20');
    expect(groups('-u', '1000:100', '-g', '100', '-g', '5', '-g', '5')).toBe('Groups:\t0 5 10 20 100');
  });
});

test('execCPUAffinity final holds for exec too (the cpuset join resets what the helper set)', () => {
  const cpus = fs.readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const last = cpus.split(/[-,]/).pop()!;
  withContainer('aff', (c) => (c.process.execCPUAffinity = { initial: '0', final: last }), (cid) => {
    expect(rt.run(['exec', cid, 'grep', 'Cpus_allowed_list', '/proc/self/status']).stdout).toMatch(new RegExp(`^Cpus_allowed_list:\\s+${last}\\n$`));
  });
});
