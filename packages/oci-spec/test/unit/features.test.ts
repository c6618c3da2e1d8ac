import { execFileSync } from 'child_process';
import { validate } from '../../src';
import { errorsOf, fixture } from '../helpers';

describe('features', () => {
  test('stored `runc features` output is valid', () => {
    expect(validate('features', fixture('runtime/runc-features.json'))).toEqual({ ok: true });
  });

  test('live `runc features` output is valid', () => {
    let out: string;
    try {
      out = execFileSync('runc', ['features'], { encoding: 'utf8' });
    } catch {
      return; // runc not installed
    }
    expect(validate('features', JSON.parse(out))).toEqual({ ok: true });
  });

  test('newer runtime-spec fields are accepted', () => {
    const d = fixture('runtime/runc-features.json');
    d.ociVersionMax = '1.2.1';
    d.linux.namespaces.push('time');
    d.linux.cgroup.rdma = true;
    d.linux.seccomp.knownFlags = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_FUTURE'];
    d.linux.seccomp.supportedFlags = ['SECCOMP_FILTER_FLAG_TSYNC'];
    d.linux.intelRdt = { enabled: true, schemata: true };
    d.linux.mountExtensions = { idmap: { enabled: true } };
    d.linux.netDevices = { enabled: true };
    d.potentiallyUnsafeConfigAnnotations = ['bundle', 'org.systemd.property.'];
    expect(errorsOf('features', d)).toEqual([]);
  });

  test('invalid features', () => {
    expect(errorsOf('features', {})).toEqual(['ociVersionMin: is required', 'ociVersionMax: is required']);
    const d = fixture('runtime/runc-features.json');
    d.linux.namespaces[0] = 'net';
    d.linux.capabilities[0] = 'chown';
    d.linux.cgroup.v2 = 'yes';
    d.linux.seccomp.actions[0] = 'ALLOW';
    d.linux.seccomp.operators[0] = 'EQ';
    d.linux.seccomp.archs[0] = 'amd64';
    d.mountOptions = 'ro';
    d.annotations[''] = 'x';
    expect(errorsOf('features', d)).toEqual([
      'mountOptions: must be array',
      'linux.namespaces[0]: must be one of pid, network, mount, ipc, uts, user, cgroup, time',
      'linux.capabilities[0]: must be a capability name such as CAP_CHOWN',
      'linux.cgroup.v2: must be boolean',
      'linux.seccomp.actions[0]: must be a seccomp action name SCMP_ACT_*',
      'linux.seccomp.operators[0]: must be a seccomp operator name SCMP_CMP_*',
      'linux.seccomp.archs[0]: must be a seccomp architecture name SCMP_ARCH_*',
      'annotations[""]: key must not be empty',
    ]);
  });
});
