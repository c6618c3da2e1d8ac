/**
 * A private buildah 1.28 for e2e tests: storage root and runroot, temp files, containers.conf,
 * storage.conf and registries.conf in a temp dir (nothing in the host's default storage), the
 * busybox demo image pulled offline from its OCI layout, and `bud` with --isolation oci and a
 * runtime wrapper that logs its argv. buildah gives the runtime no --root: the runtimes' state goes
 * to their default roots, and the clean-up checks that none is left for the ids buildah used.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { leftoverCgroupDirs } from '../helpers/runtime';
import { run, ok, have, runtimeWrapper, demoImageLayout, unmountBelow, type Result } from './helpers';

export const IMAGE = 'localhost/ts-runc-e2e:latest';

/** Why this host cannot run the buildah e2e tests (undefined when it can). */
export function buildahUnavailable(): string | undefined {
  if (!have('buildah')) return 'not installed: buildah (scripts/setup installs it)';
  // A throwaway store: does buildah work with private storage here (overlay, its config files)?
  const probe = new Buildah([]);
  try {
    const r = probe.buildah(['info']);
    return r.status === 0 ? undefined : `buildah info fails with private storage:\n${r.text}`;
  } finally {
    probe.cleanup();
  }
}

export class Buildah {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly wrappers: Record<string, { bin: string; real: string; calls: () => string[] }> = {};

  constructor(runtimes: Array<{ name: string; bin: string }>) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-e2e-buildah-'));
    for (const d of ['root', 'run', 'tmp', 'ctx']) fs.mkdirSync(path.join(this.dir, d));
    for (const r of runtimes) {
      const w = runtimeWrapper(this.dir, r.name, r.bin);
      this.wrappers[r.name] = { ...w, real: r.bin };
    }
    const conf = (name: string, lines: string[]) => {
      fs.writeFileSync(path.join(this.dir, name), lines.join('\n') + '\n');
      return path.join(this.dir, name);
    };
    this.env = {
      ...process.env,
      CONTAINERS_CONF: conf('containers.conf', ['[engine]', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"']),
      CONTAINERS_STORAGE_CONF: conf('storage.conf', [
        '[storage]', 'driver = "overlay"', `graphroot = ${JSON.stringify(this.root())}`, `runroot = ${JSON.stringify(this.runroot())}`,
      ]),
      CONTAINERS_REGISTRIES_CONF: conf('registries.conf', ['unqualified-search-registries = []']),
      // bud keeps its bundles (the runtime's --bundle) under TMPDIR
      TMPDIR: path.join(this.dir, 'tmp'),
    };
  }

  root(): string {
    return path.join(this.dir, 'root');
  }

  runroot(): string {
    return path.join(this.dir, 'run');
  }

  buildah(args: string[], opts: { input?: string; timeout?: number } = {}): Result {
    return run('buildah', ['--root', this.root(), '--runroot', this.runroot(), '--storage-driver', 'overlay', ...args], { env: this.env, ...opts });
  }

  loadImage(): void {
    const id = ok(this.buildah(['pull', '-q', `oci:${demoImageLayout()}:latest`])).trim();
    ok(this.buildah(['tag', id, IMAGE]));
  }

  /** The options that make buildah run RUN steps (and `buildah run`) with the named runtime. */
  runtimeArgs(rt: string): string[] {
    return ['--isolation', 'oci', '--runtime', this.wrappers[rt].bin];
  }

  /** `buildah bud` of a Containerfile (its text) with the named runtime, offline, no network. */
  bud(rt: string, containerfile: string, extra: string[] = []): Result {
    const file = path.join(this.dir, 'ctx', `Containerfile.${rt}.${Date.now()}`);
    fs.writeFileSync(file, containerfile);
    return this.buildah(['bud', '--pull=never', '--network', 'none', ...this.runtimeArgs(rt), ...extra, '-f', file, path.join(this.dir, 'ctx')], { timeout: 120000 });
  }

  /** Container ids buildah handed to a runtime (from the wrappers' argv logs). */
  runtimeIds(): string[] {
    const ids = new Set<string>();
    for (const w of Object.values(this.wrappers)) for (const l of w.calls()) for (const m of l.matchAll(/\bbuildah-buildah\d+\b/g)) ids.add(m[0]);
    return [...ids];
  }

  /**
   * Removes the working containers and images, checks that no runtime keeps state or cgroups of
   * the ids buildah used (deleting them if so), unmounts and removes the temp dir.
   */
  cleanup(): string[] {
    const problems: string[] = [];
    this.buildah(['rm', '--all']);
    this.buildah(['rmi', '--all', '--force']);
    for (const id of this.runtimeIds()) {
      for (const w of Object.values(this.wrappers)) {
        if (run(w.real, ['state', id]).status === 0) {
          problems.push(`${path.basename(w.real)} still has ${id}`);
          run(w.real, ['delete', '-f', id]);
        }
      }
      for (const dir of leftoverCgroupDirs(id)) {
        problems.push(`cgroup left: ${dir}`);
        try {
          fs.rmdirSync(dir);
        } catch (e) {
          problems.push(`rmdir ${dir}: ${(e as Error).message}`);
        }
      }
    }
    unmountBelow(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }
}
