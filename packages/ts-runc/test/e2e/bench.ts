/**
 * scripts/bench: ts-runc against runc (and crun where it runs) on the same bundles, in one run.
 *
 * Each runtime variant gets a worker process that times commands for it (crun's worker lives in a
 * private mount namespace with /sys/fs/cgroup/unified lazily unmounted: crun refuses the hybrid
 * layout). The parent interleaves the variants round by round, so load changes on the machine hit
 * all of them alike, and prints medians and ratios. No thresholds: figures only.
 *
 * Variants: runc, crun, ts-runc (bin/ts-runc, which unsets NODE_EXTRA_CA_CERTS itself) and
 * ts-runc+CA (node dist/src/cli/launch.js with NODE_EXTRA_CA_CERTS set, as on these machines;
 * its node is the writable one, so it takes the stage 2 path), and ts-stage2 (bin/ts-runc with
 * TS_RUNC_IN_PROCESS=0: the fallback path, side by side with the in-process one).
 *
 * Environment: BENCH_RUNS (latency samples, default 15), BENCH_PAR (parallelism, 4),
 * BENCH_PAR_TOTAL (containers per throughput round, 24), BENCH_RSS_RUNS (5),
 * BENCH_RUNTIMES (comma list of variants), BENCH_SKIP (comma list: run,seccomp,csd,exec,state,par,rss,mem,floor).
 *
 * Floors (bench-floor.ts): `node -e 0`, the least a ONE-process Node runtime does (koffi, unshare,
 * posix_spawn /bin/true in new namespaces, wait), and Node starting a second Node (a stage-2 design),
 * each timed in the same rounds as `runc run` by runc's worker, as ratios to it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'child_process';
import { podmanProfile } from '../helpers/seccomp-profiles';

const REPO = path.resolve(__dirname, '../../../../..');
const TS_RUNC_BIN = path.join(REPO, 'packages/ts-runc/bin/ts-runc');
const TS_RUNC_ENTRY = path.join(REPO, 'packages/ts-runc/dist/src/cli/launch.js');
const FLOOR_JS = path.join(__dirname, 'bench-floor.js');
const CA = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';

// ---------------------------------------------------------------- worker side

interface TimeOp { op: 'time'; cmds: string[][] }
interface RssOp { op: 'rss'; cmd: string[] }
interface ParOp { op: 'par'; cmds: string[][]; n: number }
interface RunOp { op: 'run'; cmd: string[]; timeout?: number }
type Op = TimeOp | RssOp | ParOp | RunOp | { op: 'exit' };

const ERR = path.join(os.tmpdir(), `ts-runc-bench-err-${process.pid}`);
/** stderr goes to a file: a created container inherits it, and a pipe would keep spawnSync waiting. */
function runOne(cmd: string[], timeout = 60000): { status: number | null; stderr: string } {
  const fd = fs.openSync(ERR, 'w');
  try {
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', fd], timeout, killSignal: 'SIGKILL' });
    return { status: r.status, stderr: fs.readFileSync(ERR, 'utf8') + (r.error ? String(r.error) : '') };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(ERR, { force: true });
  }
}

async function handle(op: Op): Promise<unknown> {
  switch (op.op) {
    case 'time': {
      const t0 = process.hrtime.bigint();
      const statuses: Array<number | null> = [];
      let stderr = '';
      for (const c of op.cmds) {
        const r = runOne(c);
        statuses.push(r.status);
        if (r.status !== 0) stderr += r.stderr;
      }
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, statuses, stderr: stderr.slice(0, 500) };
    }
    case 'rss': {
      const out = path.join(os.tmpdir(), `ts-runc-bench-rss-${process.pid}`);
      const r = runOne(['/usr/bin/time', '-f', '%M', '-o', out, ...op.cmd]);
      const kib = Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop());
      fs.rmSync(out, { force: true });
      return { kib, status: r.status, stderr: r.stderr.slice(0, 500) };
    }
    case 'run': {
      const r = runOne(op.cmd, op.timeout);
      return { status: r.status, stderr: r.stderr.slice(0, 500) };
    }
    case 'par': {
      const t0 = process.hrtime.bigint();
      let next = 0;
      let failed = 0;
      const lane = async () => {
        while (next < op.cmds.length) {
          const c = op.cmds[next++];
          const code = await new Promise<number | null>((res) => {
            const p = spawn(c[0], c.slice(1), { stdio: 'ignore' });
            p.on('close', (code) => res(code));
            p.on('error', () => res(-1));
          });
          if (code !== 0) failed++;
        }
      };
      await Promise.all(Array.from({ length: op.n }, lane));
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, failed };
    }
    default:
      return {};
  }
}

export async function workerMain(): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const op = JSON.parse(line) as Op;
    if (op.op === 'exit') break;
    let res: unknown;
    try {
      res = await handle(op);
    } catch (e) {
      res = { error: String(e) };
    }
    process.stdout.write(JSON.stringify(res) + '\n');
  }
  process.exit(0);
}

// ---------------------------------------------------------------- parent side

class Worker {
  private proc: ChildProcess;
  private rl: readline.Interface;
  private waiting: Array<(v: any) => void> = [];
  /** prefix: a command that ends by running its arguments (crun: a private mount namespace). */
  constructor(prefix: string[], env: NodeJS.ProcessEnv) {
    const argv = [...prefix, process.execPath, __filename, '--worker'];
    this.proc = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env });
    this.rl = readline.createInterface({ input: this.proc.stdout! });
    this.rl.on('line', (l) => this.waiting.shift()?.(JSON.parse(l)));
  }
  call<T = any>(op: Op): Promise<T> {
    return new Promise((res) => {
      this.waiting.push(res);
      this.proc.stdin!.write(JSON.stringify(op) + '\n');
    });
  }
  async close(): Promise<void> {
    this.proc.stdin!.write('{"op":"exit"}\n');
    await new Promise((r) => this.proc.on('close', r));
  }
}

interface Variant {
  name: string;
  argv: string[]; // runtime command without --root
  root: string;
  worker?: Worker;
  broken?: string;
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function benchMain(): Promise<void> {
  const RUNS = Number(process.env.BENCH_RUNS || 15);
  const PAR = Number(process.env.BENCH_PAR || 4);
  const PAR_TOTAL = Number(process.env.BENCH_PAR_TOTAL || 24);
  const RSS_RUNS = Number(process.env.BENCH_RSS_RUNS || 5);
  const skip = new Set((process.env.BENCH_SKIP || '').split(',').filter(Boolean));
  const wanted = (process.env.BENCH_RUNTIMES || 'runc,crun,ts-runc,ts-runc+CA,ts-stage2').split(',');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-bench-'));
  const variants: Variant[] = [];
  const cleanupAll = async () => {
    for (const v of variants) {
      if (v.worker && fs.existsSync(v.root)) {
        for (const id of fs.readdirSync(v.root)) await v.worker.call({ op: 'run', cmd: [...v.argv, '--root', v.root, 'delete', '-f', id] });
      }
      await v.worker?.close();
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  let interrupted = false;
  process.on('SIGINT', () => {
    interrupted = true;
  });

  try {
    // bundles sharing one busybox rootfs
    const rootfs = path.join(tmp, 'rootfs');
    execFileSync(path.join(REPO, 'scripts/make-rootfs'), [rootfs]);
    const specDir = path.join(tmp, 'spec');
    fs.mkdirSync(specDir);
    execFileSync(TS_RUNC_BIN, ['spec', '-b', specDir]);
    const base = JSON.parse(fs.readFileSync(path.join(specDir, 'config.json'), 'utf8'));
    const bundle = (name: string, args: string[], edit?: (c: any) => void) => {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir, { recursive: true });
      const c = JSON.parse(JSON.stringify(base));
      c.ociVersion = '1.0.2'; // crun 1.8.1 refuses "unknown version" 1.2.0; the same config for every runtime
      c.process.terminal = false;
      c.process.args = args;
      c.root = { path: rootfs, readonly: true };
      edit?.(c);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c, null, 1));
      return dir;
    };
    const bTrue = bundle('b-true', ['/bin/true']);
    const bSleep = bundle('b-sleep', ['/bin/sleep', '1000000']);
    // What engines pass: podman's default seccomp profile, no no_new_privs (loaded before the caps go).
    const podman = podmanProfile();
    const bSeccomp = podman && bundle('b-seccomp', ['/bin/true'], (c) => ((c.linux.seccomp = podman), (c.process.noNewPrivileges = false)));

    const cleanEnv = { ...process.env };
    delete cleanEnv.NODE_EXTRA_CA_CERTS;
    const privateMntNs = ['unshare', '-m', 'sh', '-c', 'umount -l /sys/fs/cgroup/unified && exec "$@"', 'sh'];
    const all: Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv; prefix: string[] }> = [
      { name: 'runc', argv: ['/usr/sbin/runc'], env: cleanEnv, prefix: [] },
      { name: 'crun', argv: ['/usr/bin/crun'], env: cleanEnv, prefix: privateMntNs },
      { name: 'ts-runc', argv: [TS_RUNC_BIN], env: { ...process.env, NODE_EXTRA_CA_CERTS: CA }, prefix: [] },
      { name: 'ts-runc+CA', argv: [process.execPath, TS_RUNC_ENTRY], env: { ...process.env, NODE_EXTRA_CA_CERTS: CA }, prefix: [] },
      // The fallback: create through stage 2, exec through a helper Node (plan/in-process.ts).
      { name: 'ts-stage2', argv: [TS_RUNC_BIN], env: { ...process.env, NODE_EXTRA_CA_CERTS: CA, TS_RUNC_IN_PROCESS: '0' }, prefix: [] },
    ];
    for (const a of all) {
      if (!wanted.includes(a.name)) continue;
      if (!fs.existsSync(a.argv[a.argv.length - 1])) continue;
      const root = path.join(tmp, `root-${a.name.replace(/\W/g, '_')}`);
      fs.mkdirSync(root);
      const v: Variant = { name: a.name, argv: a.argv, root };
      v.worker = new Worker(a.prefix, a.env);
      variants.push(v);
    }

    let seq = 0;
    const id = (v: Variant, what: string) => `bench-${what}-${v.name.replace(/\W/g, '')}-${process.pid}-${seq++}`;
    const rt = (v: Variant, ...args: string[]) => [...v.argv, '--root', v.root, ...args];

    // probe: does the runtime run a container here at all?
    for (const v of variants) {
      const r = await v.worker!.call({ op: 'run', cmd: rt(v, 'run', '-b', bTrue, id(v, 'probe')) });
      if (r.status !== 0) v.broken = `run failed: ${r.stderr.trim().split('\n').pop()}`;
    }
    const live = () => variants.filter((v) => !v.broken);
    const results: Record<string, Record<string, number>> = {};
    const put = (row: string, v: Variant, x: number) => ((results[row] ??= {})[v.name] = x);
    const log = (s: string) => process.stderr.write(s);
    const load0 = os.loadavg();

    const timed = async (row: string, n: number, mk: (v: Variant) => string[][], after?: (v: Variant) => Promise<void>) => {
      const samples: Record<string, number[]> = {};
      log(`bench: ${row} `);
      for (let i = 0; i < n && !interrupted; i++) {
        for (const v of live()) {
          const r = await v.worker!.call<{ ms: number; statuses: number[]; stderr: string }>({ op: 'time', cmds: mk(v) });
          if (r.statuses.some((s) => s !== 0)) {
            (samples[v.name] ??= []).push(NaN);
            if (!results[`${row} failures`]?.[v.name]) log(`\n  ${v.name}: ${r.stderr.trim().split('\n').pop()}\n`);
            put(`${row} failures`, v, (results[`${row} failures`]?.[v.name] ?? 0) + 1);
          } else (samples[v.name] ??= []).push(r.ms);
          await after?.(v);
        }
        log('.');
      }
      log('\n');
      for (const v of live()) put(row, v, median(samples[v.name] ?? []));
    };

    // warm-up (page cache, node compile cache)
    for (const v of live()) await v.worker!.call({ op: 'time', cmds: [rt(v, 'run', '-b', bTrue, id(v, 'warm'))] });

    if (!skip.has('run')) await timed('run /bin/true (ms)', RUNS, (v) => [rt(v, 'run', '-b', bTrue, id(v, 'run'))]);
    if (!skip.has('seccomp') && bSeccomp) await timed('run /bin/true, podman\'s seccomp profile (ms)', RUNS, (v) => [rt(v, 'run', '-b', bSeccomp, id(v, 'sc'))]);
    if (!skip.has('csd')) {
      await timed('create+start+delete (ms)', RUNS, (v) => {
        const c = id(v, 'csd');
        return [rt(v, 'create', '-b', bTrue, c), rt(v, 'start', c), rt(v, 'delete', '-f', c)];
      });
    }
    if (!skip.has('exec') || !skip.has('state')) {
      const long: Record<string, string> = {};
      for (const v of live()) {
        long[v.name] = id(v, 'long');
        const r = await v.worker!.call({ op: 'time', cmds: [rt(v, 'create', '-b', bSleep, long[v.name]), rt(v, 'start', long[v.name])] });
        if (r.statuses.some((s: number) => s !== 0)) log(`bench: ${v.name}: cannot start the exec container: ${r.stderr}\n`);
      }
      if (!skip.has('exec')) await timed('exec /bin/true (ms)', RUNS, (v) => [rt(v, 'exec', long[v.name], '/bin/true')]);
      if (!skip.has('state')) await timed('state (ms)', RUNS, (v) => [rt(v, 'state', long[v.name])]);
      for (const v of live()) await v.worker!.call({ op: 'run', cmd: rt(v, 'delete', '-f', long[v.name]) });
    }
    const floors: Array<[string, number]> = [];
    const runcV = live().find((v) => v.name === 'runc');
    if (!skip.has('floor') && runcV) {
      // Everything by runc's worker (no NODE_EXTRA_CA_CERTS), interleaved round by round.
      const probes: Array<[string, (i: number) => string[]]> = [
        ['runc run /bin/true', (i) => rt(runcV, 'run', '-b', bTrue, id(runcV, `floor${i}`))],
        ['node -e 0', () => [process.execPath, '-e', '0']],
        ['node + koffi + unshare + posix_spawn /bin/true + wait', () => [process.execPath, FLOOR_JS, 'spawn']],
        ['node starting node -e 0 (two starts in series)', () => [process.execPath, FLOOR_JS, 'node']],
      ];
      const samples = probes.map(() => [] as number[]);
      log('bench: floors ');
      for (let i = 0; i < RUNS && !interrupted; i++) {
        for (const [k, [, cmd]] of probes.entries()) {
          const r = await runcV.worker!.call<{ ms: number; statuses: number[]; stderr: string }>({ op: 'time', cmds: [cmd(i)] });
          samples[k].push(r.statuses[0] === 0 ? r.ms : NaN);
          if (r.statuses[0] !== 0 && i === 0) log(`\n  ${probes[k][0]}: ${r.stderr.trim().split('\n').pop()}\n`);
        }
        log('.');
      }
      log('\n');
      probes.forEach(([name], k) => floors.push([name, median(samples[k])]));
    }
    if (!skip.has('par')) {
      const row = `containers/s, ${PAR} in parallel`;
      const samples: Record<string, number[]> = {};
      log(`bench: ${row} `);
      for (let round = 0; round < 3 && !interrupted; round++) {
        for (const v of live()) {
          const cmds = Array.from({ length: PAR_TOTAL }, () => rt(v, 'run', '-b', bTrue, id(v, 'par')));
          const r = await v.worker!.call<{ ms: number; failed: number }>({ op: 'par', cmds, n: PAR });
          (samples[v.name] ??= []).push(r.failed ? NaN : PAR_TOTAL / (r.ms / 1000));
          if (r.failed) put(`${row} failures`, v, (results[`${row} failures`]?.[v.name] ?? 0) + r.failed);
        }
        log('.');
      }
      log('\n');
      for (const v of live()) put(row, v, median(samples[v.name] ?? []));
    }
    if (!skip.has('rss')) {
      const samples: Record<string, number[]> = {};
      log('bench: peak RSS ');
      for (let i = 0; i < RSS_RUNS && !interrupted; i++) {
        for (const v of live()) {
          const r = await v.worker!.call<{ kib: number; status: number }>({ op: 'rss', cmd: rt(v, 'run', '-b', bTrue, id(v, 'rss')) });
          (samples[v.name] ??= []).push(r.status === 0 ? r.kib / 1024 : NaN);
        }
        log('.');
      }
      log('\n');
      for (const v of live()) put('peak RSS of `run true` (MiB)', v, median(samples[v.name] ?? []));
    }
    if (!skip.has('mem')) {
      // smallest linux.resources.memory.limit (swap = limit: no swap) at which `run true` exits 0
      const STEP = 64 * 1024;
      for (const v of live()) {
        log(`bench: memory limit ${v.name} `);
        const works = async (limit: number) => {
          const b = bundle(`b-mem-${v.name.replace(/\W/g, '')}-${limit}`, ['/bin/true'], (c) => {
            c.linux.resources = { ...(c.linux.resources ?? {}), memory: { limit, swap: limit } };
          });
          const c = id(v, 'mem');
          const r = await v.worker!.call<{ status: number }>({ op: 'run', cmd: rt(v, 'run', '-b', b, c), timeout: 30000 });
          await v.worker!.call({ op: 'run', cmd: rt(v, 'delete', '-f', c) });
          fs.rmSync(b, { recursive: true, force: true });
          log(r.status === 0 ? '+' : '-');
          return r.status === 0;
        };
        let hi = 64 * 1024 * 1024;
        while (!(await works(hi)) && hi < 1024 * 1024 * 1024) hi *= 2;
        let lo = 0;
        if (await works(hi)) {
          while (hi - lo > STEP && !interrupted) {
            const mid = Math.round((lo + hi) / 2 / STEP) * STEP;
            if (mid <= lo || mid >= hi) break;
            if (await works(mid)) hi = mid;
            else lo = mid;
          }
          put('smallest memory limit for `run true` (MiB)', v, hi / 1024 / 1024);
        } else put('smallest memory limit for `run true` (MiB)', v, NaN);
        log('\n');
      }
    }

    // ------------------------------------------------------------ the table
    const names = variants.map((v) => v.name);
    const ratios: Array<[string, string, string]> = [];
    if (names.includes('ts-runc') && names.includes('runc')) ratios.push(['ts/runc', 'ts-runc', 'runc']);
    if (names.includes('ts-runc+CA') && names.includes('runc')) ratios.push(['ts+CA/runc', 'ts-runc+CA', 'runc']);
    if (names.includes('ts-stage2') && names.includes('runc')) ratios.push(['stage2/runc', 'ts-stage2', 'runc']);
    if (names.includes('ts-runc') && names.includes('crun') && !variants.find((v) => v.name === 'crun')?.broken) ratios.push(['ts/crun', 'ts-runc', 'crun']);
    const fmt = (x: number | undefined) => (x === undefined ? '' : Number.isNaN(x) ? 'n/a' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
    const rows = Object.keys(results);
    const w0 = Math.max(8, ...rows.map((r) => r.length));
    const cols = [...names, ...ratios.map((r) => r[0])];
    const cw = Math.max(10, ...cols.map((c) => c.length + 1));
    const lines: string[] = [];
    lines.push(['measure'.padEnd(w0), ...cols.map((c) => c.padStart(cw))].join(' '));
    lines.push('-'.repeat(w0 + (cw + 1) * cols.length));
    for (const r of rows) {
      const vals = names.map((n) => fmt(results[r][n]));
      const rs = ratios.map(([, a, b]) => {
        const x = results[r][a], y = results[r][b];
        return r.includes('failures') || x === undefined || y === undefined || !Number.isFinite(x / y) ? '' : (x / y).toFixed(2) + 'x';
      });
      lines.push([r.padEnd(w0), ...vals.map((s) => s.padStart(cw)), ...rs.map((s) => s.padStart(cw))].join(' '));
    }
    const load1 = os.loadavg();
    console.log(`\nts-runc bench: medians of ${RUNS} interleaved samples (RSS: ${RSS_RUNS}; throughput: 3 rounds of ${PAR_TOTAL}), ${os.cpus().length} CPUs, load ${load0[0].toFixed(1)} -> ${load1[0].toFixed(1)}`);
    console.log(lines.join('\n'));
    if (floors.length) {
      const base = floors[0][1];
      const w = Math.max(...floors.map(([n]) => n.length));
      console.log(`\nstart-up floors (medians of ${RUNS}, same rounds, ratio to ${floors[0][0]}):`);
      for (const [n, ms] of floors) console.log(`  ${n.padEnd(w)} ${fmt(ms).padStart(6)} ms ${Number.isFinite(ms / base) ? (ms / base).toFixed(2) + 'x' : ''}`);
    }
    for (const v of variants) if (v.broken) console.log(`${v.name}: not measured (${v.broken})`);
    console.log('ts-runc: bin/ts-runc (unsets NODE_EXTRA_CA_CERTS); ts-runc+CA: node dist/src/cli/launch.js with NODE_EXTRA_CA_CERTS=' + CA);
    console.log('peak RSS: GNU time %M of the runtime command, i.e. the largest process of its tree that it reaped (ts-runc: stage 1 or stage 2 before execve).');
    console.log('memory limit: linux.resources.memory limit = swap, bisected to 64 KiB; `run` must exit 0.');
    console.log('crun: in a private mount namespace with /sys/fs/cgroup/unified lazily unmounted. ratios > 1x: ts-runc slower / bigger / fewer per second.');
  } finally {
    await cleanupAll();
  }
}

if (require.main === module) {
  if (process.argv[2] === '--worker') void workerMain();
  else
    benchMain().catch((e) => {
      console.error(`bench: ${e instanceof Error ? e.stack : e}`);
      process.exit(1);
    });
}
