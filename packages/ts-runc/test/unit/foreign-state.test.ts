import { checkOwnState, runcStateView, ForeignStateError } from '../../src/state/foreign';

// The fields runc 1.1.5 wrote for a container on this machine kind (hybrid cgroups), trimmed.
const runcDoc = {
  id: 'rc1',
  init_process_pid: 18677,
  init_process_start: 51311,
  created: '2026-12-03T15:31:39.120701445Z',
  config: { rootfs: '/b/rootfs', version: '1.0.2-dev', labels: ['bundle=/b', 'org.example=x=y', 'nolabel'] },
  rootless: false,
  cgroup_paths: { '': '/sys/fs/cgroup/unified/rc1', freezer: '/sys/fs/cgroup/freezer/rc1', pids: '/sys/fs/cgroup/pids/rc1' },
  namespace_paths: {},
};

test("runc's state.json is recognised and read as runc state prints it, never as ours", () => {
  let err: unknown;
  try {
    checkOwnState(runcDoc, 'rc1', '/r/rc1/state.json');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ForeignStateError);
  expect((err as Error).message).toBe('container rc1 was created by runc, not ts-runc: only state and list can read it');
  expect((err as ForeignStateError).view).toMatchObject({
    ociVersion: '1.0.2-dev',
    id: 'rc1',
    pid: 18677,
    pidStartTime: '51311',
    bundle: '/b',
    rootfs: '/b/rootfs',
    created: '2026-12-03T15:31:39.120701445Z',
    annotations: { 'org.example': 'x=y' },
    cgroup: { driver: 'v1', mode: 'hybrid', paths: runcDoc.cgroup_paths, created: [] },
  });
  // cgroup v2: one unified path, the v2 freezer.
  expect(runcStateView('r2', { ...runcDoc, cgroup_paths: { '': '/sys/fs/cgroup/r2' }, config: {} }).cgroup).toMatchObject({ driver: 'v2' });
  expect(runcStateView('r3', { ...runcDoc, config: {} })).toMatchObject({ bundle: '', rootfs: '', annotations: undefined });
});

test('a state cut short or of an unknown shape is corrupt; a whole one of ours passes', () => {
  const ours = { ociVersion: '1.2.0', id: 'a', pid: 5, bundle: '/b', rootfs: '/b/rootfs', created: 'now', config: null };
  expect(checkOwnState(ours, 'a', 'f')).toBe(ours);
  for (const bad of [[1, 2], null, 'text', {}, { id: 'a', pid: '5', bundle: '/b', rootfs: '', created: '' }, { ...ours, bundle: undefined }]) {
    expect(() => checkOwnState(bad, 'a', '/r/a/state.json')).toThrow('state of container a is corrupt: /r/a/state.json');
  }
});
