// Attacks on path resolution, run against the real runtime binary: every one of them reached the
// host's filesystem before paths were resolved inside the container root through fds.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../helpers/runtime';

jest.setTimeout(240000);

let rt: Runtime;
const bundles: Bundle[] = [];
const scratch: string[] = [];

beforeAll(() => {
  rt = runtime();
});
afterAll(() => {
  rt.cleanup();
  bundles.forEach(removeBundle);
  for (const d of scratch) fs.rmSync(d, { recursive: true, force: true });
});

function bundle(args: string[], edit?: (c: any) => void): Bundle {
  const b = makeBundle(args, edit);
  bundles.push(b);
  return b;
}

const oneLine = (s: string) => s.trim() !== '' && s.trim().split('\n').length === 1;

function del(id: string): void {
  rt.run(['delete', '-f', id]);
}

/** What only the host shows: the runtime's state files, or our --root's name in the host's /tmp. */
function sawHost(out: string): boolean {
  return out.includes('state.json') || out.includes(path.basename(rt.root));
}

describe('cwd through a leaked runtime fd (CVE-2024-21626 class)', () => {
  /** What a refused attempt looks like, and what one attempt did (compared as a whole, per fd). */
  const refused = (fd: number) => ({ fd, host: false, out: '', failed: true, oneLine: true, named: true });
  const outcome = (fd: number, r: { stdout: string; stderr: string; status: number | null }, cwd: string) => ({
    fd,
    host: sawHost(r.stdout),
    out: r.stdout.slice(0, 200),
    failed: r.status !== 0,
    oneLine: oneLine(r.stderr),
    named: r.stderr.includes(cwd),
  });
  const fds = [3, 4, 5, 6, 7, 8, 9];
  /** Run `b` once with each /proc/self/fd/N as its cwd: what each attempt did. */
  const fdCwds = (b: Bundle) =>
    fds.map((fd) => {
      const cwd = `/proc/self/fd/${fd}`;
      b.config.process.cwd = cwd;
      b.write();
      const id = uniqueId('cwdfd');
      try {
        return outcome(fd, rt.run(['run', '-b', b.dir, id]), cwd);
      } finally {
        del(id);
      }
    });

  test('process.cwd /proc/self/fd/3..9 is refused with one line naming the cwd', () => {
    const b = bundle(['sh', '-c', 'ls -a; ls -a ../..; ls -a ../../..']);
    expect(fdCwds(b)).toEqual(fds.map(refused));
  });

  test('under a filter loaded early that denies openat2 (plain chdir, then getcwd, as runc): a cwd works, /proc/self/fd/3..9 are refused', () => {
    // noNewPrivileges false and no CAP_SYS_ADMIN: the filter is loaded before the credentials
    // change, so the cwd is entered under it (a deny-by-default profile without openat2 made
    // every such container fail to start).
    const denyOpenat2 = (c: any) => {
      c.process.noNewPrivileges = false;
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['openat2', 'close_range'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    };
    const ok = bundle(['sh', '-c', 'pwd; echo ok'], (c) => {
      denyOpenat2(c);
      c.process.cwd = '/tmp';
    });
    const good = rt.run(['run', '-b', ok.dir, uniqueId('cwdseccomp')]);
    expect(good.stderr).toBe('');
    expect(good.stdout).toBe('/tmp\nok\n');
    const b = bundle(['sh', '-c', 'ls -a; ls -a ../..; ls -a ../../..'], denyOpenat2);
    expect(fdCwds(b)).toEqual(fds.map(refused));
  });

  test('an image symlink as the cwd (workdir -> /proc/self/fd/4) is refused', () => {
    const b = bundle(['sh', '-c', 'ls -a; ls -a ../..'], (c) => (c.process.cwd = '/workdir'));
    fs.symlinkSync('/proc/self/fd/4', path.join(b.dir, 'rootfs', 'workdir'));
    const id = uniqueId('cwdlink');
    try {
      const r = rt.run(['run', '-b', b.dir, id]);
      expect(sawHost(r.stdout)).toBe(false);
      expect(r.status).not.toBe(0);
      expect(oneLine(r.stderr)).toBe(true);
      expect(r.stderr).toContain('/workdir');
    } finally {
      del(id);
    }
  });

  test('exec --cwd /proc/1/fd/N into a created container (with CAP_SYS_PTRACE) is refused', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('cwdexec');
    try {
      const c = rt.run(['create', '-b', b.dir, id]);
      expect(c.stderr).toBe('');
      const seen = fds.map((fd) => {
        const cwd = `/proc/1/fd/${fd}`;
        return outcome(fd, rt.run(['exec', '--cap', 'CAP_SYS_PTRACE', '--cwd', cwd, id, 'sh', '-c', 'ls -a; ls -a ../..; ls -a ../../..']), cwd);
      });
      expect(seen).toEqual(fds.map(refused));
    } finally {
      del(id);
    }
  });

  // The same through the program's path: execve resolves args[0] while the runtime's
  // close-on-exec fds are still open, so /proc/self/fd/N/../.. would run a host binary.
  const probe = ['sh', '-c', 'if [ "$(stat -L -c %d:%i /proc/self/exe)" = "$(stat -c %d:%i /bin/busybox)" ]; then echo container-binary; else echo HOST-BINARY; fi'];
  const viaFd = (fd: number) => `/proc/self/fd/${fd}/../../../../../../../bin/busybox`;

  test('process.args[0] through /proc/self/fd/3..9 is refused', () => {
    const b = bundle(['true']);
    const seen = fds.map((fd) => {
      b.config.process.args = [viaFd(fd), ...probe];
      b.write();
      const id = uniqueId('argfd');
      try {
        return outcome(fd, rt.run(['run', '-b', b.dir, id]), `/proc/self/fd/${fd}`);
      } finally {
        del(id);
      }
    });
    expect(seen).toEqual(fds.map(refused));
  });

  test('exec of /proc/self/fd/N/../.. is refused', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('argexec');
    try {
      expect(rt.run(['run', '-d', '-b', b.dir, id]).stderr).toBe('');
      const seen = fds.map((fd) => outcome(fd, rt.run(['exec', id, viaFd(fd), ...probe]), `/proc/self/fd/${fd}`));
      expect(seen).toEqual(fds.map(refused));
    } finally {
      del(id);
    }
  });

  test('a created init holds no fd a ptrace-capable container process can climb out of', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('initfds');
    try {
      expect(rt.run(['create', '-b', b.dir, id]).stderr).toBe('');
      const script = 'for f in /proc/1/fd/*; do if [ -d "$f" ]; then echo "dir $f"; ls -a "$f/" "$f/.." "$f/../.." "$f/../../.."; fi; done; echo done';
      const r = rt.run(['exec', '--cap', 'CAP_SYS_PTRACE', id, 'sh', '-c', script]);
      expect(r.stdout).toContain('done');
      expect(sawHost(r.stdout)).toBe(false);
      // The init can still be started after that.
      expect(rt.run(['start', id]).status).toBe(0);
      expect(JSON.parse(rt.run(['state', id]).stdout).status).toBe('running');
    } finally {
      del(id);
    }
  });
});

// ---------------------------------------------------------------------------------------------

const MARK = 'size=7336k'; // the tmpfs of the race test, recognisable in mountinfo

function mountPoints(mountinfo: string, needle: string): string[] {
  return mountinfo
    .split('\n')
    .filter((l) => l.includes(needle))
    .map((l) => l.split(' ')[4]);
}

function hostMountinfo(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
}

/** Undo a mount that leaked onto the host (never the host's "/" itself: said, not touched). */
function unmountLeaks(lines: string[]): string[] {
  const points = lines.map((l) => l.split(' ')[4]);
  for (const p of points.reverse()) if (p !== '/') spawnSync('umount', ['-l', p]);
  return points;
}

const SWAPPER = `
const koffi = require(process.argv[2]);
const lib = koffi.load('libc.so.6');
const renameat2 = lib.func('int renameat2(int, const char *, int, const char *, unsigned int)');
const a = process.argv[3] + '/x', b = process.argv[3] + '/y';
const parent = process.ppid;
process.stdout.write('ready\\n');
for (let i = 1; ; i++) {
  renameat2(-100, a, -100, b, 2 /* RENAME_EXCHANGE */);
  if ((i & 1023) === 0 && process.ppid !== parent) process.exit(0); // the test died: stop
}
`;

describe('mount destination swapped for a symlink during create (CVE-2021-30465 class)', () => {
  let swapper: ChildProcess | undefined;
  afterEach(async () => {
    const s = swapper;
    swapper = undefined;
    if (!s?.pid || s.exitCode !== null || s.signalCode !== null) return;
    // Waited for: a child left running (or unreaped) keeps jest's process from exiting.
    const gone = new Promise((r) => s.once('exit', r));
    s.kill('SIGKILL');
    await gone;
  });

  test('a tmpfs under a shared volume never lands outside the volume', async () => {
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-race-'));
    scratch.push(shared);
    fs.mkdirSync(path.join(shared, 'x'));
    fs.symlinkSync('/', path.join(shared, 'y'));
    const b = bundle(['sleep', '1000'], (c) => {
      c.mounts.push({ destination: '/data', type: 'bind', source: shared, options: ['rbind'] });
      c.mounts.push({ destination: '/data/x', type: 'tmpfs', source: 'tmpfs', options: [MARK] });
    });
    const script = path.join(shared, '..', `${path.basename(shared)}-swapper.js`);
    fs.writeFileSync(script, SWAPPER);
    scratch.push(script);
    swapper = spawn(process.execPath, [script, require.resolve('koffi'), shared], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      swapper!.stdout!.once('data', () => resolve());
      swapper!.once('exit', (code) => reject(new Error(`swapper exited: ${code}`)));
    });
    const hostBefore = new Set(hostMountinfo());
    const escapes: string[] = [];
    let ok = 0, failed = 0;
    const deadline = Date.now() + 90000;
    for (let i = 0; i < 30 && Date.now() < deadline; i++) {
      const id = uniqueId('race');
      try {
        const r = rt.run(['create', '-b', b.dir, id]);
        if (r.status === 0) {
          ok++;
          const pid = JSON.parse(rt.run(['state', id]).stdout).pid;
          const points = mountPoints(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'), MARK);
          // The tmpfs sits on the volume's directory, wherever the swapper has moved its name.
          if (points.length !== 1 || !['/data/x', '/data/y'].includes(points[0])) escapes.push(`create ${i}: the tmpfs is at ${JSON.stringify(points)} in the container`);
        } else {
          failed++;
          if (!oneLine(r.stderr) || !r.stderr.includes('/data/x')) escapes.push(`create ${i}: unclear failure: ${r.stderr.trim()}`);
        }
      } finally {
        del(id);
        const leaked = hostMountinfo().filter((l) => !hostBefore.has(l) && l.includes(MARK));
        if (leaked.length) escapes.push(`create ${i}: host mounts gained ${JSON.stringify(unmountLeaks(leaked))}`);
      }
    }
    console.log(`race: ${ok} creates succeeded, ${failed} refused, ${escapes.length} escapes`);
    expect(escapes).toEqual([]);
    expect(ok + failed).toBeGreaterThanOrEqual(10);
  });
});

// ---------------------------------------------------------------------------------------------

describe('exec into a container without a pid namespace', () => {
  test('--cwd /proc/self/task/<another thread of the helper>/root never reaches the host', () => {
    const b = bundle(['sleep', '1000'], (c) => (c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== 'pid')));
    const id = uniqueId('nopid');
    const landed: string[] = [];
    let refused = 0;
    try {
      expect(rt.run(['run', '-d', '-b', b.dir, id]).stderr).toBe('');
      // The helper's threads are the next pids after the last one the kernel handed out: guess
      // a range of them, a few times over (each attempt is a fresh helper).
      for (let attempt = 0; attempt < 45; attempt++) {
        const last = Number(fs.readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
        const guess = last + 4 + (attempt % 15);
        const cwd = `/proc/self/task/${guess}/root`;
        const r = rt.run(['exec', '--cwd', cwd, id, 'sh', '-c', 'ls -a tmp; ls -a']);
        if (sawHost(r.stdout)) landed.push(`${cwd}: ${r.stdout.split('\n').slice(0, 3).join(' ')}`);
        if (r.status !== 0) {
          refused++;
          expect(oneLine(r.stderr)).toBe(true);
          expect(r.stderr).toContain(cwd);
        }
      }
    } finally {
      del(id);
    }
    console.log(`no pid namespace: ${refused} of 45 guessed thread roots refused, ${landed.length} reached the host`);
    expect(landed).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('masking with a /dev/null the container controls (runc CVE-2025-31133 class)', () => {
  test('a /dev/null symlinked to a procfs file is not bound over a masked path', () => {
    // /dev bound from a host directory (a volume the container's owner fills): no device is made
    // there, and its "null" is a symlink to a writable, host-wide procfs file.
    const dev = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-dev-'));
    scratch.push(dev);
    fs.symlinkSync('/proc/sys/kernel/core_pattern', path.join(dev, 'null'));
    // Only reads: the same inode at /proc/keys would mean the container could write core_pattern.
    const b = bundle(['sh', '-c', 'stat -L -c %i /proc/sys/kernel/core_pattern /proc/keys'], (c) => {
      c.mounts = c.mounts.filter((m: any) => !m.destination.startsWith('/dev'));
      c.mounts.push({ destination: '/dev', type: 'bind', source: dev, options: ['rbind'] });
      c.linux.maskedPaths = ['/proc/keys'];
    });
    const id = uniqueId('devnull');
    try {
      const r = rt.run(['run', '-b', b.dir, id]);
      const [a, k] = r.stdout.trim().split('\n');
      expect({ sameInode: a !== undefined && a === k }).toEqual({ sameInode: false });
      expect(r.status).not.toBe(0);
      expect(oneLine(r.stderr)).toBe(true);
      expect(r.stderr).toContain('/dev/null');
    } finally {
      del(id);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('proc and sysfs only on ordinary directories', () => {
  test.each([
    ['/proc', 'proc'],
    ['/sys', 'sys'],
  ])('a rootfs whose %s is a symlink is refused', (dest, name) => {
    const b = bundle(['true']);
    const at = path.join(b.dir, 'rootfs', name);
    fs.rmSync(at, { recursive: true, force: true });
    fs.mkdirSync(path.join(b.dir, 'rootfs', 'elsewhere'));
    fs.symlinkSync('/elsewhere', at);
    const id = uniqueId('proclink');
    try {
      const r = rt.run(['run', '-b', b.dir, id]);
      expect(r.status).not.toBe(0);
      expect(oneLine(r.stderr)).toBe(true);
      expect(r.stderr).toContain(dest);
      expect(r.stderr).toMatch(/symlink|ordinary directory/);
    } finally {
      del(id);
    }
  });
});
