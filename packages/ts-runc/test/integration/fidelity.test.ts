// Configs that runc and crun run: ts-runc must run them the same way.
import { containerSuite, uniqueId, runtime } from '../helpers/runtime';

jest.setTimeout(60000);

const suite = containerSuite('fid');

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
  test('the cgroup mounts are the ones runc makes for the same config', () => {
    // Mount point and filesystem type (the field after " - "; optional fields vary in number).
    const cmd = ['sh', '-c', "grep cgroup /proc/self/mountinfo | sed 's/^[^ ]* [^ ]* [^ ]* [^ ]* \\([^ ]*\\) .* - \\([^ ]*\\) .*/\\1 \\2/' | sort"];
    const ours = suite.runIn(cmd);
    expect(ours.stderr).toBe('');
    const runc = runtime('/usr/sbin/runc');
    try {
      const b = suite.bundle(cmd);
      const theirs = runc.run(['run', '-b', b.dir, uniqueId('fid-runc')]);
      expect(theirs.stderr).toBe('');
      expect(ours.stdout).toBe(theirs.stdout);
    } finally {
      runc.cleanup();
    }
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
