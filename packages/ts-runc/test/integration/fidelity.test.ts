// Configs that runc and crun run: ts-runc must run them the same way.
import * as fs from 'fs';
import { containerSuite, uniqueId, runtime, leftoverCgroupDirs } from '../helpers/runtime';
import { unmountBelow } from '../e2e/helpers';

jest.setTimeout(60000);

const suite = containerSuite('fid');

/** `cmd` prints the same in ts-runc and runc, run from one bundle (the rootfs mount names its path). */
function expectSameAsRunc(cmd: string[], edit?: (c: any) => void): void {
  const b = suite.bundle(cmd, edit);
  const ours = suite.rt.run(['run', '-b', b.dir, uniqueId('fid')]);
  expect(ours.stderr).toBe('');
  const runc = runtime('/usr/sbin/runc');
  try {
    const theirs = runc.run(['run', '-b', b.dir, uniqueId('fid-runc')]);
    expect(theirs.stderr).toBe('');
    expect(ours.stdout).toBe(theirs.stdout);
  } finally {
    runc.cleanup();
  }
}

describe('hostname with a uts namespace joined by path', () => {
  test('is set in the joined namespace, as runc does', () => {
    const a = suite.bundle(['sleep', '1000'], (c) => (c.hostname = 'first'));
    const ida = uniqueId('fid-uts');
    expect(suite.rt.run(['run', '-d', '-b', a.dir, ida]).stderr).toBe('');
    const pid = JSON.parse(suite.rt.run(['state', ida]).stdout).pid;
    const r = suite.runIn(['hostname'], (c) => {
      c.hostname = 'joined-name';
      c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === 'uts' ? { type: 'uts', path: `/proc/${pid}/ns/uts` } : n));
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('joined-name');
    // The same namespace: the first container sees the new name.
    expect(suite.rt.run(['exec', ida, 'hostname']).stdout.trim()).toBe('joined-name');
  });

  test('without any uts namespace, hostname and domainname are refused with runc\'s words', () => {
    for (const field of ['hostname', 'domainname'] as const) {
      const r = suite.runIn(['true'], (c) => {
        c[field] = 'x';
        if (field === 'domainname') delete c.hostname;
        c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'uts');
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`unable to set ${field} without a private UTS namespace`);
    }
  });
});

describe('the container\'s mount table', () => {
  test('the whole mount table is the one runc makes for the same config, read-only where runc\'s is', () => {
    // Per mount: mount point, root, per-mount options (rw/ro...), filesystem type and its
    // options (the fields after " - "; optional fields vary in number). Docker saw a read-only
    // tmpfs at /sys/fs/cgroup; comparing every line catches the class.
    const cmd = ['sh', '-c', "sed 's/^[^ ]* [^ ]* [^ ]* \\([^ ]*\\) \\([^ ]*\\) \\([^ ]*\\).* - \\([^ ]*\\) [^ ]* \\(.*\\)/\\2 \\1 \\3 \\4 \\5/' /proc/self/mountinfo | sort"];
    expectSameAsRunc(cmd);
    // As containerd and Docker write it: /proc nosuid,noexec,nodev (the read-only /proc/sys
    // and the masks keep those flags), a read-only root.
    expectSameAsRunc(cmd, (c) => {
      c.mounts.find((m: { destination: string }) => m.destination === '/proc').options = ['nosuid', 'noexec', 'nodev'];
      c.root.readonly = true;
    });
  });
});

describe('the process\'s view', () => {
  test('credentials, capabilities, signals, limits, /dev, environment, ids are runc\'s for the same config', () => {
    // What engines and programs read of their own process: any difference is one users see.
    const cmd = ['sh', '-c', [
      'grep -E "^(Cap|NoNewPrivs|Seccomp|Sig(Ign|Blk)|Uid|Gid|Groups|Umask|Speculation|Cpus_allowed_list)" /proc/self/status',
      'cat /proc/self/limits',
      // Dates vary: only modes, owners, sizes and names.
      "ls -ln /dev /dev/pts /dev/shm /dev/mqueue | sed 's/[A-Z][a-z][a-z] .*[0-9][0-9]:[0-9][0-9]//'",
      'env | sort', 'hostname', 'pwd', 'cat /proc/self/oom_score_adj', 'ls /sys/fs/cgroup',
      // /proc's link count follows the host's process count.
      "ls -la / | grep -v ' proc$' | sed 's/[A-Z][a-z][a-z] .*[0-9][0-9]:[0-9][0-9]//'",
    ].join('; ')];
    expectSameAsRunc(cmd);
  });
});

describe('rootfsPropagation', () => {
  // pivot_root refuses a shared new root or parent: runc makes the rootfs's parent private first.
  for (const prop of ['shared', 'rshared', 'slave', 'private', 'unbindable', 'runbindable']) {
    test(`${prop}: the container runs and its / has that propagation`, () => {
      const r = suite.runIn(['sh', '-c', "awk '$5 == \"/\"' /proc/self/mountinfo"], (c) => (c.linux.rootfsPropagation = prop));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const tags = r.stdout.split(' - ')[0].split(' ').slice(6);
      if (prop.endsWith('shared')) expect(tags.some((t) => t.startsWith('shared:'))).toBe(true);
      else if (prop.endsWith('unbindable')) expect(tags).toContain('unbindable');
      else expect(tags.some((t) => t.startsWith('shared:'))).toBe(false);
    });
  }
});

describe('a config without a mount namespace', () => {
  // config-linux.md: an absent namespace type is the runtime's. runc and crun then mount in
  // their own namespace (and leave the mounts there); ts-runc mounts below one private bind of
  // the rootfs and detaches it at delete.
  const noMountNs = (c: any) => (c.linux.namespaces = c.linux.namespaces.filter((n: { type: string }) => n.type !== 'mount'));
  /** Mount points at or below dir in our (the host's) mount namespace. */
  const mountsBelow = (dir: string): string[] => {
    const real = fs.realpathSync(dir);
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((p) => p && (p === real || p.startsWith(real + '/')));
  };
  // Whatever a test did, no mount stays below its bundle (the suite's rm -rf must not walk /sys).
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach(unmountBelow));
  const bundle = (args: string[], edit?: (c: any) => void) => {
    const b = suite.bundle(args, (c) => {
      noMountNs(c);
      edit?.(c);
    });
    fs.writeFileSync(`${b.dir}/rootfs/no-mount-ns-marker`, '');
    dirs.push(b.dir);
    return b;
  };

  test('run: the container sees its rootfs (masked, read-only), and no mount is left on the host', () => {
    const b = bundle(['sh', '-c', 'ls /no-mount-ns-marker && touch /x 2>&1; grep -c " /proc/keys " /proc/self/mountinfo'], (c) => (c.root.readonly = true));
    const r = suite.rt.run(['run', '-b', b.dir, uniqueId('fid-nomnt')]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('/no-mount-ns-marker\n');
    expect(r.stdout).toContain('Read-only file system');
    expect(r.stdout.trim().split('\n').pop()).toBe('1'); // maskedPaths: /proc/keys has /dev/null on it
    expect(mountsBelow(b.dir)).toEqual([]);
  });

  test('exec enters the container root; delete -f of a running container detaches its mounts', () => {
    const b = bundle(['sleep', '1000']);
    const id = uniqueId('fid-nomnt');
    expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).stderr).toBe('');
    expect(mountsBelow(b.dir).length).toBeGreaterThan(1); // the bind, /proc, /dev, /sys, ...
    const e = suite.rt.run(['exec', id, 'ls', '/no-mount-ns-marker']);
    expect(e.stderr).toBe('');
    expect(e.stdout).toBe('/no-mount-ns-marker\n');
    expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    expect(mountsBelow(b.dir)).toEqual([]);
  });

  test('a create that fails after mounting leaves no mount, state or cgroup', () => {
    const b = bundle(['true'], (c) => c.mounts.push({ destination: '/late', type: 'bind', source: '/nonexistent-source-dir', options: ['bind'] }));
    const id = uniqueId('fid-nomnt');
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(mountsBelow(b.dir)).toEqual([]);
    expect(suite.rt.ids()).not.toContain(id);
    expect(leftoverCgroupDirs(id)).toEqual([]);
  });
});

describe('a new network namespace', () => {
  test('has its loopback interface up, as runc brings it up (docker without a network, buildah --network none)', () => {
    const cmd = ['cat', '/sys/class/net/lo/flags'];
    const ours = suite.runIn(cmd);
    expect(ours.stderr).toBe('');
    const runc = runtime('/usr/sbin/runc');
    try {
      const theirs = runc.run(['run', '-b', suite.bundle(cmd).dir, uniqueId('fid-runc')]);
      expect(theirs.stderr).toBe('');
      expect(Number(theirs.stdout.trim()) & 1).toBe(1); // IFF_UP
      expect(ours.stdout).toBe(theirs.stdout);
    } finally {
      runc.cleanup();
    }
  });
});
