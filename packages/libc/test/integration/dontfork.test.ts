/**
 * The undo of V8's MADV_DONTFORK on this kernel: after it, no mapping of this process but the
 * kernel's special ones is left out of a fork (VmFlags "dc" in /proc/self/smaps), even a mapping
 * made just before with MADV_DONTFORK.
 */
import * as fs from 'fs';
import koffi from '../../src/koffi';
import { undoDontFork } from '../../src/clone-exec';

function leftOut(): string[] {
  const out: string[] = [];
  let head = '';
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) head = line;
    else if (line.startsWith('VmFlags:') && / dc( |$)/.test(line) && !/\[(vvar|vvar_vclock|vdso|vsyscall)\]/.test(head)) out.push(head);
  }
  return out;
}

test('every mapping is inherited again, a fresh MADV_DONTFORK one too', () => {
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('syscall', 'long', ['long', 'long', 'long', 'long', 'long', 'long']);
  const mmap = lib.func('mmap', 'uint64', ['uint64', 'uint64', 'int', 'int', 'int', 'int64']);
  const size = 1 << 20;
  const addr = BigInt(mmap(0, size, 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0));
  expect(Number(syscall(28, addr, size, 10 /* MADV_DONTFORK */, 0, 0))).toBe(0);
  expect(leftOut().length).toBeGreaterThan(0); // V8's heap, and ours
  undoDontFork(syscall, () => koffi.errno());
  expect(leftOut()).toEqual([]);
  lib.func('munmap', 'int', ['uint64', 'uint64'])(addr, size);
});
