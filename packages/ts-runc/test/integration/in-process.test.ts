// The in-process create and exec (lifecycle/create-in-process.ts, exec-in-process.ts): which
// path a config takes, and that a failure after the init exists leaves nothing. The rest of the
// integration suite runs on whichever path each config takes, and scripts/test runs it again
// with TS_RUNC_IN_PROCESS=0 (stage 2 only).
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { TS_RUNC, containerSuite, uniqueId, leftoverCgroupDirs } from '../helpers/runtime';
import { podmanDenyingMkdir } from '../helpers/seccomp-profiles';

jest.setTimeout(60000);

const suite = containerSuite('inproc');
const inProcessAvailable = process.env.TS_RUNC_IN_PROCESS !== '0' && fs.existsSync('/usr/local/lib/ts-runc/node');

function madeInProcess(id: string): boolean {
  return JSON.parse(fs.readFileSync(path.join(suite.rt.root, id, 'state.json'), 'utf8')).inProcess === true;
}

/** create with `env` set for the runtime; the container is deleted afterwards. */
function createWith(env: Record<string, string>, edit?: (c: any) => void): { id: string; status: number | null; inProcess: boolean } {
  const b = suite.bundle(['sleep', '1000'], edit);
  const id = uniqueId('inproc');
  try {
    // Not through process.env: Jest gives the test a copy, which child_process never sees. No
    // pipes: the created container holds its stdio, and spawnSync would wait for their end.
    const r = spawnSync(TS_RUNC, ['--root', suite.rt.root, 'create', '-b', b.dir, id], { env: { ...process.env, ...env }, stdio: 'ignore', timeout: 30000 });
    const inProcess = r.status === 0 && madeInProcess(id);
    return { id, status: r.status, inProcess };
  } finally {
    suite.rt.run(['delete', '-f', id]);
  }
}

/** Processes whose command line names the container (the held init shows "ts-runc init"). */
function heldInits(): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'ts-runc init' && fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
    } catch {
      return false;
    }
  }).map(Number);
}

(inProcessAvailable ? describe : describe.skip)('which path a create takes', () => {
  test('the default config is made in process; TS_RUNC_IN_PROCESS=0 or a bigger pool take stage 2', () => {
    expect(createWith({})).toMatchObject({ status: 0, inProcess: true });
    expect(createWith({ TS_RUNC_IN_PROCESS: '0' })).toMatchObject({ status: 0, inProcess: false });
    expect(createWith({ UV_THREADPOOL_SIZE: '4' })).toMatchObject({ status: 0, inProcess: false });
  });

  test('a seccomp profile is loaded in process when it allows what the spawn does under it; else stage 2', () => {
    const seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['mknod'], action: 'SCMP_ACT_ERRNO' }] };
    expect(createWith({}, (c) => (c.linux.seccomp = seccomp))).toMatchObject({ status: 0, inProcess: true });
    // glibc's spawn takes clone only when clone3 is ENOSYS; EPERM would fail it
    const noClone3 = { ...seccomp, syscalls: [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    expect(createWith({}, (c) => (c.linux.seccomp = noClone3))).toMatchObject({ status: 0, inProcess: false });
    // TSYNC would bind the runtime's other threads too
    expect(createWith({}, (c) => (c.linux.seccomp = { ...seccomp, flags: ['SECCOMP_FILTER_FLAG_TSYNC'] }))).toMatchObject({ status: 0, inProcess: false });

    // The spawn's child closes from fd 5 (above stdio and the gate's two): a profile refusing
    // exactly that takes stage 2, one refusing another start does not concern it.
    const closeRangeFrom = (fd: number) => ({ ...seccomp, syscalls: [{ names: ['close_range'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 0, value: fd, op: 'SCMP_CMP_EQ' }] }] });
    expect(createWith({}, (c) => (c.linux.seccomp = closeRangeFrom(5)))).toMatchObject({ status: 0, inProcess: false });
    expect(createWith({}, (c) => (c.linux.seccomp = closeRangeFrom(3)))).toMatchObject({ status: 0, inProcess: true });
  });
});

(inProcessAvailable ? describe : describe.skip)('RLIMIT_NPROC (podman sets it on every container)', () => {
  test('on a root process: made in process, the same limits as through stage 2; another uid takes stage 2', () => {
    const nproc = { type: 'RLIMIT_NPROC', soft: 4000, hard: 4096 };
    const b = suite.bundle(['sh', '-c', 'ulimit -u; ulimit -Hu; ulimit -n'], (c) => (c.process.rlimits = [nproc, { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }]));
    const id = uniqueId('inproc');
    const runIt = (env: Record<string, string>) => spawnSync(TS_RUNC, ['--root', suite.rt.root, '--debug', 'run', '-b', b.dir, id], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });
    const inProc = runIt({});
    const stage2 = runIt({ TS_RUNC_IN_PROCESS: '0' });
    expect(inProc.stderr).toContain('msg="create in process"');
    expect(inProc.stdout).toBe('4000\n4096\n1024\n');
    expect(stage2.stdout).toBe(inProc.stdout);
    const other = suite.bundle(['true'], (c) => ((c.process.rlimits = [nproc]), (c.process.user = { uid: 1000, gid: 1000 })));
    const r = spawnSync(TS_RUNC, ['--root', suite.rt.root, '--debug', 'run', '-b', other.dir, uniqueId('inproc')], { encoding: 'utf8', timeout: 30000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('create through stage 2: rlimit RLIMIT_NPROC');
  });
});

(inProcessAvailable ? describe : describe.skip)('seccomp on the in-process paths', () => {
  const SHOW = ['sh', '-c', "grep -E '^(Seccomp|NoNewPrivs|CapEff)' /proc/self/status; mkdir /tmp/d; echo mkdir=$?; unshare -r true 2>/dev/null; echo unshare=$?"];
  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(TS_RUNC, ['--root', suite.rt.root, '--debug', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });

  test.each([true, false])('podman\'s default profile, noNewPrivileges %s: made in process, the process sees what stage 2 gives it', (nnp) => {
    const b = suite.bundle(SHOW, (c) => {
      c.linux.seccomp = podmanDenyingMkdir();
      c.process.noNewPrivileges = nnp; // false: the filter goes in before the credentials change
    });
    const id = uniqueId('inproc');
    const inProc = cli(['run', '-b', b.dir, id]);
    const stage2 = cli(['run', '-b', b.dir, id], { TS_RUNC_IN_PROCESS: '0' });
    expect(inProc.stderr).toContain('msg="create in process"');
    expect(stage2.stderr).not.toContain('create in process');
    expect(inProc.status).toBe(0);
    expect(inProc.stdout).toBe(stage2.stdout);
    expect(inProc.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(inProc.stdout).toMatch(new RegExp(`^NoNewPrivs:\\s+${nnp ? 1 : 0}$`, 'm'));
    expect(inProc.stdout).toContain('mkdir=1\nunshare=1\n');
  });

  test('exec into a container with a profile: in process, filtered as through the helper', () => {
    const b = suite.bundle(['sleep', '1000'], (c) => {
      c.linux.seccomp = podmanDenyingMkdir();
      c.process.noNewPrivileges = false;
    });
    const id = uniqueId('inproc');
    try {
      expect(cli(['run', '-d', '-b', b.dir, id]).status).toBe(0);
      const inProc = cli(['exec', id, ...SHOW]);
      const helper = cli(['exec', id, ...SHOW], { TS_RUNC_IN_PROCESS: '0' });
      expect(inProc.stderr).toContain('msg="exec in process"');
      expect(helper.stderr).not.toContain('exec in process');
      expect(inProc.status).toBe(0);
      expect(inProc.stdout).toBe(helper.stdout);
      expect(inProc.stdout).toMatch(/^Seccomp:\s+2$/m);
      expect(inProc.stdout).toContain('mkdir=1\nunshare=1\n');
    } finally {
      suite.rt.run(['delete', '-f', id]);
    }
  });
});

(inProcessAvailable ? describe : describe.skip)('what the container sees is the same on both paths', () => {
  test('a cgroup mount without a cgroup namespace shows the container\'s own cgroups (not the CLI\'s), as through stage 2', () => {
    const limit = 96 * 1024 * 1024;
    const b = suite.bundle(['sh', '-c', "cat /proc/self/cgroup; grep ' - cgroup ' /proc/self/mountinfo | cut -d' ' -f4,5; cat /sys/fs/cgroup/memory/memory.limit_in_bytes"], (c) => {
      c.linux.namespaces = c.linux.namespaces.filter((n: any) => n.type !== 'cgroup');
      c.linux.resources = { ...c.linux.resources, memory: { limit } };
      if (!c.mounts.some((m: any) => m.type === 'cgroup')) c.mounts.push({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
    });
    const id = uniqueId('inproc');
    const runIt = (env: Record<string, string>) => spawnSync(TS_RUNC, ['--root', suite.rt.root, '--debug', 'run', '-b', b.dir, id], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });
    const inProc = runIt({});
    const stage2 = runIt({ TS_RUNC_IN_PROCESS: '0' });
    expect(inProc.status).toBe(0);
    expect(inProc.stderr).toContain('msg="create in process"');
    expect(stage2.stderr).not.toContain('create in process');
    expect(inProc.stdout).toBe(stage2.stdout);
    // Every hierarchy bound from the container's cgroup: its own limit, and its id in the paths.
    expect(inProc.stdout).toContain(`\n${limit}\n`);
    const roots = inProc.stdout.split('\n').filter((l) => / \/sys\/fs\/cgroup\//.test(l));
    expect(roots.length).toBeGreaterThan(0);
    for (const r of roots) if (!r.endsWith('/systemd')) expect(r.split(' ')[0]).toMatch(new RegExp(`/${id}$`));
  });
});

describe('a create that fails once its init exists leaves nothing', () => {
  test('a sysctl that cannot be set (written after /proc is mounted, after the spawn)', () => {
    const before = heldInits();
    const b = suite.bundle(['true'], (c) => (c.linux.sysctl = { 'net.ipv4.no_such_key': '1' }));
    const id = uniqueId('inproc');
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('linux.sysctl: cannot set net.ipv4.no_such_key');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(suite.rt.ids()).not.toContain(id);
    expect(leftoverCgroupDirs(id)).toEqual([]);
    expect(heldInits().filter((p) => !before.includes(p))).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.dir);
  });
});

describe('the held init (created, not started)', () => {
  test('start releases it; kill and delete end it; pid file and state name it', () => {
    const b = suite.bundle(['sh', '-c', 'echo started > /started; exec sleep 1000']);
    const id = uniqueId('inproc');
    const pidFile = path.join(b.dir, 'pid');
    expect(suite.rt.run(['create', '--pid-file', pidFile, '-b', b.dir, id]).stderr).toBe('');
    const state = JSON.parse(suite.rt.run(['state', id]).stdout);
    expect(state.status).toBe('created');
    expect(fs.readFileSync(pidFile, 'utf8')).toBe(String(state.pid));
    expect(fs.existsSync(path.join(b.dir, 'rootfs/started'))).toBe(false);
    expect(suite.rt.run(['start', id]).stderr).toBe('');
    expect(JSON.parse(suite.rt.run(['state', id]).stdout).status).toBe('running');
    expect(suite.rt.run(['kill', id, 'KILL']).status).toBe(0);
    expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    expect(fs.existsSync(`/proc/${state.pid}/stat`) && !/\) Z/.test(fs.readFileSync(`/proc/${state.pid}/stat`, 'utf8'))).toBe(false);
  });

  test('delete -f of a created container kills the held init', () => {
    const b = suite.bundle(['true']);
    const id = uniqueId('inproc');
    expect(suite.rt.run(['create', '-b', b.dir, id]).status).toBe(0);
    const pid = JSON.parse(suite.rt.run(['state', id]).stdout).pid;
    expect(heldInits()).toContain(pid);
    expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    expect(heldInits()).not.toContain(pid);
  });
});
