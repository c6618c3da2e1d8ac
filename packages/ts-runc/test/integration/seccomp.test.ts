import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { containerSuite, uniqueId } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';
import { podmanProfile } from '../helpers/seccomp-profiles';

jest.setTimeout(60000);

const suite = containerSuite('sc');
const { bundle } = suite;

const { runIn } = suite;

const denyMkdir = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
const MKDIR = ['sh', '-c', 'mkdir /tmp/d; echo rc=$?; echo alive'];

describe('seccomp in real containers', () => {
  test('a profile denying mkdir with errnoRet 1: mkdir fails with EPERM, the rest runs', () => {
    const r = runIn(MKDIR, (c) => (c.linux.seccomp = denyMkdir));
    expect(r.stderr).toContain("mkdir: can't create directory '/tmp/d': Operation not permitted");
    expect(r.stdout).toBe('rc=1\nalive\n');
    expect(r.status).toBe(0);
  });

  test('errnoRet picks the errno (ENOSYS 38); without it EPERM', () => {
    const r = runIn(MKDIR, (c) => (c.linux.seccomp = { ...denyMkdir, syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }] }));
    expect(r.stderr).toContain('Function not implemented');
    const d = runIn(MKDIR, (c) => (c.linux.seccomp = { ...denyMkdir, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
    expect(d.stderr).toContain('Operation not permitted');
  });

  test('without noNewPrivileges and without CAP_SYS_ADMIN the filter is loaded before the caps go', () => {
    const r = runIn(MKDIR, (c) => {
      c.process.noNewPrivileges = false;
      c.linux.seccomp = denyMkdir;
    });
    expect(r.stdout).toBe('rc=1\nalive\n');
    expect(r.status).toBe(0);
    // and the container's NoNewPrivs flag stays off
    const s = runIn(['grep', 'NoNewPrivs', '/proc/self/status'], (c) => {
      c.process.noNewPrivileges = false;
      c.linux.seccomp = denyMkdir;
    });
    expect(s.stdout.replace(/\s+/g, ' ').trim()).toBe('NoNewPrivs: 0');
  });

  test('Seccomp mode 2 is set in the container process; argument filters match (kill with signal 0 only)', () => {
    const r = runIn(['sh', '-c', 'grep "^Seccomp:" /proc/self/status; kill -0 1; echo k0=$?; kill -CONT 1; echo kcont=$?'], (c) => {
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 1, args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 0 }] }] };
    });
    expect(r.stdout.replace(/[ \t]+/g, ' ')).toBe('Seccomp: 2\nk0=1\nkcont=0\n');
  });

  test('flags TSYNC, LOG and SPEC_ALLOW are accepted; SCMP_ACT_KILL_PROCESS kills with SIGSYS', () => {
    const r = runIn(MKDIR, (c) => (c.linux.seccomp = { ...denyMkdir, flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }));
    expect(r.stdout).toBe('rc=1\nalive\n');
    const k = runIn(['mkdir', '/tmp/k'], (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }] }));
    expect(k.status).toBe(128 + 31);
  });

  test('the podman default profile still runs busybox and blocks what it should', () => {
    const prof = podmanProfile();
    if (!prof) return;
    const r = runIn(['sh', '-c', 'echo hi; ls / >/dev/null && echo ls-ok; mkdir /tmp/x && echo mkdir-ok; unshare -r true 2>/dev/null; echo unshare=$?'], (c) => (c.linux.seccomp = prof));
    expect(r.stdout).toBe('hi\nls-ok\nmkdir-ok\nunshare=1\n');
    expect(r.status).toBe(0);
  });

  test('a deny-by-default profile without close_range, loaded before the capabilities go: the process runs', () => {
    const prof = podmanProfile();
    expect(prof).not.toBeNull(); // containers-common comes with podman (scripts/setup)
    for (const s of prof.syscalls) s.names = s.names.filter((n: string) => n !== 'close_range');
    expect(JSON.stringify(prof)).not.toContain('close_range');
    const r = runIn(['sh', '-c', 'echo ran; ls /proc/self/fd | wc -l'], (c) => {
      c.linux.seccomp = prof;
      c.process.noNewPrivileges = false; // so the filter is loaded early, while CAP_SYS_ADMIN is still held
    });
    expect(r.stderr).toBe('');
    // sh's fds: 0-2 and the one ls opens for the directory; no runtime fd leaked.
    expect(r.stdout).toBe('ran\n4\n');
    expect(r.status).toBe(0);
  });

  test('SCMP_ACT_NOTIFY: the listener gets the fd with the state; without an answer the call fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-notify-'));
    const sock = path.join(dir, 'agent.sock');
    const out = path.join(dir, 'got.json');
    const agent = spawn('python3', ['-c', `
import socket, json, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
open(sys.argv[1] + '.ready', 'w').close()
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 65536, 4)
st = json.loads(msg)
st['fdLink'] = [os.readlink('/proc/self/fd/%d' % f) for f in fds]
open(sys.argv[2], 'w').write(json.dumps(st))
for f in fds: os.close(f)
`, sock, out], { stdio: 'inherit' });
    try {
      await waitFor('the seccomp agent to listen', () => fs.existsSync(sock + '.ready') || agent.exitCode !== null);
      expect(fs.existsSync(sock + '.ready')).toBe(true);
      const id = uniqueId('notify');
      const b = bundle(['sh', '-c', 'mkdir /tmp/n; echo rc=$?'], (c) => {
        c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, listenerMetadata: 'meta-1', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }] };
      });
      const r = suite.rt.run(['run', '-b', b.dir, id]);
      expect(r.stdout).toBe('rc=1\n');
      expect(r.stderr).toContain('Function not implemented');
      const got = JSON.parse(fs.readFileSync(out, 'utf8'));
      expect(got).toMatchObject({ fds: ['seccompFd'], metadata: 'meta-1', state: { id, status: 'creating', bundle: b.dir } });
      expect(got.pid).toBeGreaterThan(1);
      expect(got.fdLink).toEqual(['anon_inode:seccomp notify']);
    } finally {
      agent.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SCMP_ACT_NOTIFY and exec: the listener gets a new fd for the exec\'d process, with the running state', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sc-notify-exec-'));
    const sock = path.join(dir, 'agent.sock');
    // Two connections: the container's start, then the exec; each message is written to got-N.json.
    const agent = spawn('python3', ['-c', `
import socket, json, os, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(2)
open(sys.argv[1] + '.ready', 'w').close()
for n in range(2):
    c, _ = s.accept()
    msg, fds, _, _ = socket.recv_fds(c, 65536, 4)
    st = json.loads(msg)
    st['fdLink'] = [os.readlink('/proc/self/fd/%d' % f) for f in fds]
    for f in fds: os.close(f)
    open(os.path.join(sys.argv[2], 'got-%d.json' % n), 'w').write(json.dumps(st))
`, sock, dir], { stdio: 'inherit' });
    const id = uniqueId('notifyexec');
    try {
      await waitFor('the seccomp agent to listen', () => fs.existsSync(sock + '.ready') || agent.exitCode !== null);
      expect(fs.existsSync(sock + '.ready')).toBe(true);
      const b = bundle(['sleep', '1000'], (c) => {
        c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: sock, listenerMetadata: 'meta-x', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }] };
      });
      expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
      const r = suite.rt.run(['exec', id, 'sh', '-c', 'mkdir /tmp/e; echo rc=$?']);
      expect(r.stdout).toBe('rc=1\n');
      expect(r.stderr).toContain('Function not implemented'); // the agent closed its fd: no answer
      // The agent writes what it got after the exec's fd was passed; the exec may finish first.
      await waitFor('the agent to record the exec\'s message', () => fs.existsSync(path.join(dir, 'got-1.json')) || agent.exitCode !== null);
      const got = JSON.parse(fs.readFileSync(path.join(dir, 'got-1.json'), 'utf8'));
      expect(got).toMatchObject({ fds: ['seccompFd'], metadata: 'meta-x', state: { id, status: 'running', bundle: b.dir } });
      expect(got.fdLink).toEqual(['anon_inode:seccomp notify']);
    } finally {
      suite.rt.run(['delete', '-f', id]);
      agent.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad profiles fail create with the field named, and leave nothing behind', () => {
    const cases: Array<[any, string]> = [
      [{ ...denyMkdir, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }, { names: ['rmdir'], action: 'SCMP_ACT_FOO' }] }, 'linux.seccomp.syscalls[1].action'],
      [{ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[0]'],
      [{ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'linux.seccomp.listenerPath: must be set'],
      [{ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/nonexistent/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }, 'linux.seccomp.listenerPath: cannot connect to /nonexistent/agent.sock: no such file or directory'],
    ];
    for (const [prof, msg] of cases) {
      const b = bundle(['true'], (c) => (c.linux.seccomp = prof));
      const id = uniqueId('bad');
      const r = suite.rt.run(['create', '-b', b.dir, id]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(suite.rt.ids()).toEqual([]);
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.dir);
      expect(fs.existsSync(`/sys/fs/cgroup/memory/${id}`) || fs.existsSync(`/sys/fs/cgroup/unified/${id}`)).toBe(false);
    }
  });
});
