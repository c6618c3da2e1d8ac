import * as fs from 'fs';
import * as path from 'path';
import { O_RDONLY, O_NONBLOCK, O_PATH, O_DIRECTORY, O_CLOEXEC, POLLIN, POLLHUP, type Sys } from '@tsrt/libc';
import { RuntimeError, INIT_FAILED } from '../errors';
import type { SyncChannel } from '../protocol/sync';

/**
 * Holds an exec'd command just before its execve until the runtime has put it into the
 * container's cgroups. The exec helper is a Node process (about ten threads, ~40 MB): were it
 * in the container's cgroups, a pids limit near the running count would fail its posix_spawn
 * (EAGAIN) and its memory would count against the container. So the helper never joins; its
 * posix_spawn child opens this gate's fifo for writing as its last file action (SpawnRequest
 * .gate), which blocks; meanwhile this process finds the child, moves it, and opens the fifo
 * for reading, which lets it go on to execve. Only the command is ever charged to the container.
 *
 * The child runs with the command's credentials by then: the directory is 0711 and the fifo
 * 0622, as the exec fifo of create. The directory lives in the container's state directory;
 * the child sees it only through a detached clone mount.
 */
export class ExecGate {
  static readonly FIFO = 'gate';
  private reader = -1;
  private constructor(
    private sys: Sys,
    readonly dir: string,
    /** O_PATH fd of the directory, sent to the helper (the fifo is looked up from it). */
    readonly dirFd: number,
  ) {}

  static create(sys: Sys, stateDir: string): ExecGate {
    const dir = fs.mkdtempSync(path.join(stateDir, 'exec-'));
    try {
      fs.chmodSync(dir, 0o711);
      sys.mkfifo(path.join(dir, ExecGate.FIFO), 0o622);
      fs.chmodSync(path.join(dir, ExecGate.FIFO), 0o622); // mkfifo's mode is masked by our umask
      // The held child's cwd is this directory until it execs: a detached clone of it, so that
      // /proc/CHILD/cwd/.. (reachable from a container process with CAP_SYS_PTRACE) stays at
      // the clone's root instead of climbing into the host's state directory.
      const plain = sys.open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      try {
        return new ExecGate(sys, dir, sys.cloneTreeFd(plain, false));
      } finally {
        sys.close(plain);
      }
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * The helper's posix_spawn child, once the helper said it is about to spawn: the child of its
   * spawning (main) thread. Any message meanwhile is the helper's error, or its exit.
   */
  waitForChild(helper: number, ch: SyncChannel, timeoutMs: number): number {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let children = '';
      try {
        children = fs.readFileSync(`/proc/${helper}/task/${helper}/children`, 'utf8');
      } catch {
        /* the helper is gone: its message or EOF says why */
      }
      const pid = Number(children.trim().split(' ')[0]);
      if (pid > 0) return pid;
      if (ch.hasMessage() || this.sys.poll([{ fd: ch.fd, events: POLLIN | POLLHUP }], 1)) {
        const msg = ch.recv(timeoutMs, 'the exec helper');
        if (msg?.type === 'error') throw new RuntimeError(INIT_FAILED + msg.message);
        throw new RuntimeError('exec helper exited before the process started');
      }
      if (Date.now() > deadline) throw new RuntimeError(`timed out after ${timeoutMs} ms waiting for the exec helper to spawn the process`);
    }
  }

  /**
   * Let the held child go on to its execve. The read end stays open until dispose (after the
   * helper reported the spawn): the child may be found before it reaches its open of the fifo,
   * and an open that comes after the last reader closed would block again.
   */
  release(): void {
    this.reader = this.sys.open(path.join(this.dir, ExecGate.FIFO), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  }

  dispose(): void {
    for (const fd of [this.dirFd, this.reader]) {
      try {
        if (fd >= 0) this.sys.close(fd);
      } catch {
        /* closed */
      }
    }
    this.reader = -1;
    // Name by name: rmSync loads Node's rimraf, ~1 ms of every exec (measured).
    try {
      fs.unlinkSync(path.join(this.dir, ExecGate.FIFO));
      fs.rmdirSync(this.dir);
    } catch {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/**
 * What runc does to an exec'd process from outside, done to the held child before it may exec:
 * the container's cgroups, the container's process.oomScoreAdj (runc applies it to every exec),
 * and execCPUAffinity.final (joining a cpuset resets the affinity the helper gave it: initial).
 */
export function admitToContainer(sys: Sys, child: number, what: { cgroup?: () => void; oomScoreAdj?: unknown; finalAffinity?: string | null }): void {
  what.cgroup?.();
  if (typeof what.oomScoreAdj === 'number') {
    try {
      fs.writeFileSync(`/proc/${child}/oom_score_adj`, String(what.oomScoreAdj));
    } catch (e) {
      throw new RuntimeError(`process.oomScoreAdj: cannot set ${what.oomScoreAdj}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  if (what.finalAffinity) {
    try {
      sys.schedSetaffinity(child, Buffer.from(what.finalAffinity, 'base64'));
    } catch (e) {
      throw new RuntimeError(`process.execCPUAffinity.final: sched_setaffinity: ${(e as { code?: string }).code ?? e}`);
    }
  }
}
