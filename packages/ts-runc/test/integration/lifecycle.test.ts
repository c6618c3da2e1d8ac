import * as fs from 'fs';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { TS_RUNC, containerSuite, uniqueId } from '../helpers/runtime';
import { waitFor, waitForSync } from '../helpers/wait';

jest.setTimeout(60000);

const suite = containerSuite('t');
const { bundle, runIn } = suite;

describe('inside the container', () => {
  test('the process is pid 1 of its own pid namespace', () => {
    const r = runIn(['sh', '-c', 'echo $$; ls /proc | grep -c "^[0-9]"']);
    expect(r.stderr).toBe('');
    const [pid, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(Number(count)).toBeLessThanOrEqual(3);
    expect(r.status).toBe(0);
  });

  test('hostname and domainname come from the config', () => {
    const r = runIn(['sh', '-c', 'hostname; cat /proc/sys/kernel/domainname'], (c) => {
      c.hostname = 'box-under-test';
      c.domainname = 'example.test';
    });
    expect(r.stdout.trim().split('\n')).toEqual(['box-under-test', 'example.test']);
  });

  test('own mount table with /proc, /dev/pts, /sys and no host mounts', () => {
    const r = runIn(['cat', '/proc/self/mountinfo']);
    const targets = r.stdout.trim().split('\n').map((l) => l.split(' ')[4]);
    expect(targets).toEqual(expect.arrayContaining(['/', '/proc', '/dev', '/dev/pts', '/dev/shm', '/sys']));
    expect(targets).not.toContain('/work');
  });

  test('readonly root refuses writes; a writable root accepts them', () => {
    const ro = runIn(['sh', '-c', 'touch /probe && echo wrote || echo refused'], (c) => (c.root.readonly = true));
    expect(ro.stdout.trim()).toBe('refused');
    const rw = runIn(['sh', '-c', 'touch /probe && echo wrote || echo refused']);
    expect(rw.stdout.trim()).toBe('wrote');
  });

  test('env, cwd, uid, gid, additional gids and umask are as configured', () => {
    const r = runIn(['sh', '-c', 'echo "$FOO|$(pwd)|$(id -u)|$(id -g)|$(id -G)|$(umask)|$HOME"'], (c) => {
      c.process.env.push('FOO=bar=baz');
      c.process.cwd = '/home/user';
      c.process.user = { uid: 1000, gid: 1000, additionalGids: [100], umask: 0o027 };
    });
    expect(r.stdout.trim()).toBe('bar=baz|/home/user|1000|1000|1000 100|0027|/home/user');
  });

  test('a cwd that does not exist is created', () => {
    const r = runIn(['pwd'], (c) => (c.process.cwd = '/does/not/exist'));
    expect(r.stdout.trim()).toBe('/does/not/exist');
  });

  test('default devices and /dev symlinks exist', () => {
    const r = runIn(['sh', '-c', 'for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo $d; done; readlink /dev/fd; readlink /dev/ptmx']);
    expect(r.stdout.trim().split('\n')).toEqual(['null', 'zero', 'full', 'random', 'urandom', 'tty', '/proc/self/fd', 'pts/ptmx']);
  });

  test('masked and readonly paths', () => {
    const r = runIn(['sh', '-c', 'cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo writable || echo ro']);
    expect(r.stdout.trim().split('\n')).toEqual(['0', 'ro']);
  });

  test('capabilities as configured', () => {
    const r = runIn(['grep', 'CapEff', '/proc/self/status']);
    // CAP_AUDIT_WRITE(29), CAP_KILL(5), CAP_NET_BIND_SERVICE(10) from the spec defaults
    expect(r.stdout.trim()).toBe('CapEff:\t0000000020000420');
  });

  test('rlimits and no_new_privs', () => {
    const r = runIn(['sh', '-c', 'ulimit -n; grep NoNewPrivs /proc/self/status']);
    expect(r.stdout.trim().split('\n')).toEqual(['1024', 'NoNewPrivs:\t1']);
  });

  test('no runtime fd reaches the container', () => {
    const r = runIn(['ls', '/proc/self/fd']);
    expect(r.stdout.trim().split('\n').sort()).toEqual(['0', '1', '2', '3']); // 3: ls's own directory fd
  });
});

test('a new session keyring per container, unless --no-new-keyring', () => {
  const b = bundle(['sh', '-c', 'grep -o "_ses[^:]*" /proc/keys || echo none'], (c) => (c.linux.maskedPaths = []));
  const id = uniqueId('key');
  expect(suite.rt.run(["run", "-b", b.dir, id]).stdout.split("\n")).toContain(`_ses.${id}`);
  expect(suite.rt.run(['run', '--no-new-keyring', '-b', b.dir, uniqueId('nokey')]).stdout.trim()).not.toContain('_ses.nokey');
});

describe('exit codes', () => {
  test('exit status is propagated', () => {
    expect(runIn(['sh', '-c', 'exit 42']).status).toBe(42);
  });
  test('a signal from outside becomes 128+signal', async () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('sig');
    const child = spawn(TS_RUNC, ['--root', suite.rt.root, 'run', '-b', b.dir, id], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Wait for "running": a kill while `run` is still between create and start makes start fail.
    for (let i = 0; i < 200 && JSON.parse(suite.rt.run(['state', id]).stdout || '{}').status !== 'running'; i++) await new Promise((r) => setTimeout(r, 25));
    expect(suite.rt.run(['kill', id, 'KILL']).status).toBe(0);
    expect(await exited).toBe(137);
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('SIGTERM to a foreground run is forwarded to the container', async () => {
    const b = bundle(['sh', '-c', 'trap "exit 7" TERM; touch /tmp/trap-set; while :; do sleep 0.05; done']);
    const id = uniqueId('fwd');
    const child = spawn(TS_RUNC, ['--root', suite.rt.root, 'run', '-b', b.dir, id], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Both ends must be ready: the container's shell has its trap, and `run` catches SIGTERM to
    // forward it (a bit in its SigCgt mask; until then SIGTERM would simply end it).
    const catchesTerm = () => (BigInt('0x' + /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) >> 14n) & 1n;
    await waitFor('the container\'s TERM trap and run\'s signal forwarding', () => fs.existsSync(path.join(b.dir, 'rootfs/tmp/trap-set')) && catchesTerm() === 1n, {
      lastSeen: () => ({ trap: fs.existsSync(path.join(b.dir, 'rootfs/tmp/trap-set')), runExited: child.exitCode }),
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(7);
  });
  test('a missing executable fails create with Go\'s text', () => {
    const r = runIn(['/no/such/binary']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('no such file or directory');
    const p = runIn(['nosuchcommand']);
    expect(p.stderr).toContain('ts-runc run failed: unable to start container process: exec: \\"nosuchcommand\\": executable file not found in $PATH');
  });
});

describe('lifecycle', () => {
  test('create, state, start, kill, delete round trip', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('rt');
    const pidFile = path.join(b.dir, 'pid');
    let r = suite.rt.run(['create', '-b', b.dir, '--pid-file', pidFile, id]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const created = JSON.parse(suite.rt.run(['state', id]).stdout);
    expect(created).toMatchObject({ id, status: 'created', bundle: b.dir, rootfs: path.join(b.dir, 'rootfs') });
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(created.pid));
    expect(created.ociVersion).toBeDefined();
    expect(new Date(created.created).getTime()).toBeGreaterThan(0);

    expect(suite.rt.run(['start', id]).status).toBe(0);
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('running');
    r = suite.rt.run(['start', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot start an already running container');
    r = suite.rt.run(['delete', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot delete container ${id} that is not stopped: running`);

    expect(suite.rt.run(['kill', id, 'KILL']).status).toBe(0);
    for (let i = 0; i < 100 && JSON.parse(suite.rt.run(['state', id]).stdout).status !== 'stopped'; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    const stopped = JSON.parse(suite.rt.run(['state', id]).stdout);
    expect(stopped.status).toBe('stopped');
    expect(stopped.pid).toBe(0);
    r = suite.rt.run(['kill', id]);
    expect(r.stderr).toContain('container not running');
    // Signal 0 asks whether it is there: not any more.
    r = suite.rt.run(['kill', id, '0']);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('container not running')]);
    expect(suite.rt.run(['delete', id]).status).toBe(0);
    r = suite.rt.run(['state', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('container does not exist');
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('run -d detaches; list shows it; delete -f removes it', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('det');
    expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
    const list = JSON.parse(suite.rt.run(['list', '-f', 'json']).stdout);
    expect(list.find((c: any) => c.id === id)).toMatchObject({ status: 'running' });
    expect(suite.rt.run(['list', '-q']).stdout.split('\n')).toContain(id);
    expect(suite.rt.run(['list']).stdout).toMatch(/^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\n/);
    expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('delete of a created container kills its init', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('cr');
    suite.rt.run(['create', '-b', b.dir, id]);
    const pid = JSON.parse(suite.rt.run(['state', id]).stdout).pid;
    expect(suite.rt.run(['delete', id]).status).toBe(0);
    expect(fs.existsSync(`/proc/${pid}/stat`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')).toBe(false);
  });

  test('kill accepts names with and without SIG and numbers', () => {
    const b = bundle(['sh', '-c', 'trap "echo got-usr1 > /tmp/sig" USR1; trap "exit 3" TERM; touch /tmp/ready; while :; do sleep 0.05; done']);
    const id = uniqueId('sig');
    suite.rt.run(['run', '-d', '-b', b.dir, id]);
    // Signals before the shell has its traps would kill it: wait until it says it has them.
    waitForSync('the container to install its traps', () => fs.existsSync(path.join(b.dir, 'rootfs/tmp/ready')));
    expect(suite.rt.run(['kill', id, 'SIGUSR1']).status).toBe(0);
    expect(suite.rt.run(['kill', id, 'usr1']).status).toBe(0);
    expect(suite.rt.run(['kill', id, '10']).status).toBe(0);
    // 0 only asks whether the init is there, as kill(2) and runc's kill do.
    expect(suite.rt.run(['kill', id, '0']).status).toBe(0);
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('running');
    const bad = suite.rt.run(['kill', id, 'NOTASIGNAL']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown signal');
    // The trap runs once the loop's current sleep ends: wait for what it writes.
    const sig = path.join(b.dir, 'rootfs/tmp/sig');
    waitForSync('the USR1 trap to write /tmp/sig', () => fs.existsSync(sig) && fs.readFileSync(sig, 'utf8').trim() === 'got-usr1', { lastSeen: () => (fs.existsSync(sig) ? fs.readFileSync(sig, 'utf8') : null) });
    suite.rt.run(['delete', '-f', id]);
  });

  test('kill of a paused container: SIGKILL thaws it and it stops, SIGTERM leaves it paused (runc 1.1.5)', () => {
    const b = bundle(['sleep', '1000']);
    const status = (id: string) => JSON.parse(suite.rt.run(['state', id]).stdout).status;
    const killed = uniqueId('pk');
    const termed = uniqueId('pt');
    try {
      for (const id of [killed, termed]) {
        expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
        expect(suite.rt.run(['pause', id]).status).toBe(0);
      }
      expect(suite.rt.run(['kill', killed, 'KILL']).status).toBe(0);
      // podman waits 5 s for the stop; a still-frozen init never gets there.
      for (let i = 0; i < 100 && status(killed) !== 'stopped'; i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      expect(status(killed)).toBe('stopped');
      expect(suite.rt.run(['kill', termed, 'TERM']).status).toBe(0);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      expect(status(termed)).toBe('paused');
    } finally {
      suite.rt.run(['delete', '-f', killed]);
      suite.rt.run(['delete', '-f', termed]);
    }
  });
});

describe('errors leave nothing behind', () => {
  test('missing bundle', () => {
    const id = uniqueId('nb');
    const r = suite.rt.run(['create', '-b', '/nonexistent/bundle', id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('/nonexistent/bundle');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('invalid config field is named', () => {
    const b = bundle(['true'], (c) => (c.process.args = 'true'));
    const id = uniqueId('bad');
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('process.args');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('a failing mount is reported and cleaned up', () => {
    const b = bundle(['true'], (c) => c.mounts.push({ destination: '/mnt', type: 'bind', source: '/nonexistent-src', options: ['bind'] }));
    const id = uniqueId('mnt');
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('/mnt');
    // runc's wording, with the errno's text (engines match it), after runc's prefix.
    expect(r.stderr).toContain('ts-runc create failed: unable to start container process: ');
    expect(r.stderr).toContain('no such file or directory');
    expect(r.stderr).not.toContain('ENOENT');
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('found by fuzzing: a mount under /proc, a NUL byte, a 10,000-deep ociVersion fail at once, naming the field', () => {
    const cases: Array<[(c: any) => void, string]> = [
      // mkdir under /proc says ENOENT; Node's recursive mkdirSync looped on it forever.
      [(c) => c.mounts.push({ destination: '/proc/nope/deeper', type: 'tmpfs', source: 'tmpfs' }), 'mount tmpfs to /proc/nope/deeper: no such file or directory'],
      [(c) => (c.linux.devices = [{ path: '/proc/nope/mydev', type: 'c', major: 1, minor: 3, fileMode: 0o666 }]), 'create device /proc/nope/mydev: no such file or directory'],
      [(c) => (c.hostname = 'a\0b'), 'hostname: must not contain a NUL byte'],
      // String() of it overflowed the stack while create held its lock: run deadlocked on it.
      [(c) => (c.ociVersion = '@DEEP@'), 'ociVersion: must be string'],
    ];
    for (const [edit, text] of cases) {
      const b = bundle(['true'], edit);
      const file = path.join(b.dir, 'config.json');
      // Written as text: JSON.stringify itself overflows on 10,000 levels.
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"@DEEP@"', '['.repeat(10000) + ']'.repeat(10000)));
      const id = uniqueId('fz');
      const r = suite.rt.run(['run', '-b', b.dir, id], { timeout: 20000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(text);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(suite.rt.ids()).not.toContain(id);
    }
  });

  test('duplicate id', () => {
    const b = bundle(['sleep', '100']);
    const id = uniqueId('dup');
    expect(suite.rt.run(['create', '-b', b.dir, id]).status).toBe(0);
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('container with given ID already exists');
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('created');
    suite.rt.run(['delete', '-f', id]);
  });

  test('run with the id of an existing container fails and leaves that container as it was', () => {
    // The failed run must not clean up what an earlier create or run made: that is not its own.
    const sleeper = bundle(['sleep', '100']);
    const other = bundle(['true']);
    const alive = (pid: number) => fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    for (const [first, status] of [[['create'], 'created'], [['run', '-d'], 'running']] as const) {
      const id = uniqueId('duprun');
      expect(suite.rt.run([...first, '-b', sleeper.dir, id]).status).toBe(0);
      const before = JSON.parse(suite.rt.run(['state', id]).stdout);
      for (const again of [['run', '-d'], ['run']]) {
        const r = suite.rt.run([...again, '-b', other.dir, id]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain('container with given ID already exists');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        const st = suite.rt.run(['state', id]);
        expect(st.stderr).toBe('');
        const after = JSON.parse(st.stdout);
        expect({ status: after.status, pid: after.pid, bundle: after.bundle }).toEqual({ status, pid: before.pid, bundle: before.bundle });
        expect(alive(before.pid)).toBe(true);
      }
      expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    }
  });

  test('operations on a missing container', () => {
    for (const cmd of [['state'], ['start'], ['kill'], ['delete']]) {
      const r = suite.rt.run([...cmd, 'nope']);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('container does not exist');
    }
    expect(suite.rt.run(['delete', '-f', 'nope']).status).toBe(0);
  });

  test('checkpoint and restore (no CRIU support) take runc\'s flags and say so in one line', () => {
    expect(suite.rt.run(['checkpoint', '--image-path', '/tmp/x', 'nope']).stderr).toContain('container does not exist');
    const b = bundle(['sleep', '100']);
    const id = uniqueId('ck');
    expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
    const c = suite.rt.run(['checkpoint', '--image-path', '/tmp/x', '--leave-running', '--manage-cgroups-mode', 'soft', id]);
    expect(c.status).toBe(1);
    expect(c.stderr.trim()).toMatch(/msg="checkpoint is not supported by ts-runc: it has no CRIU support"$/);
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('running');
    const rid = uniqueId('rs');
    const r = suite.rt.run(['restore', '-d', '-b', b.dir, '--image-path', '/tmp/x', rid]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/msg="restore is not supported by ts-runc: it has no CRIU support"$/);
    expect(suite.rt.ids()).not.toContain(rid);
    suite.rt.run(['delete', '-f', id]);
  });

  test('--log with json format writes runc-style lines', () => {
    const log = path.join(suite.rt.root, '..', `log-${process.pid}.json`);
    const r = suite.rt.run(['--log', log, '--log-format', 'json', 'state', 'nope']);
    expect(r.stderr.trim()).toBe('container does not exist');
    const line = JSON.parse(fs.readFileSync(log, 'utf8').trim().split('\n').pop() as string);
    expect(line).toEqual({ level: 'error', msg: 'container does not exist', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    fs.rmSync(log, { force: true });
  });

  test('invalid container id', () => {
    const b = bundle(['true']);
    const r = suite.rt.run(['create', '-b', b.dir, 'a/b']);
    expect(r.stderr).toContain('invalid container ID format');
  });

  test('spec over an existing config.json fails with runc\'s words and leaves the file', () => {
    const b = bundle(['true']);
    const before = fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8');
    const r = suite.rt.run(['spec', '-b', b.dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/msg="File config.json exists. Remove it first"\n$/);
    expect(fs.readFileSync(path.join(b.dir, 'config.json'), 'utf8')).toBe(before);
  });

  test('kill takes an empty signal for TERM and refuses " 9", as runc', () => {
    const b = bundle(['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done']);
    const id = uniqueId('sig');
    expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
    const bad = suite.rt.run(['kill', id, ' 9']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('unknown signal \\" 9\\"');
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('running');
    expect(suite.rt.run(['kill', id, '']).status).toBe(0);
    // A TERM before sh has set its trap is ignored (it is pid 1): sent again until it ends it.
    waitForSync('the container to stop on TERM', () => JSON.parse(suite.rt.run(['state', id]).stdout).status === 'stopped' || (suite.rt.run(['kill', id, '']), false));
    suite.rt.run(['delete', id]);
  });
});

describe('terminal', () => {
  test('foreground run with process.terminal proxies a pty (under script)', () => {
    const b = bundle(['sh', '-c', 'tty; stty size; read x; echo "got $x"; exit 3'], (c) => (c.process.terminal = true));
    const id = uniqueId('tty');
    const cmd = `stty cols 91 rows 17; ${TS_RUNC} --root ${suite.rt.root} run -b ${b.dir} ${id}; echo "rc=$?"`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { input: 'hello\n', encoding: 'utf8', timeout: 30000 });
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain('17 91');
    expect(r.stdout).toContain('got hello');
    expect(r.stdout).toContain('rc=3');
    expect(suite.rt.ids()).not.toContain(id);
  });

  test('foreground run with process.terminal passes on all of a burst written just before the exit', () => {
    // libuv ended the pty master's stream on POLLHUP after a short read, while the kernel still
    // held the slave's last writes: 7 runs in 10 lost the tail of this burst (terminal-proxy.ts).
    const line = '0123456789'.repeat(7);
    const b = bundle(['sh', '-c', `i=0; while [ $i -lt 2000 ]; do echo ${line}; i=$((i+1)); done; echo END`], (c) => (c.process.terminal = true));
    for (let n = 0; n < 5; n++) {
      const id = uniqueId('burst');
      const r = spawnSync(TS_RUNC, ['--root', suite.rt.root, 'run', '-b', b.dir, id], { input: '', encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30000 });
      const lines = r.stdout.split('\r\n');
      expect({ n, status: r.status, lines: lines.filter((l) => l === line).length, end: lines.includes('END') }).toEqual({ n, status: 0, lines: 2000, end: true });
    }
  });

  test('create with a terminal needs a console socket', () => {
    const b = bundle(['true'], (c) => (c.process.terminal = true));
    const r = suite.rt.run(['create', '-b', b.dir, uniqueId()]);
    expect(r.stderr).toContain('cannot allocate tty if runc will detach without setting console socket');
  });
});
