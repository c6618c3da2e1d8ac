import { compile } from '../../src/plan/compile';
import { defaultSpec } from '../../src/lifecycle/spec';
import { MS_BIND, MS_REC, MS_RDONLY, MS_NOSUID, MS_SLAVE, MS_PRIVATE, S_IFCHR, S_IFBLK } from '@tsrt/libc';

function spec(edit?: (s: any) => void): any {
  const s: any = defaultSpec(false);
  s.process.terminal = false;
  edit?.(s);
  return s;
}
const warnings: string[] = [];
const ctx = { bundle: '/b', noPivot: false, lastCap: 40, warn: (m: string) => warnings.push(m), isDir: (p: string) => !p.endsWith('.conf') };

describe('config.json -> init plan', () => {
  test('rootfs relative to the bundle, default propagation rslave, cgroup ns unshared in stage 2', () => {
    const { plan, rootfs, namespaces } = compile(spec(), ctx);
    expect(rootfs).toBe('/b/rootfs');
    expect(plan.rootPropagation).toBe(MS_SLAVE | MS_REC);
    expect(plan.newCgroupNs).toBe(true);
    expect(namespaces.create).toEqual(['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
  });

  test('bind mounts: source relative to the bundle, file targets, ro via remount', () => {
    const { plan } = compile(spec((s) => s.mounts.push({ destination: 'etc/x.conf', type: 'bind', source: 'x.conf', options: ['rbind', 'ro', 'nosuid', 'rprivate'] })), ctx);
    const m = plan.mounts[plan.mounts.length - 1];
    expect(m).toEqual({
      source: '/b/x.conf', destination: '/etc/x.conf', fstype: 'bind', flags: MS_BIND | MS_REC, data: '',
      propagation: [MS_PRIVATE | MS_REC], remountFlags: MS_RDONLY | MS_NOSUID, isFile: true, recursive: null, tmpcopyup: false, idmap: null,
    });
  });

  test('tmpfs data options', () => {
    const dev = compile(spec(), ctx).plan.mounts.find((m) => m.destination === '/dev');
    expect(dev).toMatchObject({ fstype: 'tmpfs', flags: MS_NOSUID | 0x1000000, data: 'mode=755,size=65536k', remountFlags: null });
  });

  test('default devices plus configured ones; none when /dev is bound from the host', () => {
    const { plan } = compile(spec((s) => (s.linux.devices = [{ type: 'b', path: '/dev/sda', major: 8, minor: 0, fileMode: 0o600, uid: 1, gid: 2 }])), ctx);
    expect(plan.devices.map((d) => d.path)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/sda']);
    expect(plan.devices[0].mode).toBe(S_IFCHR | 0o666);
    expect(plan.devices[6]).toEqual({ path: '/dev/sda', strict: true, mode: S_IFBLK | 0o600, major: 8, minor: 0, uid: 1, gid: 2 });
    const bound = compile(spec((s) => (s.mounts[1] = { destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] })), ctx);
    expect(bound.plan.devices).toEqual([]);
    expect(bound.plan.defaultDevices).toBe(false);
  });

  test('capabilities become masks; unknown names are errors naming the field', () => {
    const { plan } = compile(spec(), ctx);
    expect(plan.process.caps?.effective).toBe(String((1n << 29n) | (1n << 5n) | (1n << 10n)));
    expect(() => compile(spec((s) => s.process.capabilities.bounding.push('CAP_NOPE')), ctx)).toThrow('process.capabilities.bounding: unknown capability "CAP_NOPE"');
  });

  test('capabilities above the kernel last cap are dropped with a warning', () => {
    warnings.length = 0;
    const { plan } = compile(spec((s) => (s.process.capabilities.permitted = ['CAP_CHECKPOINT_RESTORE'])), { ...ctx, lastCap: 39 });
    expect(plan.process.caps?.permitted).toBe('0');
    expect(warnings[0]).toContain('CAP_CHECKPOINT_RESTORE');
  });

  test('rlimits: unknown type and soft above hard are errors', () => {
    expect(() => compile(spec((s) => (s.process.rlimits = [{ type: 'RLIMIT_BOGUS', soft: 1, hard: 1 }])), ctx)).toThrow('process.rlimits[0].type: unknown rlimit type "RLIMIT_BOGUS"');
    expect(() => compile(spec((s) => (s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }])), ctx)).toThrow('process.rlimits[0]');
    expect(compile(spec(), ctx).plan.process.rlimits).toEqual([{ resource: 7, name: 'RLIMIT_NOFILE', soft: '1024', hard: '1024' }]);
  });

  test('user defaults: umask 0022, no extra groups', () => {
    const p = compile(spec(), ctx).plan.process;
    expect(p).toMatchObject({ uid: 0, gid: 0, umask: 0o022, additionalGids: [], noNewPrivileges: true });
  });

  test('no mount namespace: the runtime namespace is used (hostMountNs), as runc and crun do', () => {
    const { plan } = compile(spec((s) => (s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'mount'))), ctx);
    expect(plan.hostMountNs).toBe(true);
    expect(compile(spec(), ctx).plan.hostMountNs).toBe(false);
  });

  test('missing pieces are named', () => {
    expect(() => compile(spec((s) => (s.process.args = [])), ctx)).toThrow('process.args');
    expect(() => compile(spec((s) => (s.process.cwd = 'rel')), ctx)).toThrow('process.cwd');
    expect(() => compile(spec((s) => s.linux.namespaces.push({ type: 'pid' })), ctx)).toThrow('duplicate namespace "pid"');
    expect(() => compile(spec((s) => (s.linux.rootfsPropagation = 'weird')), ctx)).toThrow('linux.rootfsPropagation');
  });

  test('joined namespaces keep their path', () => {
    const { namespaces } = compile(spec((s) => (s.linux.namespaces[1] = { type: 'network', path: '/proc/1/ns/net' })), ctx);
    expect(namespaces.join).toEqual([{ type: 'network', path: '/proc/1/ns/net' }]);
    expect(namespaces.create).not.toContain('network');
  });
});

describe('NUL bytes in config strings', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { findNulByte } = require('../../src/plan/nul-byte') as typeof import('../../src/plan/nul-byte');
  test('the first string with a NUL byte is named by its field path; annotations may hold anything', () => {
    expect(findNulByte({ hostname: 'a', mounts: [{ destination: '/proc' }, { destination: '/x\0y' }] })).toBe('mounts[1].destination');
    expect(findNulByte({ process: { env: ['A=1', 'B=\0'] } })).toBe('process.env[1]');
    expect(findNulByte({ linux: { sysctl: { 'net.ipv4\0.x': '1' } } })).toBe('linux.sysctl (a key)');
    expect(findNulByte({ annotations: { a: '\0' }, hostname: 'h' })).toBeNull();
    expect(findNulByte({ process: { args: ['sh'] } })).toBeNull();
  });
});
