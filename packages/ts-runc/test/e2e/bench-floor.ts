/**
 * Start-up floors for scripts/bench: what any Node runtime pays before it does any container work,
 * timed in the same rounds as `runc run`, so the 2x-runc target can be weighed against them.
 *
 *   bench-floor.js spawn  Node + koffi (bare, not our syscall layer): unshare(CLONE_FS),
 *                         unshare(mnt, uts, ipc, net, pid), posix_spawn /bin/true into them, wait.
 *                         No config, rootfs, mounts, cgroups or state: the floor of a runtime
 *                         that is ONE Node process.
 *   bench-floor.js node   Node starting a second Node (`node -e 0`) and waiting for it: the floor
 *                         of a stage-2 design, where a fresh Node process sets the container up.
 */
import { spawnSync } from 'child_process';
// koffi itself, resolved where the syscall layer finds it: a floor must not include our own code.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const koffi = require(require.resolve('koffi', { paths: [require.resolve('@tsrt/libc')] })) as typeof import('koffi');

const CLONE_FS = 0x200;
const NEW_NS = 0x20000 | 0x4000000 | 0x8000000 | 0x40000000 | 0x20000000; // mnt uts ipc net pid

function spawnFloor(): number {
  const lib = koffi.load('libc.so.6');
  const unshare = lib.func('int unshare(int)');
  const spawn = lib.func('int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)');
  const waitpid = lib.func('int waitpid(int pid, _Out_ int *status, int options)');
  if (unshare(CLONE_FS) !== 0 || unshare(NEW_NS) !== 0) return 10;
  const pid = [0];
  if (spawn(pid, '/bin/true', null, null, ['true', null], [null]) !== 0) return 11;
  const status = [0];
  if (waitpid(pid[0], status, 0) !== pid[0]) return 12;
  return (status[0] >> 8) & 0xff;
}

function nodeFloor(): number {
  const r = spawnSync(process.execPath, ['-e', '0'], { stdio: 'inherit' });
  return r.status ?? 1;
}

const mode = process.argv[2];
if (mode === 'spawn') process.exit(spawnFloor());
else if (mode === 'node') process.exit(nodeFloor());
else {
  process.stderr.write('usage: bench-floor.js spawn|node\n');
  process.exit(2);
}
