import { FakeSys } from '@tsrt/libc';
import { bringLoopbackUp } from '../../src/init/loopback';

describe('loopback in a new network namespace', () => {
  test('lo down: its flags are read, IFF_UP added and written back on a socket of the namespace', () => {
    const fake = new FakeSys();
    fake.respond('socketpair', () => [7, 8]);
    fake.respond('ioctlPtr', (_fd: unknown, req: unknown, buf: unknown) => {
      if (req === 0x8913) (buf as Buffer).writeUInt16LE(0x8 /* IFF_LOOPBACK */, 16);
      return 0;
    });
    bringLoopbackUp(fake.sys);
    const calls = fake.named('ioctlPtr');
    expect(calls.map((c) => c[1])).toEqual([0x8913, 0x8914]);
    const ifr = calls[1][2] as Buffer;
    expect(ifr.toString('latin1', 0, 2)).toBe('lo');
    expect(ifr.readUInt16LE(16)).toBe(0x9);
    expect(fake.named('close')).toEqual([[7], [8]]);
  });

  test('lo up already: nothing written; a refusal is one line naming the interface', () => {
    const fake = new FakeSys();
    fake.respond('socketpair', () => [7, 8]);
    fake.respond('ioctlPtr', (_fd: unknown, _req: unknown, buf: unknown) => ((buf as Buffer).writeUInt16LE(0x9, 16), 0));
    bringLoopbackUp(fake.sys);
    expect(fake.named('ioctlPtr')).toHaveLength(1);
    const failing = new FakeSys();
    failing.respond('socketpair', () => [7, 8]);
    failing.fail('ioctlPtr', 'EPERM');
    expect(() => bringLoopbackUp(failing.sys)).toThrow('unable to bring up the loopback interface: EPERM');
    expect(failing.named('close')).toEqual([[7], [8]]);
  });
});
