// runtime.md: state, lifecycle, operations and errors, driven through create/start/state/kill/delete.
import * as fs from 'fs';
import * as path from 'path';
import { Container, describe, pidAlive, rt, runIn } from '../container';
import { cgroupMounts, env, randomId, sh, sleepMs } from '../env';
import { eq, fail, ok, test } from '../harness';

const S = 'runtime.md#state';
const L = 'runtime.md#lifecycle';
const Q = 'runtime.md#query-state';
const C = 'runtime.md#create';
const ST = 'runtime.md#start';
const K = 'runtime.md#kill';
const D = 'runtime.md#delete';

function sleeper(t: Parameters<typeof runIn>[0], script = 'sleep 1000'): Container {
  return new Container(t, ['/bin/sh', '-c', script]);
}

/** Wait until the container printed `word` (e.g. "ready" once its signal traps are installed). */
function waitOutput(c: Container, word: string, timeoutMs = 10_000): boolean {
  const deadline = Date.now() + timeoutMs;
  while (!c.stdout().includes(word)) {
    if (Date.now() > deadline) return false;
    sleepMs(15);
  }
  return true;
}

// ---- State --------------------------------------------------------------------------------

test(S, 'created container: status is "created"', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  eq(c.mustState().status, 'created', 'status');
});

test(S, 'ociVersion is a SemVer string', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const s = c.mustState();
  ok(typeof s.ociVersion === 'string', `ociVersion must be a string, got ${JSON.stringify(s.ociVersion)}`);
  ok(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(s.ociVersion), `ociVersion ${JSON.stringify(s.ociVersion)} is not SemVer`);
});

test(S, 'id is the container ID given to create', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  eq(c.mustState().id, c.id, 'id');
});

test(S, 'pid (created) is the host pid of a live container process', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const s = c.mustState();
  ok(typeof s.pid === 'number' && Number.isInteger(s.pid) && s.pid > 0, `pid must be a positive int, got ${JSON.stringify(s.pid)}`);
  ok(pidAlive(s.pid), `pid ${s.pid} is not a live process on the host`);
  // It is the container process: it lives in the container's (new) pid namespace.
  const nsHost = fs.readlinkSync('/proc/self/ns/pid');
  const nsC = fs.readlinkSync(`/proc/${s.pid}/ns/pid`);
  ok(nsC !== nsHost, `pid ${s.pid} is in the host pid namespace, not the container's`);
});

test(S, 'pid (running) is the host pid of the user process', (t) => {
  const c = sleeper(t, 'exec sleep 1000');
  c.mustCreate();
  const pidCreated = c.mustState().pid;
  c.mustStart();
  const s = c.mustState();
  eq(s.pid, pidCreated, 'pid after start (same container process)');
  const pid = s.pid as number;
  ok(pidAlive(pid), `pid ${pid} not alive`);
  // After start the process has executed the user program.
  const deadline = Date.now() + 10_000; // generous: only a failure waits this long
  let cmd = '';
  while (Date.now() < deadline) {
    cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    if (cmd.startsWith('sleep')) break;
    sleepMs(20);
  }
  ok(cmd.startsWith('sleep'), `process ${pid} runs "${cmd}", not the user program`);
});

test(S, 'bundle is the absolute path of the bundle directory', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const s = c.mustState();
  ok(typeof s.bundle === 'string' && path.isAbsolute(s.bundle), `bundle must be an absolute path, got ${JSON.stringify(s.bundle)}`);
  eq(fs.realpathSync(s.bundle), fs.realpathSync(c.bundle), 'bundle');
});

test(S, 'bundle is absolute even when create is given a relative bundle path', (t) => {
  const c = sleeper(t);
  c.writeConfig();
  const r = rt(['create', '--bundle', 'bundle', c.id], { cwd: c.dir, stdout: fs.openSync(c.outFile, 'a'), stderr: fs.openSync(c.errFile, 'a') });
  if (r.code !== 0) fail(`create --bundle bundle (relative) failed: ${describe(r)} ${c.stderr()}`);
  const s = c.mustState();
  ok(typeof s.bundle === 'string' && path.isAbsolute(s.bundle), `bundle must be absolute, got ${JSON.stringify(s.bundle)}`);
  eq(fs.realpathSync(s.bundle), fs.realpathSync(c.bundle), 'bundle');
});

test(S, 'annotations from config.json are in the state', (t) => {
  const c = sleeper(t);
  c.config.annotations = { 'org.example.conformance': 'yes', 'org.example.empty': '' };
  c.mustCreate();
  const s = c.mustState();
  ok(s.annotations && typeof s.annotations === 'object', `annotations missing: ${JSON.stringify(s)}`);
  const a = s.annotations as Record<string, unknown>;
  eq(a['org.example.conformance'], 'yes', 'annotation org.example.conformance');
  eq(a['org.example.empty'], '', 'annotation org.example.empty');
});

test(S, 'no annotations: property absent or an empty map', (t) => {
  const c = sleeper(t);
  delete c.config.annotations;
  c.mustCreate();
  const s = c.mustState();
  ok(s.annotations === undefined || (typeof s.annotations === 'object' && s.annotations !== null && Object.keys(s.annotations).length === 0),
    `annotations should be absent or {}, got ${JSON.stringify(s.annotations)}`);
});

test(S, 'running container: status is "running"', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  c.mustStart();
  eq(c.mustState().status, 'running', 'status');
});

test(S, 'exited container: status is "stopped"', (t) => {
  const c = sleeper(t, 'true');
  c.mustCreate();
  c.mustStart();
  const s = c.waitStatus('stopped', 5000);
  eq(s?.status, 'stopped', 'status after the process exited');
});

test(S, 'state is serialised as a JSON object with the required properties', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const r = c.stateCmd();
  ok(r.code === 0, `state failed: ${describe(r)}`);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of ['ociVersion', 'id', 'status', 'pid', 'bundle']) ok(k in s, `state lacks ${k}: ${r.stdout.trim()}`);
});

// ---- Query state --------------------------------------------------------------------------

test(Q, 'state of a container that does not exist is an error', () => {
  const r = rt(['state', randomId('nope')]);
  ok(r.code !== 0, `state of an unknown id exited 0: ${r.stdout.trim()}`);
});

test(Q, 'state without a container ID is an error', () => {
  const r = rt(['state']);
  ok(r.code !== 0, 'state without an id exited 0');
});

// ---- Lifecycle ----------------------------------------------------------------------------

test(L, 'create does not run the user-specified program', (t) => {
  const c = sleeper(t, 'touch /ran; sleep 1000');
  c.mustCreate();
  sleepMs(300);
  ok(!fs.existsSync(path.join(c.rootfs, 'ran')), 'the program ran before start');
  c.mustStart();
  const deadline = Date.now() + 5000;
  while (!fs.existsSync(path.join(c.rootfs, 'ran')) && Date.now() < deadline) sleepMs(20);
  ok(fs.existsSync(path.join(c.rootfs, 'ran')), 'the program did not run after start');
});

test(L, 'updates to config.json after create do not affect the container', (t) => {
  const c = sleeper(t, 'echo original');
  c.mustCreate();
  c.config.process.args = ['/bin/sh', '-c', 'echo modified'];
  c.writeConfig();
  c.mustStart();
  c.mustWaitStopped();
  eq(c.stdout().trim(), 'original', 'output');
});

test(L, 'the process exiting by itself moves the container to "stopped"', (t) => {
  // It exits by itself once /exit-now exists: after "running" was seen, however slow `state` is.
  const c = sleeper(t, 'while [ ! -e /exit-now ]; do sleep 0.02; done');
  c.mustCreate();
  c.mustStart();
  eq(c.mustState().status, 'running', 'status while running');
  fs.writeFileSync(path.join(c.rootfs, 'exit-now'), '');
  const s = c.waitStatus('stopped', 10_000);
  eq(s?.status, 'stopped', 'status after exit');
});

test(L, 'a container process killed from outside the runtime is reported "stopped"', (t) => {
  const c = sleeper(t, 'echo ready; exec sleep 1000');
  c.mustCreate();
  c.mustStart();
  ok(waitOutput(c, 'ready'), 'the container did not start its program');
  const pid = c.mustState().pid as number;
  process.kill(pid, 'SIGKILL');
  const s = c.waitStatus('stopped', 5000);
  eq(s?.status, 'stopped', 'status after the host killed the process');
});

test(L, 'delete undoes create: the container cgroup is removed', (t) => {
  const c = sleeper(t, 'true');
  c.config.linux.resources.pids = { limit: 64 };
  c.mustCreate();
  const cg = c.config.linux.cgroupsPath as string;
  const dirs = cgroupMounts().map((m) => path.join(m.dir, cg)).filter((d) => fs.existsSync(d));
  ok(dirs.length > 0, `no cgroup directory for ${cg} after create`);
  c.mustStart();
  c.mustWaitStopped();
  const r = c.delete();
  ok(r.code === 0, `delete failed: ${describe(r)}`);
  const left = dirs.filter((d) => fs.existsSync(d));
  ok(left.length === 0, `cgroup directories left after delete: ${left.join(', ')}`);
});

test(L, 'delete undoes create: the container process and its namespaces are gone', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const pid = c.mustState().pid as number;
  const k = c.kill('KILL');
  ok(k.code === 0, `kill failed: ${describe(k)}`);
  c.mustWaitStopped();
  const r = c.delete();
  ok(r.code === 0, `delete failed: ${describe(r)}`);
  ok(!pidAlive(pid), `container process ${pid} still alive after delete`);
});

// ---- Create -------------------------------------------------------------------------------

test(C, 'create with the ID of an existing container fails and leaves it untouched', (t) => {
  const a = sleeper(t);
  a.mustCreate();
  const before = a.mustState();
  const b = new Container(t, ['/bin/sh', '-c', 'sleep 1000'], { id: a.id });
  const r = b.create();
  ok(r.code !== 0, 'second create with the same id succeeded');
  const after = a.mustState();
  eq(after.status, 'created', 'status of the original container');
  eq(after.pid, before.pid, 'pid of the original container');
  eq(fs.realpathSync(String(after.bundle)), fs.realpathSync(a.bundle), 'bundle of the original container');
});

test(C, 'create without a container ID is an error', (t) => {
  const c = sleeper(t);
  c.writeConfig();
  const r = rt(['create', '--bundle', c.bundle]);
  ok(r.code !== 0, 'create without an id exited 0');
});

test(C, 'create with a bundle that does not exist fails and creates nothing', (t) => {
  const id = randomId();
  t.defer(() => rt(['delete', '-f', id]));
  const r = rt(['create', '--bundle', path.join(env.work, 'no-such-bundle'), id]);
  ok(r.code !== 0, 'create with a missing bundle exited 0');
  ok(rt(['state', id]).code !== 0, 'a container exists after the failed create');
});

test(C, 'create that cannot apply config.json fails and creates nothing', (t) => {
  const c = sleeper(t);
  c.config.mounts.push({ destination: '/mnt/x', type: 'none', source: path.join(env.work, 'does-not-exist'), options: ['bind'] });
  const r = c.create();
  ok(r.code !== 0, 'create with an unsatisfiable bind mount exited 0');
  ok(c.stateCmd().code !== 0, `container exists after the failed create: ${c.stateCmd().stdout.trim()}`);
  const l = rt(['list', '-q']);
  if (l.code === 0) ok(!l.stdout.split('\n').includes(c.id), 'the failed container is listed');
});

test(C, 'a failed create leaves no cgroup behind', (t) => {
  const c = sleeper(t);
  c.config.linux.resources.pids = { limit: 64 };
  c.config.mounts.push({ destination: '/mnt/x', type: 'none', source: path.join(env.work, 'does-not-exist'), options: ['bind'] });
  const r = c.create();
  ok(r.code !== 0, 'create with an unsatisfiable bind mount exited 0');
  const left = cgroupMounts().map((m) => path.join(m.dir, c.config.linux.cgroupsPath)).filter((d) => fs.existsSync(d));
  ok(left.length === 0, `cgroup directories left after the failed create: ${left.join(', ')}`);
});

test(C, 'the ID can be reused after delete', (t) => {
  const a = sleeper(t, 'true');
  a.mustCreate();
  a.mustStart();
  a.mustWaitStopped();
  ok(a.delete().code === 0, 'delete failed');
  const b = new Container(t, ['/bin/sh', '-c', 'echo second'], { id: a.id });
  b.mustCreate();
  b.mustStart();
  b.mustWaitStopped();
  eq(b.stdout().trim(), 'second', 'output of the second container');
});

// ---- Start --------------------------------------------------------------------------------

test(ST, 'start runs the user-specified program and the status becomes "running"', (t) => {
  const c = sleeper(t, 'echo started; sleep 1000');
  c.mustCreate();
  c.mustStart();
  eq(c.mustState().status, 'running', 'status after start');
  const deadline = Date.now() + 10_000; // generous: only a failure waits this long
  while (!c.stdout().includes('started') && Date.now() < deadline) sleepMs(20);
  ok(c.stdout().includes('started'), 'the program produced no output');
});

test(ST, 'start of a running container fails and has no effect', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  c.mustStart();
  const before = c.mustState();
  const r = c.start();
  ok(r.code !== 0, 'second start exited 0');
  const after = c.mustState();
  eq(after.status, 'running', 'status');
  eq(after.pid, before.pid, 'pid');
});

test(ST, 'start of a stopped container fails and has no effect', (t) => {
  const c = sleeper(t, 'echo once');
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  const r = c.start();
  ok(r.code !== 0, 'start of a stopped container exited 0');
  eq(c.mustState().status, 'stopped', 'status');
  sleepMs(100);
  eq(c.stdout().trim(), 'once', 'the program ran again');
});

test(ST, 'start of a container that does not exist fails', () => {
  ok(rt(['start', randomId('nope')]).code !== 0, 'start of an unknown id exited 0');
});

test(ST, 'start without a container ID is an error', () => {
  ok(rt(['start']).code !== 0, 'start without an id exited 0');
});

test(ST, 'a config without process: create or start generates an error', (t) => {
  const c = sleeper(t);
  delete c.config.process;
  const r = c.create();
  if (r.code !== 0) return; // rejected at create: an error was generated
  const s = c.start();
  ok(s.code !== 0, 'start of a container without process exited 0');
});

// ---- Kill ---------------------------------------------------------------------------------

test(K, 'kill of a running container delivers the signal to the container process', (t) => {
  const c = sleeper(t, 'trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 0.05; done');
  c.mustCreate();
  c.mustStart();
  ok(waitOutput(c, 'ready'), 'the container did not start its program');
  const r = c.kill('USR1');
  ok(r.code === 0, `kill USR1 failed: ${describe(r)}`);
  c.mustWaitStopped(5000);
  ok(c.stdout().includes('got-usr1'), `the process did not see SIGUSR1 (stdout: ${JSON.stringify(c.stdout())})`);
});

test(K, 'kill TERM of a running container stops it; status becomes "stopped"', (t) => {
  // pid 1 of a pid namespace only receives signals it handles, so the program handles TERM.
  const c = sleeper(t, 'trap "exit 0" TERM; echo ready; while :; do sleep 0.05; done');
  c.mustCreate();
  c.mustStart();
  ok(waitOutput(c, 'ready'), 'the container did not start its program');
  const r = c.kill('TERM');
  ok(r.code === 0, `kill TERM failed: ${describe(r)}`);
  const s = c.waitStatus('stopped', 5000);
  eq(s?.status, 'stopped', 'status');
});

test(K, 'kill KILL of a created container is allowed and stops it', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const r = c.kill('KILL');
  ok(r.code === 0, `kill of a created container failed: ${describe(r)}`);
  const s = c.waitStatus('stopped', 5000);
  eq(s?.status, 'stopped', 'status');
});

test(K, 'kill of a stopped container fails and has no effect', (t) => {
  const c = sleeper(t, 'true');
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  const r = c.kill('KILL');
  ok(r.code !== 0, 'kill of a stopped container exited 0');
  eq(c.mustState().status, 'stopped', 'status');
});

test(K, 'kill of a container that does not exist fails', () => {
  ok(rt(['kill', randomId('nope'), 'KILL']).code !== 0, 'kill of an unknown id exited 0');
});

test(K, 'kill without a container ID is an error', () => {
  ok(rt(['kill']).code !== 0, 'kill without an id exited 0');
});

// ---- Delete -------------------------------------------------------------------------------

test(D, 'delete of a running container fails and has no effect', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  c.mustStart();
  const before = c.mustState();
  const r = c.delete();
  ok(r.code !== 0, 'delete of a running container exited 0');
  const after = c.mustState();
  eq(after.status, 'running', 'status');
  eq(after.pid, before.pid, 'pid');
  ok(pidAlive(before.pid as number), 'container process died');
});

test(D, 'delete of a created (not stopped) container fails and has no effect', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const before = c.mustState();
  const r = c.delete();
  ok(r.code !== 0, 'delete of a created container exited 0 (spec: "not stopped MUST have no effect ... MUST generate an error")');
  const after = c.state();
  eq(after?.status, 'created', 'status');
  eq(after?.pid, before.pid, 'pid');
});

test(D, 'delete of a stopped container succeeds; the container no longer exists', (t) => {
  const c = sleeper(t, 'true');
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  const r = c.delete();
  ok(r.code === 0, `delete failed: ${describe(r)}`);
  ok(c.stateCmd().code !== 0, 'state still succeeds after delete');
  const l = rt(['list', '-q']);
  if (l.code === 0) ok(!l.stdout.split('\n').includes(c.id), 'the container is still listed after delete');
});

test(D, 'delete of a container that does not exist fails', () => {
  ok(rt(['delete', randomId('nope')]).code !== 0, 'delete of an unknown id exited 0');
});

test(D, 'delete without a container ID is an error', () => {
  ok(rt(['delete']).code !== 0, 'delete without an id exited 0');
});

test(D, 'delete does not remove resources it did not create (bind-mount source, bundle)', (t) => {
  const c = sleeper(t, 'echo hi > /data/written');
  const src = path.join(c.dir, 'volume');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'keep'), 'keep');
  c.config.mounts.push({ destination: '/data', type: 'none', source: src, options: ['rbind', 'rw'] });
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  ok(c.delete().code === 0, 'delete failed');
  ok(fs.existsSync(path.join(src, 'keep')) && fs.existsSync(path.join(src, 'written')), 'bind-mount source contents were removed');
  ok(fs.existsSync(path.join(c.bundle, 'config.json')) && fs.existsSync(path.join(c.rootfs, 'bin/busybox')), 'bundle contents were removed');
});

// ---- runc command-line extensions (not in the spec, but every runc-compatible client uses them) --

const X = 'runc-cli (extensions)';

test(X, 'delete -f of a running container kills and deletes it', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  c.mustStart();
  const pid = c.mustState().pid as number;
  const r = c.delete(true);
  ok(r.code === 0, `delete -f failed: ${describe(r)}`);
  ok(c.stateCmd().code !== 0, 'container still exists');
  const deadline = Date.now() + 10_000; // generous: only a failure waits this long
  while (pidAlive(pid) && Date.now() < deadline) sleepMs(20);
  ok(!pidAlive(pid), `process ${pid} still alive`);
});

test(X, 'kill with no signal sends SIGTERM', (t) => {
  const c = sleeper(t, 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done');
  c.mustCreate();
  c.mustStart();
  ok(waitOutput(c, 'ready'), 'the container did not start its program');
  const r = c.kill();
  ok(r.code === 0, `kill failed: ${describe(r)}`);
  c.mustWaitStopped(5000);
  ok(c.stdout().includes('got-term'), 'SIGTERM not received');
});

test(X, 'kill accepts signal names with and without SIG and numbers', (t) => {
  for (const sig of ['SIGUSR1', 'USR1', '10']) {
    const c = sleeper(t, 'trap "echo got" USR1; echo ready; while :; do sleep 0.05; done');
    c.mustCreate();
    c.mustStart();
    ok(waitOutput(c, 'ready'), 'the container did not start its program');
    const r = c.kill(sig);
    ok(r.code === 0, `kill ${sig} failed: ${describe(r)}`);
    const deadline = Date.now() + 10_000; // generous: only a failure waits this long
    while (!c.stdout().includes('got') && Date.now() < deadline) sleepMs(20);
    ok(c.stdout().includes('got'), `signal ${sig} not received`);
    c.destroy();
  }
});

function runCmd(t: Parameters<typeof runIn>[0], script: string): { code: number | null; c: Container } {
  const c = sleeper(t, script);
  c.writeConfig();
  const r = rt(['run', '--bundle', c.bundle, c.id], { stdout: fs.openSync(c.outFile, 'a'), stderr: fs.openSync(c.errFile, 'a') });
  return { code: r.code, c };
}

test(X, 'run exits with the exit code of the container process', (t) => {
  const { code, c } = runCmd(t, 'exit 42');
  eq(code, 42, `run exit code (${c.stderr().trim()})`);
});

test(X, 'run of a process killed by a signal exits 128+signal', (t) => {
  const c = sleeper(t, 'sleep 1000');
  c.writeConfig();
  // Foreground run in the background of a shell, killed from outside with SIGKILL.
  const r = rt(['--version'], {
    preamble: `"$1" --root "${env.stateRoot}" run --bundle "${c.bundle}" ${c.id} >/dev/null 2>&1 & ` +
      `i=0; while [ $i -lt 100 ] && ! "$1" --root "${env.stateRoot}" state ${c.id} 2>/dev/null | grep -q running; do sleep 0.05; i=$((i+1)); done; ` +
      `"$1" --root "${env.stateRoot}" kill ${c.id} KILL; wait $!; echo "rc=$?"; exit 0`,
  });
  eq(r.stdout.trim(), 'rc=137', `run exit code (${r.stderr.trim()})`);
});

test(X, 'list shows the container with its status', (t) => {
  const c = sleeper(t);
  c.mustCreate();
  const r = rt(['list', '--format', 'json']);
  ok(r.code === 0, `list failed: ${describe(r)}`);
  const arr = JSON.parse(r.stdout || 'null') as { id: string; status: string }[] | null;
  const mine = (arr ?? []).find((x) => x.id === c.id);
  ok(mine, `container missing from list: ${r.stdout.slice(0, 200)}`);
  eq(mine.status, 'created', 'status in list');
});

test(X, 'create --pid-file writes the container pid', (t) => {
  const c = sleeper(t);
  const pf = path.join(c.dir, 'pidfile');
  c.mustCreate(['--pid-file', pf]);
  const pid = Number(fs.readFileSync(pf, 'utf8').trim());
  eq(pid, c.mustState().pid, 'pid in --pid-file');
});

void sh;
