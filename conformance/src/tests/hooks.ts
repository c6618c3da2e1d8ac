// config.md#posix-platform-hooks and the hook steps of runtime.md#lifecycle.
import * as fs from 'fs';
import * as path from 'path';
import { Container, describe } from '../container';
import { sleepMs } from '../env';
import { eq, fail, ok, TestContext, test } from '../harness';

const H = 'config.md#posix-platform-hooks';
const LC = 'runtime.md#lifecycle (hooks)';

interface HookBox {
  c: Container;
  /** Host path of the shared directory, also mounted at /hooks in the container. */
  dir: string;
  log(): string[];
}

/** A container whose hooks append their name to hooks/log and save their stdin to hooks/stdin-NAME. */
function hooked(t: TestContext, script = 'sleep 1000', which = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']): HookBox {
  const c = new Container(t, ['/bin/sh', '-c', script]);
  const dir = path.join(c.dir, 'hooks');
  fs.mkdirSync(dir, { mode: 0o777 });
  c.config.mounts.push({ destination: '/hooks', type: 'none', source: dir, options: ['rbind', 'rw'] });
  const hooks: Record<string, unknown[]> = {};
  for (const name of which) {
    // startContainer resolves and runs in the container: use the container's paths.
    const inC = name === 'startContainer';
    const d = inC ? '/hooks' : dir;
    hooks[name] = [{
      path: '/bin/sh',
      args: ['sh', '-c', `cat > ${d}/stdin-${name}; readlink /proc/self/ns/mnt > ${d}/mntns-${name}; echo ${name} >> ${d}/log`],
    }];
  }
  c.config.hooks = hooks;
  return {
    c,
    dir,
    log: () => {
      try {
        return hookFile(path.join(dir, 'log')).split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** A file a hook should have written; a clear failure when it did not. */
function hookFile(p: string, waitMs = 0): string {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const text = fs.readFileSync(p, 'utf8');
      if (text !== '' || Date.now() >= deadline) return text;
    } catch {
      if (Date.now() >= deadline) return fail(`the hook did not run (${path.basename(p)} was not written)`);
    }
    sleepMs(20);
  }
}

function readJson(p: string): Record<string, unknown> | null {
  try {
    return JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

test(LC, 'create runs prestart, createRuntime, createContainer in that order and nothing else', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  eq(h.log(), ['prestart', 'createRuntime', 'createContainer'], 'hooks run by create');
});

test(LC, 'start runs startContainer then poststart before it returns', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  h.c.mustStart();
  eq(h.log(), ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart'], 'hooks run by create + start');
});

test(LC, 'poststart runs after the user-specified program has been executed', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'sleep 1000']);
  const out = path.join(c.dir, 'exe-at-poststart');
  // The hook reads the container pid from the state on stdin and records what that process runs.
  c.config.hooks = {
    poststart: [{ path: '/bin/sh', args: ['sh', '-c', `pid=$(sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p'); readlink /proc/$pid/exe > ${out}`] }],
  };
  c.mustCreate();
  c.mustStart();
  const exe = hookFile(out, 3000).trim();
  ok(exe.endsWith('/bin/busybox'), `at poststart the container process was running ${JSON.stringify(exe)}, not the user program (/bin/busybox)`);
});

test(LC, 'poststop hooks run on delete, before delete returns', (t) => {
  const h = hooked(t, 'true');
  h.c.mustCreate();
  h.c.mustStart();
  h.c.mustWaitStopped();
  ok(!h.log().includes('poststop'), 'poststop ran before delete');
  const r = h.c.delete();
  ok(r.code === 0, `delete failed: ${describe(r)}`);
  eq(h.log().slice(-1), ['poststop'], 'last hook after delete');
});

test(H, 'hooks of one kind are called in the listed order', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'true']);
  const log = path.join(c.dir, 'log');
  c.config.hooks = {
    createRuntime: ['one', 'two', 'three'].map((n) => ({ path: '/bin/sh', args: ['sh', '-c', `echo ${n} >> ${log}`] })),
  };
  c.mustCreate();
  eq(hookFile(log).split('\n').filter(Boolean), ['one', 'two', 'three'], 'order');
});

test(H, 'hooks get args (argv[0] included) and env as configured', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'true']);
  const out = path.join(c.dir, 'out');
  c.config.hooks = {
    createRuntime: [{ path: '/bin/sh', args: ['custom-argv0', '-c', `echo "$0|$HOOKVAR" > ${out}`], env: ['HOOKVAR=hook-value'] }],
  };
  c.mustCreate();
  eq(hookFile(out).trim(), 'custom-argv0|hook-value', 'argv[0]|HOOKVAR');
});

test(H, 'the state is passed to hooks on stdin (createRuntime)', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  const s = readJson(path.join(h.dir, 'stdin-createRuntime'));
  ok(s, 'stdin of the createRuntime hook is not a JSON state');
  eq(s.id, h.c.id, 'id');
  ok(typeof s.pid === 'number' && s.pid > 0, `pid ${JSON.stringify(s.pid)}`);
  eq(fs.realpathSync(String(s.bundle)), fs.realpathSync(h.c.bundle), 'bundle');
  ok(typeof s.ociVersion === 'string', 'ociVersion');
  ok(typeof s.status === 'string', 'status');
});

test(H, 'the state is passed to hooks on stdin (poststart: status running)', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  h.c.mustStart();
  const s = readJson(path.join(h.dir, 'stdin-poststart'));
  ok(s, 'stdin of the poststart hook is not a JSON state');
  eq(s.id, h.c.id, 'id');
  eq(s.status, 'running', 'status');
});

test(H, 'the state is passed to hooks on stdin (poststop: status stopped)', (t) => {
  const h = hooked(t, 'true');
  h.c.mustCreate();
  h.c.mustStart();
  h.c.mustWaitStopped();
  ok(h.c.delete().code === 0, 'delete failed');
  const s = readJson(path.join(h.dir, 'stdin-poststop'));
  ok(s, 'stdin of the poststop hook is not a JSON state');
  eq(s.id, h.c.id, 'id');
  eq(s.status, 'stopped', 'status');
});

test(H, 'createRuntime and prestart run in the runtime namespace', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  const mine = fs.readlinkSync('/proc/self/ns/mnt');
  for (const n of ['prestart', 'createRuntime']) {
    eq(hookFile(path.join(h.dir, `mntns-${n}`)).trim(), mine, `${n} mount namespace`);
  }
});

test(H, 'createContainer runs in the container namespace', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  const pid = h.c.mustState().pid as number;
  eq(hookFile(path.join(h.dir, 'mntns-createContainer')).trim(), fs.readlinkSync(`/proc/${pid}/ns/mnt`), 'createContainer mount namespace');
});

test(H, 'startContainer resolves and runs in the container namespace', (t) => {
  const h = hooked(t);
  h.c.mustCreate();
  const pid = h.c.mustState().pid as number;
  const cns = fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  h.c.mustStart();
  // Only the namespace is checked here (ordering has its own test): wait for the hook to finish.
  eq(hookFile(path.join(h.dir, 'mntns-startContainer'), 5000).trim(), cns, 'startContainer mount namespace');
});

test(H, 'poststart and poststop run in the runtime namespace', (t) => {
  const h = hooked(t, 'sleep 0.2');
  h.c.mustCreate();
  h.c.mustStart();
  h.c.mustWaitStopped();
  ok(h.c.delete().code === 0, 'delete failed');
  const mine = fs.readlinkSync('/proc/self/ns/mnt');
  for (const n of ['poststart', 'poststop']) {
    eq(hookFile(path.join(h.dir, `mntns-${n}`)).trim(), mine, `${n} mount namespace`);
  }
});

test(LC, 'a failing createRuntime hook makes create fail and leaves no container', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'sleep 1000']);
  c.config.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
  const r = c.create();
  ok(r.code !== 0, 'create succeeded despite the failing hook');
  ok(c.stateCmd().code !== 0, `container still exists: ${c.stateCmd().stdout.trim()}`);
});

test(LC, 'a failing prestart hook generates an error and the program never runs', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'touch /ran']);
  c.config.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
  const r = c.create();
  const s = r.code === 0 ? c.start() : r;
  ok(s.code !== 0, 'neither create nor start reported the failing prestart hook');
  sleepMs(200);
  ok(!fs.existsSync(path.join(c.rootfs, 'ran')), 'the user program ran');
});

test(LC, 'a failing startContainer hook makes start fail and the program never runs', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'touch /ran']);
  c.config.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
  c.mustCreate();
  const r = c.start();
  sleepMs(300);
  const ran = fs.existsSync(path.join(c.rootfs, 'ran'));
  ok(r.code !== 0, `start succeeded despite the failing hook (the user program ${ran ? 'ran' : 'did not run'}; state: ${JSON.stringify(c.state()?.status)})`);
  ok(!ran, 'the user program ran');
});

test(LC, 'a failing poststart hook is only a warning: start succeeds, the container keeps running', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'sleep 1000']);
  c.config.hooks = { poststart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
  c.mustCreate();
  const r = c.start();
  ok(r.code === 0, `start failed because of the poststart hook: ${describe(r)}`);
  eq(c.state()?.status, 'running', 'status');
});

test(LC, 'a failing poststop hook is only a warning: delete succeeds and later hooks run', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'true']);
  const log = path.join(c.dir, 'log');
  c.config.hooks = {
    poststop: [
      { path: '/bin/sh', args: ['sh', '-c', 'exit 3'] },
      { path: '/bin/sh', args: ['sh', '-c', `echo second >> ${log}`] },
    ],
  };
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  const r = c.delete();
  ok(r.code === 0, `delete failed because of the poststop hook: ${describe(r)}`);
  ok(c.stateCmd().code !== 0, 'container still exists');
  ok(fs.existsSync(log), 'the hook after the failing one did not run');
});

test(H, 'hook timeout: a hook running longer than timeout is aborted with an error', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'sleep 1000']);
  c.config.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exec sleep 20'], timeout: 1 }] };
  const t0 = Date.now();
  const r = c.create();
  const ms = Date.now() - t0;
  ok(r.code !== 0, 'create succeeded although the hook timed out');
  ok(ms < 10_000, `create took ${ms} ms: the hook was not aborted after its 1 s timeout`);
});
