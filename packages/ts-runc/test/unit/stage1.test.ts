import { FakeSys, CLONE_FS, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS, CLONE_NEWTIME } from '@tsrt/libc';
import { spawnStage2 } from '../../src/spawn/stage1';

test('stage 1 unshares on the calling thread, spawns, and restores every namespace it touched', () => {
  const fake = new FakeSys();
  let nextFd = 10;
  fake.respond('open', () => nextFd++).respond('posixSpawn', () => 4242);
  const pid = spawnStage2(fake.sys, {
    namespaces: { create: ['mount', 'pid', 'uts', 'cgroup'], join: [{ type: 'network', path: '/proc/77/ns/net' }] },
    argv: ['node', 'init.js'],
    fds: [[0, 0]],
    setsid: true,
  });
  expect(pid).toBe(4242);
  const names = fake.calls.map((c) => c.name);
  expect(names.indexOf('unshare')).toBeLessThan(names.indexOf('posixSpawn'));
  expect(fake.named('unshare')[0]).toEqual([CLONE_FS]);
  // cgroup is left to stage 2 (after it joined its cgroups)
  expect(fake.named('unshare')[1]).toEqual([CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS]);
  const setns = fake.named('setns');
  expect(setns[0]).toEqual([expect.any(Number), CLONE_NEWNET]); // the join, before spawning
  expect(setns.slice(1).map((a) => a[1]).sort()).toEqual([CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, CLONE_NEWNET, 0x02000000].sort());
  expect(names.lastIndexOf('fchdir')).toBeGreaterThan(names.indexOf('posixSpawn'));
  expect(fake.named('posixSpawn')[0][0]).toMatchObject({ env: [], defaultSignals: true, setsid: true });
});

test('a failing spawn still moves the thread back', () => {
  const fake = new FakeSys();
  fake.respond('open', () => 5).fail('posixSpawn', 'EAGAIN');
  expect(() => spawnStage2(fake.sys, { namespaces: { create: ['pid'], join: [] }, argv: ['x'], fds: [], setsid: false })).toThrow('EAGAIN');
  expect(fake.named('setns')).toEqual([[5, CLONE_NEWPID]]);
});

test('a time namespace to join goes to a clone child (setns needs one thread); the thread moves only for the other joins', () => {
  const fake = new FakeSys();
  let nextFd = 10;
  fake.respond('open', () => nextFd++).respond('ioctlInt', () => CLONE_NEWTIME).respond('cloneExec', () => 4343);
  const pid = spawnStage2(fake.sys, {
    namespaces: { create: ['mount', 'pid'], join: [{ type: 'time', path: '/proc/9/ns/time' }, { type: 'network', path: '/proc/9/ns/net' }] },
    argv: ['node', 'init.js'],
    fds: [[7, 3]],
    setsid: true,
  });
  expect(pid).toBe(4343);
  expect(fake.named('posixSpawn')).toEqual([]);
  const [req] = fake.named('cloneExec')[0] as [{ flags: number; timeNsFd: number; userNsFd?: number }];
  expect(req.flags).toBe(CLONE_NEWNS | CLONE_NEWPID); // the child creates them
  expect(req.userNsFd).toBeUndefined();
  const timeFd = fake.named('open').findIndex((a) => a[0] === '/proc/9/ns/time') + 10;
  expect(req.timeNsFd).toBe(timeFd);
  // this thread joins the network namespace only, never the time one, and comes back
  expect(fake.named('setns').every((a) => a[1] !== CLONE_NEWTIME)).toBe(true);
  expect(fake.named('setns')[0]).toEqual([expect.any(Number), CLONE_NEWNET]);
  expect(fake.named('close')).toContainEqual([timeFd]);
});

test('joining a path that is not a time namespace fails before anything is spawned', () => {
  const fake = new FakeSys();
  fake.respond('open', () => 12).respond('ioctlInt', () => CLONE_NEWNET);
  expect(() => spawnStage2(fake.sys, { namespaces: { create: ['pid'], join: [{ type: 'time', path: '/proc/self/ns/net' }] }, argv: ['x'], fds: [], setsid: false })).toThrow(
    'linux.namespaces: cannot join time namespace /proc/self/ns/net: not a time namespace',
  );
  expect(fake.named('cloneExec')).toEqual([]);
  expect(fake.named('close')).toContainEqual([12]);
});

test('stage 2 runs the read-only clone of node through its fd, closed once spawned', () => {
  const fake = new FakeSys();
  fake.respond('openTree', () => 33).respond('open', () => 10).respond('posixSpawn', () => 4242);
  spawnStage2(fake.sys, { namespaces: { create: ['pid'], join: [] }, argv: ['ts-runc'], env: ['A=1'], fds: [[0, 0]], setsid: false });
  expect(fake.named('posixSpawn')[0][0]).toMatchObject({ path: process.execPath, execFd: 33, env: ['A=1'] });
  const names = fake.calls.map((c) => c.name);
  expect(names.indexOf('openTree')).toBeLessThan(names.indexOf('unshare'));
  expect(fake.named('close')).toContainEqual([33]);
  const lastClose = fake.calls.map((c) => c.name === 'close' && c.args[0] === 33).lastIndexOf(true);
  expect(lastClose).toBeGreaterThan(names.indexOf('posixSpawn'));
});

test('a clone child (user namespace) execs the same fd by path', () => {
  const fake = new FakeSys();
  fake.respond('openTree', () => 34).respond('open', () => 10).respond('cloneExec', () => 4343);
  spawnStage2(fake.sys, { namespaces: { create: ['user', 'mount'], join: [] }, argv: ['ts-runc'], fds: [[7, 3]], setsid: true });
  expect(fake.named('cloneExec')[0][0]).toMatchObject({ path: '/proc/self/fd/34', env: [] });
  expect(fake.named('close')).toContainEqual([34]);
});
