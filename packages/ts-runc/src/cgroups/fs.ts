/**
 * The file operations the cgroup drivers make, behind a small interface so unit tests can run
 * the drivers on a recording in-memory tree. The real one is plain synchronous Node fs: cgroup
 * files are tiny and these calls run in the CLI process, never in stage 2.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface CgroupFs {
  read(file: string): string;
  /** Write without O_CREAT (a missing file is an error, never a new regular file). */
  write(file: string, value: string): void;
  exists(p: string): boolean;
  /** mkdir -p; returns the directories it created, parents first. */
  mkdirp(dir: string): string[];
  rmdir(dir: string): void;
  /** Names of the subdirectories of dir (child cgroups). */
  subdirs(dir: string): string[];
}

/** An errno-carrying error like Node's, so callers can test `.code`. */
export function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const e = new Error(`${message}: ${code}`) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

export const realFs: CgroupFs = {
  read(file) {
    return fs.readFileSync(file, 'utf8');
  },
  write(file, value) {
    // O_TRUNC matters only for regular files (tests); cgroupfs ignores it.
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
    try {
      fs.writeSync(fd, value);
    } finally {
      fs.closeSync(fd);
    }
  },
  exists(p) {
    return fs.existsSync(p);
  },
  mkdirp(dir) {
    const created: string[] = [];
    const missing: string[] = [];
    let d = path.resolve(dir);
    while (!fs.existsSync(d)) {
      missing.unshift(d);
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
    for (const m of missing) {
      try {
        fs.mkdirSync(m);
        created.push(m);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return created;
  },
  rmdir(dir) {
    fs.rmdirSync(dir);
  },
  subdirs(dir) {
    try {
      return fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  },
};

/**
 * An in-memory cgroup tree for unit tests: files are created with `seed`, every write is
 * recorded in order, and writes to files that do not exist fail with ENOENT like cgroupfs.
 */
export class MemoryCgroupFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  readonly writes: Array<{ file: string; value: string }> = [];
  /** Files created in every new directory (the kernel populates a new cgroup's interface files). */
  template: Record<string, string> = {};
  /** Hooks to make a write fail: return an errno name to throw. */
  failWrite?: (file: string, value: string) => string | undefined;

  seed(files: Record<string, string>): this {
    for (const [f, v] of Object.entries(files)) {
      this.files.set(f, v);
      let d = path.dirname(f);
      while (!this.dirs.has(d)) {
        this.dirs.add(d);
        const up = path.dirname(d);
        if (up === d) break;
        d = up;
      }
    }
    return this;
  }
  read(file: string): string {
    const v = this.files.get(file);
    if (v === undefined) throw errnoError('ENOENT', `open ${file}`);
    return v;
  }
  write(file: string, value: string): void {
    if (!this.files.has(file)) throw errnoError('ENOENT', `open ${file}`);
    const failure = this.failWrite?.(file, value);
    if (failure) throw errnoError(failure, `write ${file}`);
    this.writes.push({ file, value });
    this.files.set(file, value);
  }
  exists(p: string): boolean {
    return this.files.has(p) || this.dirs.has(p);
  }
  mkdirp(dir: string): string[] {
    const missing: string[] = [];
    let d = dir;
    while (!this.dirs.has(d)) {
      missing.unshift(d);
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
    for (const m of missing) {
      this.dirs.add(m);
      for (const [f, v] of Object.entries(this.template)) this.files.set(path.join(m, f), v);
    }
    return missing;
  }
  rmdir(dir: string): void {
    if (!this.dirs.has(dir)) throw errnoError('ENOENT', `rmdir ${dir}`);
    // As the kernel: a cgroup with child cgroups or with tasks is busy.
    if (this.subdirs(dir).length || this.files.get(path.join(dir, 'cgroup.procs'))?.trim()) throw errnoError('EBUSY', `rmdir ${dir}`);
    this.dirs.delete(dir);
    for (const f of [...this.files.keys()]) if (path.dirname(f) === dir) this.files.delete(f);
  }
  subdirs(dir: string): string[] {
    return [...this.dirs].filter((d) => d !== dir && path.dirname(d) === dir).map((d) => path.basename(d));
  }
}
