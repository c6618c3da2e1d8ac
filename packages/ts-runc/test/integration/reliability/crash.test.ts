/**
 * Crash safety: SIGKILL ts-runc at random points of create/start/exec/delete/run, then `list`,
 * `state` and `delete --force` must restore a clean state (no process, cgroup, state dir or
 * mount left). A stage 2 that hangs or dies is detected within a bounded time, with a clear
 * one-line error. CI: 5 kills per operation; SOAK=1: 50.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SOAK, TS_RUNC, becomeSubreaper, reapOrphans, startReaper, snapshot, descendants, workDir, bundleIn, rt, rtAsync, cleanAll, median, oneLineError } from './probe';
import { waitFor } from '../../helpers/wait';

const PER_OP = Number(process.env.CRASH_KILLS ?? (SOAK ? 50 : 5));
jest.setTimeout(SOAK ? 4 * 3600_000 : 15 * 60_000);

let base: string;
let root: string;
let sleeper: string;
const prefix = `rel-crash-${process.pid}`;

let stopReaper: () => void;
beforeAll(() => {
  becomeSubreaper();
  stopReaper = startReaper();
  base = workDir('crash');
  root = path.join(base, 'root');
  sleeper = bundleIn(base, 'sleep', ['/bin/sleep', '1000']);
});
afterAll(() => {
  stopReaper();
  cleanAll(TS_RUNC, root, base);
  reapOrphans();
});

const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait (bounded, generously: only a failure waits that long) until none of our descendants is alive; returns those still alive. */
async function settle(ms = 30_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    reapOrphans();
    const alive = descendants().filter((p) => p.state !== 'Z').map((p) => p.pid);
    if (!alive.length || Date.now() > deadline) return alive;
    await sleepMs(50);
  }
}

function mustOk(args: string[]): void {
  const r = rt(TS_RUNC, root, args, { cwd: base });
  if (r.status !== 0) throw new Error(`ts-runc ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
}

type Op = 'create' | 'start' | 'exec' | 'delete' | 'run';
const OPS: Op[] = ['create', 'start', 'exec', 'delete', 'run'];

/** The precondition each operation needs, then the command line to kill. */
function prepare(op: Op, id: string): string[] {
  switch (op) {
    case 'create':
      return ['create', '-b', sleeper, id];
    case 'run':
      return ['run', '-d', '-b', sleeper, id];
    case 'start':
      mustOk(['create', '-b', sleeper, id]);
      return ['start', id];
    case 'exec':
      mustOk(['run', '-d', '-b', sleeper, id]);
      return ['exec', id, '/bin/sleep', '1000'];
    case 'delete':
      mustOk(['run', '-d', '-b', sleeper, id]);
      return ['delete', '-f', id];
  }
}

interface Outcome {
  op: Op;
  delayMs: number;
  killed: boolean;
  statusAfter: string;
  deleteMs: number;
}

async function killOnce(op: Op, id: string, maxDelay: number): Promise<Outcome> {
  const args = prepare(op, id);
  const delayMs = Math.floor(Math.random() * maxDelay);
  let timer: NodeJS.Timeout | undefined;
  const r = await rtAsync(TS_RUNC, root, args, {
    onSpawn: (c) => {
      timer = setTimeout(() => c.kill('SIGKILL'), delayMs);
    },
  });
  clearTimeout(timer);
  const killed = r.signal === 'SIGKILL';
  if (!killed) expect({ op, status: r.status, stderr: r.stderr }).toEqual({ op, status: 0, stderr: '' });

  // list must work whatever state the crash left, and name the container at most once.
  const list = rt(TS_RUNC, root, ['list', '--format', 'json'], { cwd: base });
  expect({ list: list.status, stderr: list.stderr }).toEqual({ list: 0, stderr: '' });
  const st = rt(TS_RUNC, root, ['state', id], { cwd: base });
  let statusAfter = 'absent';
  if (st.status === 0) statusAfter = JSON.parse(st.stdout).status;
  else expect(st.stderr.trim()).toMatch(/container does not exist"?$/);
  if (st.status !== 0) expect(oneLineError(st.stderr)).toBe(true);

  // Asynchronously, so our reaper keeps reaping: a killed `exec` leaves its command re-parented
  // to us, and the container's init cannot finish exiting until that zombie is reaped.
  const del = await rtAsync(TS_RUNC, root, ['delete', '--force', id], { timeout: 30000 });
  expect({ id, del: del.status, stderr: del.stderr }).toEqual({ id, del: 0, stderr: '' });
  const alive = await settle();
  const s = snapshot(id, base + '/never-mounted', root);
  const left = fs.existsSync(path.join(root, id)) ? fs.readdirSync(path.join(root, id)) : null;
  expect({ id, op, delayMs, alive, left, cgroupDirs: s.cgroupDirs, mounts: s.mounts }).toEqual({ id, op, delayMs, alive: [], left: null, cgroupDirs: 0, mounts: 0 });
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(base);
  return { op, delayMs, killed, statusAfter, deleteMs: del.ms };
}

test(`SIGKILL of ts-runc at random points (${PER_OP} per operation): list, state and delete -f restore a clean state`, async () => {
  // Calibrate: under load a CLI takes far longer than 150 ms, so the kill window spans the
  // whole measured command (at least 0-150 ms), or most kills would land before main() runs.
  const cal = (() => {
    const id = `${prefix}-cal`;
    const t: Record<string, number> = {};
    let r = rt(TS_RUNC, root, ['create', '-b', sleeper, id], { cwd: base });
    t.create = r.ms;
    r = rt(TS_RUNC, root, ['start', id], { cwd: base });
    t.start = r.ms;
    r = rt(TS_RUNC, root, ['exec', '-d', id, '/bin/true'], { cwd: base });
    t.exec = r.ms;
    reapOrphans();
    r = rt(TS_RUNC, root, ['delete', '-f', id], { cwd: base });
    t.delete = r.ms;
    t.run = t.create + t.start;
    return t;
  })();
  await settle();
  const outcomes: Outcome[] = [];
  let n = 0;
  for (let i = 0; i < PER_OP; i++) {
    for (const op of OPS) {
      outcomes.push(await killOnce(op, `${prefix}-${op}-${n++}`, Math.max(150, Math.round(cal[op] * 1.2))));
    }
  }
  const lines = OPS.map((op) => {
    const o = outcomes.filter((x) => x.op === op);
    const states: Record<string, number> = {};
    for (const x of o) states[x.statusAfter] = (states[x.statusAfter] ?? 0) + 1;
    return `  ${op.padEnd(7)} kills ${String(o.length).padStart(3)}  killed mid-way ${String(o.filter((x) => x.killed).length).padStart(3)}  window 0-${Math.max(150, Math.round(cal[op] * 1.2))} ms  state seen after: ${JSON.stringify(states)}  delete -f median ${median(o.map((x) => x.deleteMs))} ms`;
  });
  console.log(['crash safety: SIGKILL at a random point, then list + state + delete -f', `  calibration ms: ${JSON.stringify(cal)}`, ...lines].join('\n'));
});

describe('a stage 2 that hangs or dies is detected in bounded time', () => {
  test('hangs (a createContainer hook that never returns): create fails after TS_RUNC_INIT_TIMEOUT_MS, cleans up', async () => {
    const id = `${prefix}-hang`;
    const b = bundleIn(base, 'hang', ['/bin/true'], (c) => {
      c.hooks = { createContainer: [{ path: '/bin/sleep', args: ['sleep', '1000'] }] };
    });
    const r = await rtAsync(TS_RUNC, root, ['create', '-b', b, id], { env: { ...process.env, TS_RUNC_INIT_TIMEOUT_MS: '1500' } });
    console.log(`hung stage 2: create exit ${r.status} after ${r.ms} ms: ${r.stderr.trim()}`);
    expect(r.status).not.toBe(0);
    expect(oneLineError(r.stderr)).toBe(true);
    expect(r.stderr.trim()).toMatch(/timed out after 1500 ms waiting for the container init"?$/);
    expect(r.ms).toBeLessThan(1500 + 15000);
    expect(await settle()).toEqual([]);
    const s = snapshot(id, base + '/never-mounted', root);
    expect({ stateDir: fs.existsSync(path.join(root, id)), cgroupDirs: s.cgroupDirs }).toEqual({ stateDir: false, cgroupDirs: 0 });
  });

  test('dies (stage 2 SIGKILLed from outside mid-create): create fails at once with a clear error, cleans up', async () => {
    const id = `${prefix}-dies`;
    const b = bundleIn(base, 'dies', ['/bin/true'], (c) => {
      c.hooks = { createContainer: [{ path: '/bin/sleep', args: ['sleep', '1000'] }] };
    });
    let killedAt = 0;
    const p = rtAsync(TS_RUNC, root, ['create', '-b', b, id], {
      onSpawn: (c) => {
        const poll = setInterval(() => {
          // Stage 2: the create CLI's child running init/main.js (it calls itself "ts-runc init").
          const s2 = descendants(c.pid!).find((d) => d.ppid === c.pid && d.state !== 'Z' && fs.readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').startsWith('ts-runc init'));
          // Wait until it runs the hook (its own child): then it is blocked mid-setup.
          if (s2 && descendants(s2.pid).some((d) => d.comm === 'sleep')) {
            process.kill(s2.pid, 'SIGKILL');
            killedAt = Date.now();
            clearInterval(poll);
          }
        }, 20);
        c.on('close', () => clearInterval(poll));
      },
    });
    const r = await p;
    const after = Date.now() - killedAt;
    console.log(`dead stage 2: create exit ${r.status}, ${after} ms after the kill: ${r.stderr.trim()}`);
    expect(killedAt).toBeGreaterThan(0);
    expect(r.status).not.toBe(0);
    expect(oneLineError(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/container init exited before it was ready/);
    expect(after).toBeLessThan(10000);
    expect(await settle()).toEqual([]);
    const s = snapshot(id, base + '/never-mounted', root);
    expect({ stateDir: fs.existsSync(path.join(root, id)), cgroupDirs: s.cgroupDirs }).toEqual({ stateDir: false, cgroupDirs: 0 });
  });

  // A start SIGKILLed between its read of exec.fifo and removing it must not leave a running
  // container reported as "created" (the init unlinks the fifo once it is released). The killed
  // start is played by `head -c1` reading the fifo.
  test('start killed after reading the fifo: the container is not "created", a second start does not wait', async () => {
    const id = `${prefix}-start-released`;
    mustOk(['create', '-b', sleeper, id]);
    try {
      const init = JSON.parse(rt(TS_RUNC, root, ['state', id]).stdout).pid as number;
      // Synchronously: our reaper must not take the exit status of a child libuv waits for.
      const head = require('child_process').spawnSync('head', ['-c1', path.join(root, id, 'exec.fifo')], { stdio: 'ignore', timeout: 10000 });
      expect(head.status).toBe(0);
      // The released init execs the user program: wait for that before asking for the state.
      await waitFor('the released init to exec sleep', () => fs.readFileSync(`/proc/${init}/comm`, 'utf8').trim() === 'sleep');
      const status = JSON.parse(rt(TS_RUNC, root, ['state', id]).stdout).status;
      const again = await rtAsync(TS_RUNC, root, ['start', id], { timeout: 5000 });
      console.log(`start killed after its read (played by head -c1): state says ${status}; a second start: ${again.signal ?? 'exit ' + again.status} after ${again.ms} ms ${again.stderr.trim()}`);
      expect(status).toBe('running');
      expect(again.signal).toBeNull();
      expect(again.stderr).toMatch(/cannot start an already running container/);
    } finally {
      await rtAsync(TS_RUNC, root, ['delete', '-f', id]);
      await settle();
    }
  });

  test('dies after create: start says the container has stopped (no wait), delete cleans up', async () => {
    const id = `${prefix}-dead-init`;
    mustOk(['create', '-b', sleeper, id]);
    const st = JSON.parse(rt(TS_RUNC, root, ['state', id]).stdout);
    process.kill(st.pid, 'SIGKILL');
    expect(await settle()).toEqual([]); // the init is dead (and reaped) before start is asked
    const r = rt(TS_RUNC, root, ['start', id], { timeout: 20000 });
    console.log(`dead init before start: start exit ${r.status} in ${r.ms} ms: ${r.stderr.trim()}`);
    expect(r.status).not.toBe(0);
    expect(oneLineError(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/cannot start a container that has stopped/);
    mustOk(['delete', id]);
    expect(await settle()).toEqual([]);
  });
});
