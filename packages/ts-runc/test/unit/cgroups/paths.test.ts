import { cleanPath, detectHierarchies, hierarchyDir, parseMountInfo, parseProcCgroup, resolveInnerPath } from '../../../src/cgroups/paths';
import { describeCgroups } from '../../../src/cgroups/manager';

const HYBRID = `
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup rw shared:9 - tmpfs tmpfs rw,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw
35 33 0:30 / /sys/fs/cgroup/systemd rw shared:11 - cgroup cgroup rw,xattr,name=systemd
36 33 0:31 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct
37 33 0:32 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory
38 33 0:33 / /sys/fs/cgroup/pids rw shared:14 - cgroup cgroup rw,pids
`;
const V2 = `33 25 0:28 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`;
const V1 = `37 33 0:32 / /sys/fs/cgroup/memory rw shared:13 - cgroup cgroup rw,memory\n38 33 0:33 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n`;

describe('detection', () => {
  test('mountinfo parsing unescapes and splits super options', () => {
    const m = parseMountInfo('40 33 0:40 / /tmp/a\\040b rw - cgroup2 cgroup2 rw,nsdelegate\n');
    expect(m).toEqual([{ root: '/', mountPoint: '/tmp/a b', fstype: 'cgroup2', superOptions: ['rw', 'nsdelegate'] }]);
  });
  test('hybrid: v1 controllers (co-mounted ones share a mount) plus unified', () => {
    const h = detectHierarchies(HYBRID);
    expect(h.mode).toBe('hybrid');
    expect(h.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(Object.keys(h.v1).sort()).toEqual(['cpu', 'cpuacct', 'memory', 'name=systemd', 'pids']);
    expect(h.v1.cpuacct.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
  });
  test('pure v2 and pure v1', () => {
    expect(detectHierarchies(V2)).toEqual({ mode: 'v2', unified: { mountPoint: '/sys/fs/cgroup', root: '/' }, v1: {} });
    const v1 = detectHierarchies(V1);
    expect(v1.mode).toBe('v1');
    expect(v1.v1.pids.root).toBe('/docker/abc');
  });
  test('no cgroup mount is an error', () => {
    expect(() => detectHierarchies('1 0 0:1 / / rw - ext4 /dev/sda rw\n')).toThrow('no cgroup filesystem is mounted at /sys/fs/cgroup');
  });
  test('/proc/self/cgroup parsing', () => {
    expect(parseProcCgroup('12:cpu,cpuacct:/a\n1:name=systemd:/b\n0::/c\n')).toEqual({ cpu: '/a', cpuacct: '/a', 'name=systemd': '/b', '': '/c' });
  });
});

describe('cgroupsPath resolution (runc semantics)', () => {
  test('cleanPath keeps relative paths relative and inside', () => {
    expect(cleanPath('/a/../b/')).toBe('/b');
    expect(cleanPath('../../x/y')).toBe('x/y');
    expect(cleanPath('a/./b')).toBe('a/b');
    expect(cleanPath('/')).toBe('/');
    expect(cleanPath('')).toBe('');
  });
  test('unset -> the container id, relative', () => {
    expect(resolveInnerPath({ id: 'c1' })).toBe('c1');
    expect(resolveInnerPath({ id: 'c1', cgroupsPath: '/machine/c1' })).toBe('/machine/c1');
    expect(resolveInnerPath({ id: 'c1', cgroupsPath: 'pod/c1' })).toBe('pod/c1');
  });
  test('--systemd-cgroup: format check, then a clear error without systemd', () => {
    expect(() => resolveInnerPath({ id: 'c', cgroupsPath: '/a/b', systemd: true, systemdRunning: () => false })).toThrow(
      'expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, got "/a/b" instead',
    );
    expect(() => resolveInnerPath({ id: 'c', cgroupsPath: 'system.slice:runc:c', systemd: true, systemdRunning: () => false })).toThrow(
      /systemd cgroup flag passed, but systemd support for managing cgroups is not available/,
    );
  });
  test('hierarchy dirs: absolute under the mount, relative under our own cgroup (v2: its parent)', () => {
    const m = { mountPoint: '/sys/fs/cgroup/memory', root: '/' };
    expect(hierarchyDir(m, '/x', '/process_api/abc')).toBe('/sys/fs/cgroup/memory/x');
    expect(hierarchyDir(m, 'x', '/process_api/abc')).toBe('/sys/fs/cgroup/memory/process_api/abc/x');
    expect(hierarchyDir({ mountPoint: '/sys/fs/cgroup', root: '/' }, 'x', '/user.slice/session-1.scope', true)).toBe('/sys/fs/cgroup/user.slice/x');
    expect(hierarchyDir({ mountPoint: '/sys/fs/cgroup/pids', root: '/docker/abc' }, 'x', '/docker/abc/sub')).toBe('/sys/fs/cgroup/pids/sub/x');
  });
  test('describeCgroups on a hybrid machine: every v1 controller plus the unified dir', () => {
    const d = describeCgroups({ id: 'c1', hierarchies: detectHierarchies(HYBRID), ownCgroup: { memory: '/process_api/abc', '': '/' } });
    expect(d).toEqual({
      driver: 'v1',
      mode: 'hybrid',
      path: 'c1',
      created: [],
      paths: {
        'name=systemd': '/sys/fs/cgroup/systemd/c1',
        cpu: '/sys/fs/cgroup/cpu,cpuacct/c1',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct/c1',
        memory: '/sys/fs/cgroup/memory/process_api/abc/c1',
        pids: '/sys/fs/cgroup/pids/c1',
        '': '/sys/fs/cgroup/unified/c1',
      },
    });
    const v2 = describeCgroups({ id: 'c1', cgroupsPath: '/m/c1', hierarchies: detectHierarchies(V2), ownCgroup: {} });
    expect(v2).toEqual({ driver: 'v2', mode: 'v2', path: '/m/c1', paths: { '': '/sys/fs/cgroup/m/c1' }, created: [], root: '/sys/fs/cgroup' });
  });
});
