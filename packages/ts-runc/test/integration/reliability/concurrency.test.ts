/**
 * Concurrency: 50 containers created and started in parallel all succeed; racing creates of
 * one ID have exactly one winner; racing starts and deletes of one container are serialised
 * by the state lock (one start wins, every delete -f succeeds). SOAK=1: 200 containers.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SOAK, TS_RUNC, becomeSubreaper, reapOrphans, startReaper, snapshot, descendants, workDir, bundleIn, rt, rtAsync, cleanAll, median, oneLineError, type Result } from './probe';
import { waitFor } from '../../helpers/wait';

const PARALLEL = Number(process.env.PARALLEL_CONTAINERS ?? (SOAK ? 200 : 50));
const RACES = SOAK ? 50 : 5;
jest.setTimeout(SOAK ? 3600_000 : 10 * 60_000);

let base: string;
let root: string;
let sleeper: string;
let stopReaper: () => void;
const prefix = `rel-conc-${process.pid}`;

beforeAll(() => {
  becomeSubreaper();
  stopReaper = startReaper();
  base = workDir('conc');
  root = path.join(base, 'root');
  sleeper = bundleIn(base, 'sleep', ['/bin/sleep', '1000']);
});
afterAll(() => {
  stopReaper();
  cleanAll(TS_RUNC, root, base);
  reapOrphans();
});

const ok = (r: Result) => r.status === 0;

test(`${PARALLEL} containers created and started in parallel all succeed, then are deleted`, async () => {
  const ids = Array.from({ length: PARALLEL }, (_, i) => `${prefix}-p${i}`);
  const t0 = Date.now();
  const results = await Promise.all(
    ids.map(async (id) => {
      const c = await rtAsync(TS_RUNC, root, ['create', '-b', sleeper, id]);
      const s = ok(c) ? await rtAsync(TS_RUNC, root, ['start', id]) : c;
      return { id, create: c, start: s };
    }),
  );
  const wall = Date.now() - t0;
  const failed = results.filter((r) => !ok(r.create) || !ok(r.start));
  for (const f of failed) console.log(`${f.id}: create ${f.create.status} ${f.create.stderr.trim()} / start ${f.start.status} ${f.start.stderr.trim()}`);
  const list = JSON.parse(rt(TS_RUNC, root, ['list', '--format', 'json']).stdout || '[]') as Array<{ id: string; status: string }>;
  const running = list.filter((c) => c.status === 'running').length;
  const live = snapshot(prefix, base, root);
  const t1 = Date.now();
  const dels = await Promise.all(ids.map((id) => rtAsync(TS_RUNC, root, ['delete', '-f', id])));
  const delWall = Date.now() - t1;
  // The killed inits finish exiting (and are reaped by us, the subreaper) after delete returns:
  // wait until nothing of ours is left, however long that takes here; the figures are asserted below.
  let after = snapshot(prefix, base, root);
  await waitFor(
    'the deleted containers to leave no process, cgroup, state dir or mount',
    () => {
      reapOrphans();
      after = snapshot(prefix, base, root);
      return after.procs + after.cgroupDirs + after.stateDirs + after.mounts === 0;
    },
    { timeoutMs: 60_000 },
  ).catch(() => undefined);
  console.log(
    [
      `concurrency: ${PARALLEL} x (create; start) in parallel`,
      `  succeeded ${PARALLEL - failed.length}/${PARALLEL}, running per list ${running}, wall ${wall} ms, create median ${median(results.map((r) => r.create.ms))} ms max ${Math.max(...results.map((r) => r.create.ms))} ms`,
      `  while running: ${live.procs} processes, ${live.cgroupDirs} cgroup dirs, ${live.stateDirs} state dirs`,
      `  ${PARALLEL} x delete -f in parallel: ${dels.filter(ok).length} ok, wall ${delWall} ms; left: ${after.procs} processes, ${after.cgroupDirs} cgroup dirs, ${after.stateDirs} state dirs`,
    ].join('\n'),
  );
  expect(failed.map((f) => f.id)).toEqual([]);
  expect(running).toBe(PARALLEL);
  expect(dels.filter((d) => !ok(d)).map((d) => d.stderr)).toEqual([]);
  expect({ procs: after.procs, cgroupDirs: after.cgroupDirs, stateDirs: after.stateDirs, mounts: after.mounts }).toEqual({ procs: 0, cgroupDirs: 0, stateDirs: 0, mounts: 0 });
});

test(`two creates of one ID race (${RACES} times): exactly one wins, the other says the ID exists`, async () => {
  const seen: Record<string, number> = {};
  for (let i = 0; i < RACES; i++) {
    const id = `${prefix}-race${i}`;
    const rs = await Promise.all([0, 1].map(() => rtAsync(TS_RUNC, root, ['create', '-b', sleeper, id])));
    const winners = rs.filter(ok);
    const losers = rs.filter((r) => !ok(r));
    for (const l of losers) seen[l.stderr.trim().replace(/^.*msg="(.*)"$/, '$1')] = (seen[l.stderr.trim().replace(/^.*msg="(.*)"$/, '$1')] ?? 0) + 1;
    expect(winners.length).toBe(1);
    expect(losers).toHaveLength(1);
    expect(oneLineError(losers[0].stderr)).toBe(true);
    expect(losers[0].stderr).toMatch(/container with given ID already exists/);
    // The winner's container is intact after the loser gave up.
    const st = rt(TS_RUNC, root, ['state', id]);
    expect(JSON.parse(st.stdout).status).toBe('created');
    expect(ok(await rtAsync(TS_RUNC, root, ['delete', '-f', id]))).toBe(true);
  }
  console.log(`same-ID create race x${RACES}: losers said ${JSON.stringify(seen)}`);
});

test(`two run -d of one ID race (${RACES} times): one wins, its container keeps running`, async () => {
  for (let i = 0; i < RACES; i++) {
    const id = `${prefix}-runrace${i}`;
    const rs = await Promise.all([0, 1].map(() => rtAsync(TS_RUNC, root, ['run', '-d', '-b', sleeper, id])));
    expect(rs.filter(ok)).toHaveLength(1);
    const loser = rs.find((r) => !ok(r))!;
    expect(oneLineError(loser.stderr)).toBe(true);
    expect(loser.stderr).toMatch(/container with given ID already exists/);
    // The loser gave up without touching the winner's container.
    const st = JSON.parse(rt(TS_RUNC, root, ['state', id]).stdout);
    expect(st.status).toBe('running');
    expect(fs.existsSync(`/proc/${st.pid}`)).toBe(true);
    expect(ok(await rtAsync(TS_RUNC, root, ['delete', '-f', id]))).toBe(true);
  }
});

test('racing starts of one container: exactly one wins; racing delete -f all succeed and leave nothing', async () => {
  for (let i = 0; i < RACES; i++) {
    const id = `${prefix}-srace${i}`;
    expect(ok(rt(TS_RUNC, root, ['create', '-b', sleeper, id]))).toBe(true);
    const starts = await Promise.all([0, 1, 2].map(() => rtAsync(TS_RUNC, root, ['start', id])));
    expect(starts.filter(ok)).toHaveLength(1);
    for (const s of starts.filter((r) => !ok(r))) {
      expect(oneLineError(s.stderr)).toBe(true);
      expect(s.stderr).toMatch(/cannot start an already running container/);
    }
    const dels = await Promise.all([0, 1, 2].map(() => rtAsync(TS_RUNC, root, ['delete', '-f', id])));
    expect(dels.map((d) => d.status)).toEqual([0, 0, 0]);
    expect(fs.existsSync(path.join(root, id))).toBe(false);
  }
  // Killed inits finish exiting after delete returns: wait for that (asserted right after).
  const alive = () => descendants().filter((p) => p.state !== 'Z');
  await waitFor('no live process of ours', () => (reapOrphans(), alive().length === 0)).catch(() => undefined);
  expect(alive()).toEqual([]);
});
