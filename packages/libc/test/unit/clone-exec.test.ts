import { cloneExec, undoDontFork } from '../../src/clone-exec';

const MADVISE = 28;
const CLONE = 56;
const MAPS = [
  '00400000-00500000 r-xp 00000000 00:00 0 /usr/bin/node',
  '1ee8bc340000-1ee8bc380000 rw-p 00000000 00:00 0',
  '7f0000000000-7f0000004000 r--p 00000000 00:00 0 [vvar]',
  '7f0000004000-7f0000006000 r--p 00000000 00:00 0 [vvar_vclock]',
  '7f0000006000-7f0000008000 r-xp 00000000 00:00 0 [vdso]',
  '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]',
  'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 [vsyscall]',
].join('\n');

function madvised(errnoOf: (a: bigint) => number): Array<[bigint, bigint]> {
  const calls: Array<[bigint, bigint]> = [];
  let last = 0;
  undoDontFork((nr: unknown, a: unknown, len: unknown) => {
    expect(nr).toBe(MADVISE);
    calls.push([a as bigint, (a as bigint) + (len as bigint)]);
    last = errnoOf(a as bigint);
    return last ? -1 : 0;
  }, () => last, MAPS);
  return calls;
}

describe('a clone child gets all of the heap (clone-exec.ts)', () => {
  test('MADV_DOFORK over all of user space but the kernel\'s special mappings, holes and all', () => {
    expect(madvised((a) => (a === 0n ? 12 /* ENOMEM: holes */ : 0))).toEqual([
      [0n, 0x7f0000000000n],
      [0x7f0000008000n, 1n << 47n],
    ]);
  });

  test('a range refused for another reason: then mapping by mapping', () => {
    const calls = madvised((a) => (a === 0n ? 22 /* EINVAL */ : 0));
    expect(calls.slice(2)).toEqual([
      [0x400000n, 0x500000n],
      [0x1ee8bc340000n, 0x1ee8bc380000n],
      [0x7ffd00000000n, 0x7ffd00021000n],
    ]);
  });

  test('nothing runs between the undo and the clone (a new heap page would miss the child)', () => {
    const seq: string[] = [];
    const lib = {
      func: (name: string) => (...args: any[]) => {
        if (name !== 'syscall') {
          seq.push(name);
          return name === 'poll' ? 1 : 0;
        }
        const nr = Number(args[0]);
        seq.push(nr === MADVISE ? 'madvise' : nr === CLONE ? 'clone' : `syscall ${nr}`);
        return nr === CLONE ? 4242 : 0; // the parent's side; read() of the exec pipe: EOF
      },
    };
    const pid = cloneExec(lib as any, { flags: 0, path: '/bin/true', argv: ['true'], env: [], keepFds: [7], timeoutMs: 100, beforeRelease: () => undefined });
    expect(pid).toBe(4242);
    const clone = seq.indexOf('clone');
    const firstMadvise = seq.indexOf('madvise');
    expect(seq.slice(firstMadvise, clone).every((c) => c === 'madvise')).toBe(true);
    expect(seq.slice(0, firstMadvise)).toContain('fcntl'); // keepFds made inheritable before
  });
});
