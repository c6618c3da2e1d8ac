/**
 * Leaks: N cycles of `ts-runc run` /bin/true, of create/start/kill/delete, and of the same
 * lifecycle called in-process (a long-lived parent, as an embedding shim would), compared
 * before/after: mounts, cgroup dirs in every hierarchy, state dirs, processes, zombies, fds,
 * veths and named netns. CI: 50 cycles each; SOAK=1: 1,000.
 */
import * as path from 'path';
import { libc } from '@tsrt/libc';
import { Logger } from '../../../src/log/logger';
import { StateStore } from '../../../src/state/store';
import { create } from '../../../src/lifecycle/create';
import { start } from '../../../src/lifecycle/start';
import { kill } from '../../../src/lifecycle/kill';
import { deleteContainer } from '../../../src/lifecycle/delete';
import { waitForExit } from '../../../src/lifecycle/destroy';
import { SOAK, TS_RUNC, becomeSubreaper, reapOrphans, snapshot, report, workDir, bundleIn, rt, cleanAll, median, oneLineError } from './probe';

const N = Number(process.env.LEAK_CYCLES ?? (SOAK ? 1000 : 50));
jest.setTimeout(SOAK ? 6 * 3600_000 : 15 * 60_000);

let base: string;
let root: string;
let bundle: string;
const prefix = `rel-leak-${process.pid}`;

beforeAll(() => {
  becomeSubreaper();
  base = workDir('leaks');
  root = path.join(base, 'root');
  bundle = bundleIn(base, 'true', ['/bin/true']);
});
afterAll(() => {
  cleanAll(TS_RUNC, root, base);
  reapOrphans();
});

test(`${N} x ts-runc run /bin/true leaves nothing behind`, () => {
  reapOrphans();
  const before = snapshot(prefix, base, root);
  const times: number[] = [];
  let failures = 0;
  let orphans = 0;
  for (let i = 0; i < N; i++) {
    const r = rt(TS_RUNC, root, ['run', '-b', bundle, `${prefix}-run-${i}`], { cwd: base });
    times.push(r.ms);
    if (r.status !== 0) {
      failures++;
      console.log(`run ${i}: exit ${r.status}: ${r.stderr.trim()}`);
    }
    orphans += reapOrphans();
  }
  const after = snapshot(prefix, base, root);
  const grown = report(`leaks: ${N} x ts-runc run /bin/true`, before, after, { failures, 'orphans reaped': orphans, 'median ms': median(times), 'max ms': Math.max(...times) });
  expect(failures).toBe(0);
  // A foreground run waits for its own child: nothing is ever orphaned.
  expect(orphans).toBe(0);
  expect(grown).toEqual([]);
});

test(`${N} x create/start/kill/delete leaves nothing behind`, () => {
  reapOrphans();
  const before = snapshot(prefix, base, root);
  const sleeper = bundleIn(base, 'sleep', ['/bin/sleep', '1000']);
  const mid = snapshot(prefix, base, root); // the second bundle is not a leak
  let failures = 0;
  let orphans = 0;
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `${prefix}-cskd-${i}`;
    const t0 = Date.now();
    for (const args of [['create', '-b', sleeper, id], ['start', id], ['kill', id, 'KILL'], ['delete', '-f', id]]) {
      const r = rt(TS_RUNC, root, args, { cwd: base });
      if (r.status !== 0) {
        failures++;
        console.log(`${args[0]} ${i}: exit ${r.status}: ${r.stderr.trim()}`);
        expect(oneLineError(r.stderr)).toBe(true);
      }
      if (i === 0 && args[0] === 'start') {
        // The probe sees a live container: its cgroup dirs (one per hierarchy) and its init.
        const live = snapshot(prefix, base, root);
        expect(live.cgroupDirs).toBeGreaterThan(1);
        expect(live.procs).toBe(1);
        expect(live.stateDirs).toBe(1);
      }
    }
    times.push(Date.now() - t0);
    // The init's parent (create) is gone: it was re-parented to us, as to a shim.
    orphans += reapOrphans();
  }
  const after = snapshot(prefix, base, root);
  const grown = report(`leaks: ${N} x create/start/kill/delete (sleep 1000)`, { ...before, mounts: mid.mounts }, after, { failures, 'orphans reaped (1 per cycle expected: the init)': orphans, 'median ms/cycle': median(times) });
  expect(failures).toBe(0);
  expect(grown).toEqual([]);
});

test(`${N} x create/start/kill/delete in-process (a long-lived parent) leaks no fds, memory or processes`, async () => {
  reapOrphans();
  const sys = libc();
  const ctx = { sys, log: new Logger({ format: 'text', debug: false }), store: new StateStore(root), systemdCgroup: false };
  const sleeper = bundleIn(base, 'sleep2', ['/bin/sleep', '1000']);
  // Warm-up: the first create loads modules and opens long-lived handles (koffi, libseccomp).
  const cycle = (id: string) => {
    create(ctx, { id, bundle: sleeper });
    start(ctx, id);
    const state = ctx.store.load(id);
    kill(ctx, id, 'KILL', false);
    waitForExit(ctx, state);
    deleteContainer(ctx, id, false);
    reapOrphans();
  };
  cycle(`${prefix}-warm`);
  global.gc?.();
  const before = snapshot(prefix, base, root);
  const rss0 = process.memoryUsage().rss;
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = Date.now();
    cycle(`${prefix}-inproc-${i}`);
    times.push(Date.now() - t0);
  }
  global.gc?.();
  const after = snapshot(prefix, base, root);
  const rssGrowthMiB = (process.memoryUsage().rss - rss0) / 1048576;
  const grown = report(`leaks: ${N} x in-process create/start/kill/delete`, before, after, { 'median ms/cycle': median(times), 'rss growth MiB': rssGrowthMiB.toFixed(1) });
  expect(grown).toEqual([]);
  // Loose: V8 may keep garbage around; a real leak per cycle (a Buffer, a mapping) shows at 1,000.
  if (SOAK) expect(rssGrowthMiB).toBeLessThan(64);
});
