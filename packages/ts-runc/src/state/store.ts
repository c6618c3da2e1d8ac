import * as fs from 'fs';
import * as path from 'path';
import { libc, mkdirAll, LOCK_EX, O_RDONLY, O_DIRECTORY, O_CLOEXEC, isSysError } from '@tsrt/libc';
import { RuntimeError, ERR_NOT_EXIST, ERR_EXISTS } from '../errors';
import type { ContainerState } from './container-state';
import { checkOwnState } from './foreign';

const ID_RE = /^[\w+\-.]+$/;

export function validateId(id: string | undefined): string {
  if (!id) throw new RuntimeError('container id cannot be empty');
  if (!ID_RE.test(id) || id === '.' || id === '..') throw new RuntimeError('invalid container ID format');
  return id;
}

/**
 * The --root directory: one directory per container holding state.json and exec.fifo.
 * Every operation on a container holds an exclusive flock on its directory, so concurrent
 * commands on one ID are serialised.
 */
export class StateStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return path.join(this.root, id);
  }

  fifoPath(id: string): string {
    return path.join(this.dir(id), 'exec.fifo');
  }

  /**
   * The root is 0700, as runc's: below it are exec.fifo (0622, so that a non-root init can open
   * it) and state.json, which no other host user may reach. A root made 0711 by an older version
   * is tightened when it is ours.
   */
  private ensureRoot(): void {
    try {
      mkdirAll(this.root, 0o700);
      const st = fs.statSync(this.root);
      if (st.mode & 0o077 && st.uid === process.geteuid?.()) fs.chmodSync(this.root, st.mode & 0o700);
    } catch (e) {
      throw new RuntimeError((e as Error).message);
    }
  }

  /** Reserve a new ID: mkdir is the atomic "exactly one create wins" step. Returns a held lock. */
  reserve(id: string): Lock {
    this.ensureRoot();
    try {
      fs.mkdirSync(this.dir(id), { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RuntimeError(ERR_EXISTS);
      throw e;
    }
    return Lock.take(this.dir(id));
  }

  /** Lock an existing container; throws "container does not exist" when it is not there. */
  lock(id: string): Lock {
    validateId(id);
    let lock: Lock;
    try {
      lock = Lock.take(this.dir(id));
    } catch (e) {
      // A name longer than NAME_MAX cannot have been created either.
      if (isSysError(e, 'ENOENT') || isSysError(e, 'ENOTDIR') || isSysError(e, 'ENAMETOOLONG')) throw new RuntimeError(ERR_NOT_EXIST);
      throw e;
    }
    // The directory may have been removed while we waited for the lock.
    if (!fs.existsSync(this.dir(id))) {
      lock.release();
      throw new RuntimeError(ERR_NOT_EXIST);
    }
    return lock;
  }

  load(id: string): ContainerState {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir(id), 'state.json'), 'utf8');
    } catch {
      throw new RuntimeError(ERR_NOT_EXIST);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new RuntimeError(`state of container ${id} is corrupt: ${path.join(this.dir(id), 'state.json')}`);
    }
    // A shared --root may hold runc's containers: refused (ForeignStateError), never misread.
    return checkOwnState(doc, id, path.join(this.dir(id), 'state.json'));
  }

  /**
   * Load, or null when the directory has no state.json (a create killed before its first save).
   * A state that cannot be read as ours still throws, as runc's does: another runtime's is not ours
   * to clean up, and a corrupt one names no process or cgroup, which a removal would leave behind
   * unseen.
   */
  loadIfSaved(id: string): ContainerState | null {
    try {
      return this.load(id);
    } catch (e) {
      if (e instanceof RuntimeError && e.message === ERR_NOT_EXIST) return null;
      throw e;
    }
  }

  /** Atomic replace: write a temporary file, then rename over state.json. */
  save(state: ContainerState): void {
    const file = path.join(this.dir(state.id), 'state.json');
    const tmp = file + '.tmp';
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }

  /**
   * Remove a container's directory. What create leaves there is removed name by name: rmSync
   * loads Node's rimraf (~1 ms of every delete); anything else falls back to it.
   */
  remove(id: string): void {
    const dir = this.dir(id);
    for (const name of ['state.json', 'exec.fifo', 'fifo.d/exec.fifo']) {
      try {
        fs.unlinkSync(path.join(dir, name));
      } catch {
        /* not there (or not a file: rmSync below) */
      }
    }
    try {
      fs.rmdirSync(path.join(dir, 'fifo.d'));
    } catch {
      /* idem */
    }
    try {
      fs.rmdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  ids(): string[] {
    try {
      return fs
        .readdirSync(this.root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && ID_RE.test(d.name))
        .map((d) => d.name)
        .sort();
    } catch {
      return [];
    }
  }
}

export class Lock {
  private constructor(private fd: number) {}

  static take(dir: string): Lock {
    const sys = libc();
    const fd = sys.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    try {
      sys.flock(fd, LOCK_EX);
    } catch (e) {
      sys.close(fd);
      throw e;
    }
    return new Lock(fd);
  }

  release(): void {
    if (this.fd >= 0) {
      libc().close(this.fd);
      this.fd = -1;
    }
  }
}
