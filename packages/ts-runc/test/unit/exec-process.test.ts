import { execProcessFromFlags, type ExecFlags } from '../../src/plan/exec-process';

const flags = (over: Partial<ExecFlags>): ExecFlags => ({ args: ['sh'], env: [], additionalGids: [], tty: false, caps: [], noNewPrivs: false, ...over });

describe('exec --cap', () => {
  test('adds to bounding, effective and permitted only, never to inheritable or ambient (CVE-2022-29162)', () => {
    const config = {
      ociVersion: '1.0.2',
      root: { path: 'rootfs' },
      process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 }, capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'], inheritable: [], ambient: [] } },
    };
    const p = execProcessFromFlags(config as never, flags({ caps: ['CAP_SYS_PTRACE'] }));
    expect(p.capabilities).toEqual({
      bounding: ['CAP_CHOWN', 'CAP_SYS_PTRACE'],
      effective: ['CAP_CHOWN', 'CAP_SYS_PTRACE'],
      permitted: ['CAP_CHOWN', 'CAP_SYS_PTRACE'],
      inheritable: [],
      ambient: [],
    });
  });

  test('a config without capabilities gets the cap in the three sets only', () => {
    const config = { ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } } };
    const p = execProcessFromFlags(config as never, flags({ caps: ['CAP_NET_ADMIN'] }));
    expect(p.capabilities).toEqual({ bounding: ['CAP_NET_ADMIN'], effective: ['CAP_NET_ADMIN'], permitted: ['CAP_NET_ADMIN'] });
  });
});
