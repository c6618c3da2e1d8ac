// CVE-2019-5736 class: a container process that runs a `#!/proc/self/exe` script becomes the
// runtime's own executable (node); once nothing runs that file any more, anyone holding it
// (an fd of /proc/PID/exe) re-opens it for writing. It must be on a read-only mount.
// Also: no host path of the runtime in the cmdline of its helpers (world-readable).
//
// The runtime runs from a private copy of node: "Text file busy" never clears for
// /usr/bin/node while Jest itself runs it, and a broken fix then exposes the copy, never the
// host's node. No test writes a byte: the attack stops at open() and closes at once.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, execFileSync } from 'child_process';
import { libc, SysError, errnoNumber, MS_BIND, MS_REMOUNT, MS_RDONLY, MNT_DETACH, type Sys } from '@tsrt/libc';
import { runtimeExe, type RuntimeExe } from '../../../src/spawn/self-exe';
import { REPO, makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../../helpers/runtime';

jest.setTimeout(60000);

const O_PATH = 0o10000000;
const ST_RDONLY = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let work: string;
let node: string;
/** The copy bound read-only: the in-process create and exec run only from such a node. */
let roNode: string;
/** The runtime of the describe block running: stage 2 (the writable copy) or in process. */
let wrapper: string;
let rt: Runtime;
let exeName: string;
const modes: Record<string, { wrapper: string; rt: Runtime; exe: string }> = {};
const bundles: Bundle[] = [];

/** A node that runs `js` as a `#!/proc/self/exe` script, with node's libraries in the rootfs. */
function attackBundle(args: string[], js: string): Bundle {
  const b = makeBundle(args);
  bundles.push(b);
  const rootfs = path.join(b.dir, 'rootfs');
  const libs = execFileSync('ldd', [node], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
  for (const lib of libs) {
    fs.mkdirSync(path.join(rootfs, path.dirname(lib)), { recursive: true });
    fs.copyFileSync(lib, path.join(rootfs, lib)); // follows the .so symlinks
  }
  fs.writeFileSync(path.join(rootfs, 'attack'), `#!/proc/self/exe\n${js}\n`, { mode: 0o755 });
  return b;
}

/** A fresh container id, deleted after `body` whatever happens (a failed check too). */
async function withContainer(body: (id: string) => unknown): Promise<void> {
  const id = uniqueId('selfexe');
  try {
    await body(id);
  } finally {
    rt.run(['delete', '-f', id]);
  }
}

function statePid(id: string): number {
  return JSON.parse(rt.run(['state', id]).stdout).pid;
}

async function waitFor<T>(what: string, f: () => T | undefined | false, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function readOr(p: string, dflt = ''): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return dflt;
  }
}

/** Is the file this process runs the runtime's node (the premise of the attack)? */
function runsNode(pid: number): boolean {
  const a = fs.statSync(`/proc/${pid}/exe`), b = fs.statSync(node);
  return a.ino === b.ino && a.dev === b.dev;
}

/**
 * The attack's last step, from an fd held on /proc/PID/exe once that process is gone: re-open
 * the file for writing. Returns the error code, or "OPENED" (vulnerable; closed unwritten).
 * "Text file busy" is waited out for a while, as an attacker would: a process may be gone from
 * /proc while its last thread still holds the file.
 */
function reopenForWriting(heldFd: number): string {
  const end = Date.now() + 5000;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(`/proc/self/fd/${heldFd}`, fs.constants.O_WRONLY | fs.constants.O_APPEND));
      return 'OPENED';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      if (code !== 'ETXTBSY' || Date.now() > end) return code;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-selfexe-'));
  fs.chmodSync(work, 0o755); // a user namespace's mapped root runs this node too
  node = path.join(work, 'node');
  fs.copyFileSync(process.execPath, node);
  fs.chmodSync(node, 0o755);
  roNode = path.join(work, 'ro-node');
  fs.writeFileSync(roNode, '');
  libc().mount(node, roNode, null, MS_BIND, null);
  libc().mount(null, roNode, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
  for (const [mode, exe] of [['stage 2', node], ['in process', roNode]]) {
    const w = path.join(work, `ts-runc-${mode.replace(' ', '-')}`);
    fs.writeFileSync(w, `#!/bin/sh\nunset NODE_EXTRA_CA_CERTS NODE_OPTIONS\nexec ${exe} ${REPO}/packages/ts-runc/dist/src/cli/launch.js "$@"\n`, { mode: 0o755 });
    modes[mode] = { wrapper: w, rt: runtime(w), exe };
  }
});
afterAll(() => {
  Object.values(modes).forEach((m) => m.rt.cleanup());
  bundles.forEach(removeBundle);
  try {
    libc().umount2(roNode, MNT_DETACH);
  } catch {
    /* not mounted */
  }
  fs.rmSync(work, { recursive: true, force: true });
});

/** Which path made the container: the in-process create records it in the state. */
function madeInProcess(id: string): boolean {
  return JSON.parse(fs.readFileSync(path.join(rt.root, id, 'state.json'), 'utf8')).inProcess === true;
}

// Every test twice: with the runtime's node writable (stage 2 and the exec helper run from a
// read-only clone of it) and read-only (create and exec run in the CLI's own process).
describe.each(['stage 2', 'in process'])('%s', (mode) => {
beforeAll(() => {
  ({ wrapper, rt, exe: exeName } = modes[mode]);
});

describe('the runtime executable seen from the container is read-only', () => {
  test('create: the init waiting on the exec fifo runs node from a read-only mount', () =>
    withContainer((id) => {
      const b = makeBundle(['true']);
      bundles.push(b);
      expect(rt.run(['create', '-b', b.dir, id]).status).toBe(0);
      // (scripts/test runs the suite again with TS_RUNC_IN_PROCESS=0: stage 2 only)
      const inProcess = madeInProcess(id);
      expect(inProcess).toBe(mode === 'in process' && process.env.TS_RUNC_IN_PROCESS !== '0');
      const pid = statePid(id);
      expect(runsNode(pid)).toBe(true);
      // In process: the CLI's own read-only node. Stage 2: in a clone of the mount at "/" the
      // file keeps its name (V8 re-maps its builtins by it); a file bound on its own (the
      // read-only node) is cloned alone, and named "/".
      expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(inProcess ? exeName : mode === 'stage 2' ? node : '/');
      // Opening it for writing now fails with ETXTBSY either way (checked before EROFS).
      expect(libc().statfsFlags(`/proc/${pid}/exe`) & ST_RDONLY).toBe(ST_RDONLY);
      const held = fs.openSync(`/proc/${pid}/exe`, O_PATH);
      try {
        expect(rt.run(['delete', '-f', id]).status).toBe(0);
        expect(reopenForWriting(held)).toBe('EROFS');
      } finally {
        fs.closeSync(held);
      }
    }));

  test('create with a user namespace: the clone child starts stage 2 from the same read-only clone', () =>
    withContainer((id) => {
      const map = [{ containerID: 0, hostID: 200000, size: 65536 }];
      const b = makeBundle(['true'], (c) => {
        c.linux.namespaces.push({ type: 'user' });
        c.linux.uidMappings = map;
        c.linux.gidMappings = map;
      });
      bundles.push(b);
      fs.chmodSync(b.dir, 0o755); // the mapped root must reach the rootfs
      expect(rt.run(['create', '-b', b.dir, id]).stderr).toBe('');
      const pid = statePid(id);
      expect(runsNode(pid)).toBe(true);
      expect(libc().statfsFlags(`/proc/${pid}/exe`) & ST_RDONLY).toBe(ST_RDONLY);
    }));

  test('init: a `#!/proc/self/exe` container process is node on a read-only mount', () =>
    withContainer(async (id) => {
      const b = attackBundle(['/attack'], 'setTimeout(() => {}, 60000);');
      expect(rt.run(['run', '-d', '-b', b.dir, id]).stderr).toBe('');
      const pid = statePid(id);
      // The kernel ran the script's interpreter, /proc/self/exe: the runtime's node.
      await waitFor('the script to run', () => readOr(`/proc/${pid}/cmdline`) === '/proc/self/exe\0/attack\0');
      expect(runsNode(pid)).toBe(true);
      expect(libc().statfsFlags(`/proc/${pid}/exe`) & ST_RDONLY).toBe(ST_RDONLY);
      // What a second process in the container does: hold the file, wait out "Text file busy".
      const held = fs.openSync(`/proc/${pid}/exe`, O_PATH);
      try {
        expect(rt.run(['delete', '-f', id]).status).toBe(0);
        await waitFor('the container process to go', () => !fs.existsSync(`/proc/${pid}/exe`));
        expect(reopenForWriting(held)).toBe('EROFS');
      } finally {
        fs.closeSync(held);
      }
    }));

  test('exec: a process in the container holding /proc/PID/exe of an exec-ed `#!/proc/self/exe` cannot write it', async () => {
    // The container's own attacker: it waits for the exec-ed node, keeps a read-only fd of
    // its exe, waits until it is gone, then re-opens that fd for appending (writes nothing).
    const attacker = [
      'until [ -s /pid ]; do usleep 10000; done',
      'p=$(cat /pid)',
      'exec 3</proc/$p/exe || { echo NOFD > /result; exec sleep 1000; }',
      'while [ -e /proc/$p/exe ]; do usleep 10000; done',
      // Its last thread may hold the file a little longer: retry "Text file busy" for 5 s.
      'i=0',
      'until (exec 4>>/proc/self/fd/3) 2>/result.err; do',
      '  grep -q "Text file busy" /result.err && [ $i -lt 500 ] || { echo DENIED > /result; exec sleep 1000; }',
      '  i=$((i + 1)); usleep 10000',
      'done',
      'echo OPENED > /result',
      'exec sleep 1000',
    ].join('\n');
    const b = attackBundle(['sh', '-c', attacker], "require('fs').writeFileSync('/pid', String(process.pid)); setTimeout(() => {}, 500);");
    const rootfs = path.join(b.dir, 'rootfs');
    await withContainer(async (id) => {
      expect(rt.run(['run', '-d', '-b', b.dir, id]).stderr).toBe('');
      expect(rt.run(['exec', '-d', id, '/attack']).stderr).toBe('');
      const result = await waitFor('the attacker', () => readOr(path.join(rootfs, 'result')).trim());
      // "Text file busy" would mean something still runs the file: not protected either.
      expect({ result, error: readOr(path.join(rootfs, 'result.err')).trim() }).toEqual({
        result: 'DENIED',
        error: expect.stringContaining('Read-only file system'),
      });
    });
  });
});

describe('no host path in the cmdline of the runtime helpers', () => {
  /**
   * Run the runtime and read the cmdline of every descendant as often as we can while it runs
   * (from Node's start, before its first statement, and an exec-ed command's vfork child).
   */
  async function cmdlinesWhile(args: string[]): Promise<{ status: number | null; cmdlines: Set<string> }> {
    const child = spawn(wrapper, ['--root', rt.root, ...args], { stdio: 'ignore' });
    const done = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const cmdlines = new Set<string>();
    const end = Date.now() + 20000;
    const isZombie = () => /^State:\s+Z/m.test(readOr(`/proc/${child.pid}/status`, 'State: Z'));
    while (!isZombie() && Date.now() < end) {
      // The CLI's own posix_spawn child shows the CLI's argv until its execve (they share
      // memory): that one is in none of the container's pid namespaces.
      const own = readOr(`/proc/${child.pid}/cmdline`);
      const todo = [child.pid!];
      while (todo.length) {
        const p = todo.pop()!;
        for (const t of safeList(`/proc/${p}/task`)) {
          for (const c of readOr(`/proc/${p}/task/${t}/children`).split(' ').filter(Boolean)) {
            todo.push(Number(c));
            const cmd = readOr(`/proc/${c}/cmdline`);
            if (cmd && cmd !== own) cmdlines.add(cmd);
          }
        }
      }
    }
    return { status: await done, cmdlines };
  }
  function safeList(d: string): string[] {
    try {
      return fs.readdirSync(d);
    } catch {
      return [];
    }
  }
  const hostPaths = (cmdlines: Set<string>) => [...cmdlines].filter((c) => c.includes(REPO) || c.includes('/'));

  test('create, and the created container', () =>
    withContainer(async (id) => {
      const b = makeBundle(['true']);
      bundles.push(b);
      const { status, cmdlines } = await cmdlinesWhile(['create', '-b', b.dir, id]);
      expect(status).toBe(0);
      expect(hostPaths(cmdlines)).toEqual([]);
      // we did see it (in process, the only child is the held one, which shows our own cmdline)
      if (mode === 'stage 2') expect([...cmdlines].some((c) => c.startsWith('ts-runc'))).toBe(true);
      const pid = statePid(id);
      expect(readOr(`/proc/${pid}/cmdline`).replace(/\0+$/, '')).toBe('ts-runc init');
      expect(readOr(`/proc/${pid}/comm`).trim()).toBe('ts-runc init');
    }));

  test('exec (its helper, and the command before its execve)', () =>
    withContainer(async (id) => {
      const b = makeBundle(['sleep', '1000']);
      bundles.push(b);
      expect(rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
      const { status, cmdlines } = await cmdlinesWhile(['exec', id, 'true']);
      expect(status).toBe(0);
      expect(hostPaths(cmdlines)).toEqual([]);
      // we did see it (in process, the only child is the held one, which shows our own cmdline)
      if (mode === 'stage 2') expect([...cmdlines].some((c) => c.startsWith('ts-runc'))).toBe(true);
    }));
});

describe('fallbacks where open_tree or mount_setattr are missing (real syscalls)', () => {
  /** The real syscall layer with some calls failing as on an older kernel or without privileges. */
  function failing(errors: Partial<Record<keyof Sys, string>>): Sys {
    const real = libc();
    return new Proxy(real, {
      get: (t, name: string) => {
        const code = errors[name as keyof Sys];
        if (code) return () => { throw new SysError(name, 'test', errnoNumber(code)); };
        const v = (t as any)[name];
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
  }

  /** posix_spawn the node copy through `exe`, as stage 1 does; extra fd actions may follow. */
  function spawnNode(exe: RuntimeExe, js: string, extra: Array<[number, number]> = []): number {
    const devnull = fs.openSync('/dev/null', 'r+');
    try {
      return libc().posixSpawn({ path: node, execFd: exe.fd >= 0 ? exe.fd : undefined, argv: ['node', '-e', js], env: [], fds: [[devnull, 0], [devnull, 1], [devnull, 2], ...extra] });
    } finally {
      fs.closeSync(devnull);
    }
  }

  function killAndReap(pid: number): void {
    process.kill(pid, 'SIGKILL');
    libc().waitpid(pid, 0);
  }

  test('root, no open_tree: a read-only bind made in a throw-away mount namespace; this thread comes back', () => {
    const ns = fs.readlinkSync('/proc/thread-self/ns/mnt');
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const exe = runtimeExe(failing({ openTree: 'ENOSYS' }), node, 0);
    let held = -1;
    try {
      expect(exe.how).toBe('bind');
      expect(fs.readlinkSync('/proc/thread-self/ns/mnt')).toBe(ns);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).toBe(mounts); // nothing reached our namespace
      const pid = spawnNode(exe, 'setTimeout(() => {}, 30000)');
      try {
        expect(runsNode(pid)).toBe(true);
        expect(libc().statfsFlags(`/proc/${pid}/exe`) & ST_RDONLY).toBe(ST_RDONLY);
        held = fs.openSync(`/proc/${pid}/exe`, O_PATH);
      } finally {
        killAndReap(pid);
      }
      expect(reopenForWriting(held)).toBe('EROFS');
    } finally {
      if (held >= 0) fs.closeSync(held);
      if (exe.fd >= 0) fs.closeSync(exe.fd);
    }
  });

  test('no mounts possible and a binary others may write: a sealed memfd copy', () => {
    const exe = runtimeExe(failing({ openTree: 'ENOSYS', mount: 'EPERM' }), node, 0);
    let held = -1;
    try {
      expect(exe.how).toBe('memfd');
      const pid = spawnNode(exe, 'setTimeout(() => {}, 30000)');
      try {
        expect(fs.readlinkSync(`/proc/${pid}/exe`)).toMatch(/^\/memfd:ts-runc/);
        held = fs.openSync(`/proc/${pid}/exe`, O_PATH);
      } finally {
        killAndReap(pid);
      }
      // Our own copy: trying a write does no harm, and the seal refuses it.
      let code = 'WRITTEN';
      try {
        const w = fs.openSync(`/proc/self/fd/${held}`, 'r+');
        try {
          fs.writeSync(w, 'x');
        } finally {
          fs.closeSync(w);
        }
      } catch (e) {
        code = (e as NodeJS.ErrnoException).code ?? String(e);
      }
      expect(code).toBe('EPERM');
    } finally {
      if (held >= 0) fs.closeSync(held);
      if (exe.fd >= 0) fs.closeSync(exe.fd);
    }
  });

  test('posix_spawn keeps the fd to execute even when an fd action targets its number', () => {
    const exe = runtimeExe(libc(), node, 0);
    try {
      expect(exe.how).toBe('clone');
      const other = fs.openSync('/dev/null', 'r');
      try {
        const pid = spawnNode(exe, 'process.exit(7)', [[other, exe.fd]]);
        expect(libc().waitpid(pid, 0)).toMatchObject({ exitCode: 7 });
      } finally {
        fs.closeSync(other);
      }
    } finally {
      fs.closeSync(exe.fd);
    }
  });
});
});
