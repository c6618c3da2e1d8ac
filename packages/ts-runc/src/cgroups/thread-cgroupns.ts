import * as fs from 'fs';
import * as path from 'path';
import type { CgroupDescription } from './types';
import { CgroupError } from './types';
import { detectHierarchies, hierarchyDir, parseProcCgroup, type Hierarchies } from './paths';
import { realFs, type CgroupFs } from './fs';

/**
 * Run `step` (the container thread's unshare of its cgroup namespace) with that one thread in the
 * container's cgroups, so that the namespace is rooted there; then move it back. v1 moves a
 * single thread (its tid in `tasks`): neither the CLI's other threads nor its memory are ever
 * charged to the container, and a pids limit counts one task. The v2 hierarchy can only move the
 * whole process (cgroup.procs); on a hybrid host it has no controllers to charge.
 */
export interface ThreadCgroupDeps {
  fs?: CgroupFs;
  hierarchies?: Hierarchies;
  /** The thread's /proc/self/task/TID/cgroup, parsed. */
  own?: Record<string, string>;
}

export async function withThreadInCgroups(desc: CgroupDescription | undefined, tid: number, step: () => Promise<void>, deps: ThreadCgroupDeps = {}): Promise<void> {
  if (!desc) return step();
  const cgfs = deps.fs ?? realFs;
  const h = deps.hierarchies ?? detectHierarchies();
  const own = deps.own ?? parseProcCgroup(fs.readFileSync(`/proc/self/task/${tid}/cgroup`, 'utf8'));
  const moves: Array<{ into: string; home: string; file: string }> = [];
  const seen = new Set<string>();
  for (const [key, dir] of Object.entries(desc.paths)) {
    const mount = key === '' ? h.unified : h.v1[key];
    if (!mount || seen.has(dir)) continue;
    seen.add(dir);
    moves.push({ into: dir, home: hierarchyDir(mount, '', own[key]), file: key === '' ? 'cgroup.procs' : 'tasks' });
  }
  const move = (dir: string, file: string) => {
    try {
      cgfs.write(path.join(dir, file), String(tid));
    } catch (e) {
      throw new CgroupError(`failed to join cgroup ${dir} with thread ${tid}: ${(e as Error).message}`);
    }
  };
  const done: typeof moves = [];
  try {
    for (const m of moves) {
      move(m.into, m.file);
      done.push(m);
    }
    await step();
  } finally {
    for (const m of done) move(m.home, m.file);
  }
}
