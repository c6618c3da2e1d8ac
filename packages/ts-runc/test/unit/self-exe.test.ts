import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FakeSys, CLONE_FS, CLONE_NEWNS, MOUNT_ATTR_RDONLY, O_PATH, O_CLOEXEC, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE } from '@tsrt/libc';
import { runtimeExe } from '../../src/spawn/self-exe';

let dir: string;
let bin: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-selfexe-unit-'));
  bin = path.join(dir, 'node');
  fs.writeFileSync(bin, 'not really node', { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the binary in a read-only detached clone of the mount at "/", found by path and checked by inode', () => {
  const fake = new FakeSys();
  const real = fs.realpathSync(bin);
  const st = fs.statSync(real, { bigint: true });
  fake.respond('openTree', () => 17).respond('open', () => 18).respond('fstatat', () => ({ dev: st.dev, ino: st.ino }));
  expect(runtimeExe(fake.sys, bin, 0)).toEqual({ path: '/proc/self/fd/18', fd: 18, how: 'clone' });
  expect(fake.named('openTree')).toEqual([['/', false]]);
  expect(fake.named('mountSetattrFd')).toEqual([[17, MOUNT_ATTR_RDONLY, 0, false]]);
  expect(fake.named('open')).toEqual([[`/proc/self/fd/17${real}`, O_PATH | O_CLOEXEC]]);
  expect(fake.named('close')).toEqual([[17]]); // the file keeps the clone alive
});

test('a binary on another mount than "/": a read-only clone of the file alone', () => {
  const fake = new FakeSys();
  let tree = 17;
  fake.respond('openTree', () => tree++).respond('open', () => 30).respond('fstatat', () => ({ dev: 1n, ino: 2n }));
  expect(runtimeExe(fake.sys, bin, 0)).toEqual({ path: '/proc/self/fd/18', fd: 18, how: 'clone' });
  expect(fake.named('openTree')).toEqual([['/', false], [fs.realpathSync(bin), false]]);
  expect(fake.named('mountSetattrFd')).toEqual([[17, MOUNT_ATTR_RDONLY, 0, false], [18, MOUNT_ATTR_RDONLY, 0, false]]);
  expect(fake.named('close')).toEqual([[30], [17]]);
});

test('root without open_tree/mount_setattr: a read-only bind in a throw-away mount namespace, then back', () => {
  const fake = new FakeSys();
  let next = 20;
  fake.fail('openTree', 'ENOSYS').respond('open', () => next++);
  const exe = runtimeExe(fake.sys, bin, 0);
  expect(exe).toEqual({ path: '/proc/self/fd/22', fd: 22, how: 'bind' });
  expect(fake.named('unshare')).toEqual([[CLONE_FS], [CLONE_NEWNS]]);
  expect(fake.named('mount')).toEqual([
    [null, '/', null, MS_REC | MS_SLAVE, null], // before the bind: nothing propagates to the host
    [bin, bin, null, MS_BIND, null],
    [null, bin, null, MS_REMOUNT | MS_BIND | MS_RDONLY, null],
  ]);
  expect(fake.named('setns')).toEqual([[20, CLONE_NEWNS]]);
  expect(fake.named('fchdir')).toEqual([[21]]);
  expect(fake.named('close')).toEqual([[20], [21]]);
});

test('mount_setattr failing closes the trees and falls back', () => {
  const fake = new FakeSys();
  let tree = 8;
  fake.respond('openTree', () => tree++).fail('mountSetattrFd', 'ENOSYS').respond('open', () => 30);
  expect(runtimeExe(fake.sys, bin, 0).how).toBe('bind');
  expect(fake.named('close').slice(0, 2)).toEqual([[8], [9]]);
});

test('not root: the binary itself only when nobody but root may write it; else a copy (or a clear error)', () => {
  const fake = new FakeSys();
  fake.fail('openTree', 'EPERM').fail('lgetxattr', 'ENODATA').fail('memfdCreate', 'ENOSYS');
  if (fs.statSync(bin).uid === 0) expect(runtimeExe(fake.sys, bin, 1000)).toEqual({ path: bin, fd: -1, how: 'plain' });
  expect(fake.named('mount')).toEqual([]); // no bind attempt without privileges
  fs.chmodSync(bin, 0o775);
  try {
    expect(() => runtimeExe(fake.sys, bin, 1000)).toThrow(/cannot protect the runtime's executable .* memfd copy: .*ENOSYS/);
  } finally {
    fs.chmodSync(bin, 0o755);
  }
  // An ACL may give someone write access: not trusted.
  const acl = new FakeSys();
  acl.fail('openTree', 'EPERM').respond('lgetxattr', () => Buffer.alloc(4)).fail('memfdCreate', 'ENOSYS');
  expect(() => runtimeExe(acl.sys, bin, 1000)).toThrow(/cannot protect/);
});
