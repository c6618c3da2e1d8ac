/**
 * scripts/bench-unpack: a synthetic image (3 layers, ~20,000 files, ~300 MB raw) and an image
 * of 300 tiny layers, unpacked on tmpfs by ts-img, by `umoci unpack` and (the first) by
 * `tar -xzf` of the same blobs; median wall time and peak RSS of N runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { randomBytes, createHash } from 'crypto';
import type { WEntry } from './tarwriter';
import { tarBuffer } from './tarwriter';
import { buildImage, LayoutWriter } from './images';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXT = Buffer.from('The quick brown fox jumps over the lazy dog. Lorem ipsum dolor sit amet, consectetur adipiscing elit. 0123456789\n'.repeat(64));

function content(rand: () => number, size: number): Buffer {
  // about half random (incompressible), half text: gzip ratio near 2.3
  const b = Buffer.allocUnsafe(size);
  const r = Math.floor(size * 0.43);
  randomBytes(r).copy(b, 0);
  for (let off = r; off < size; off += TEXT.length) TEXT.copy(b, off, 0, Math.min(TEXT.length, size - off));
  void rand;
  return b;
}

function fileSize(rand: () => number): number {
  const x = rand();
  if (x < 0.7) return 300 + Math.floor(rand() * 4300);
  if (x < 0.95) return 4600 + Math.floor(rand() * 31400);
  return 36000 + Math.floor(rand() * 252000);
}

export function makeBenchLayers(): WEntry[][] {
  const rand = prng(42);
  const layers: WEntry[][] = [[], [], []];
  const counts = [12000, 5000, 3000];
  const dirs = 1000;
  const mt = 1650000000;
  for (let d = 0; d < dirs; d++) layers[0].push({ name: `usr/share/d${Math.floor(d / 50)}/sub${d}/`, type: 'dir', mtime: mt });
  for (let li = 0; li < 3; li++) {
    const L = layers[li];
    for (let i = 0; i < counts[li]; i++) {
      const d = Math.floor(rand() * dirs);
      // layer 2 and 3 overwrite some layer-1 files (same names) and add new ones
      const name = li > 0 && i % 5 === 0 ? `usr/share/d${Math.floor(d / 50)}/sub${d}/f${i}` : `usr/share/d${Math.floor(d / 50)}/sub${d}/l${li}-f${i}`;
      L.push({ name, data: content(rand, fileSize(rand)), mode: i % 7 === 0 ? 0o755 : 0o644, mtime: mt + i });
      if (i % 200 === 0) L.push({ name: `usr/share/d${Math.floor(d / 50)}/sub${d}/link${li}-${i}`, type: 'symlink', linkname: `l${li}-f${i}`, mtime: mt });
    }
    if (li > 0) for (let w = 0; w < 50; w++) L.push({ name: `usr/share/d${w}/sub${w * 50}/.wh.l0-f${w}`, mtime: mt });
  }
  return layers;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall time (s) and peak RSS (KiB, from /usr/bin/time -f %M) of one run. */
export interface Sample {
  secs: number;
  rssKb: number;
}

const TIME = '/usr/bin/time';

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Sample {
  const rssFile = path.join(fs.mkdtempSync('/tmp/ts-img-bench-'), 'rss');
  const withRss = fs.existsSync(TIME);
  const t0 = process.hrtime.bigint();
  const r = withRss
    ? spawnSync(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const t1 = process.hrtime.bigint();
  const rssKb = withRss ? Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : NaN;
  fs.rmSync(path.dirname(rssFile), { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.toString().slice(0, 400)}`);
  return { secs: Number(t1 - t0) / 1e9, rssKb };
}

export function benchMain(argv: string[]): void {
  const base = path.join(argv[0] ?? '/dev/shm', 'ts-img-bench');
  try {
    benchRun(base);
  } finally {
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(base, { recursive: true, force: true });
    else process.stderr.write(`bench: images kept in ${base} (BENCH_KEEP=1)\n`);
  }
}

/** The synthetic image: 3 layers, ~20,000 files, ~300 MB raw. */
export function syntheticImage(imgDir: string): { label: string; ref: string; blobs: string[] } {
  if (!fs.existsSync(path.join(imgDir, 'index.json'))) {
    process.stderr.write('bench: generating the synthetic image (once)...\n');
    const layers = makeBenchLayers();
    const img = buildImage({ layers: layers.map((entries) => ({ tar: tarBuffer(entries), compression: 'gzip' as const })), exec: { Cmd: ['/bin/sh'] } });
    const w = new LayoutWriter(imgDir);
    w.add(w.image(img), 'bench');
    w.finish();
    const files = layers.reduce((a, l) => a + l.length, 0);
    const raw = img.layers.reduce((a, l) => a + l.tar.length, 0);
    const gz = img.layers.reduce((a, l) => a + l.blob.length, 0);
    fs.writeFileSync(path.join(imgDir, 'stats.json'), JSON.stringify({ files, raw, gz, blobs: img.layers.map((l) => l.desc.digest.slice(7)) }));
  }
  const stats = JSON.parse(fs.readFileSync(path.join(imgDir, 'stats.json'), 'utf8'));
  return {
    label: `synthetic: 3 layers, ${stats.files} entries, ${(stats.raw / 1e6).toFixed(0)} MB raw, ${(stats.gz / 1e6).toFixed(0)} MB gzipped`,
    ref: `${imgDir}:bench`,
    blobs: stats.blobs.map((h: string) => path.join(imgDir, 'blobs/sha256', h)),
  };
}

/** 300 tiny layers (one small file each): the fixed cost per layer. */
export const MANY_LAYERS = 300;

function manyLayersImage(imgDir: string): { label: string; ref: string } {
  if (!fs.existsSync(path.join(imgDir, 'index.json'))) {
    const layers = [];
    for (let i = 0; i < MANY_LAYERS; i++) {
      layers.push({ entries: [{ name: `d${i % 10}/`, type: 'dir' as const }, { name: `d${i % 10}/f${i}`, data: `file ${i}\n` }], compression: 'gzip' as const });
    }
    const w = new LayoutWriter(imgDir);
    w.add(w.image(buildImage({ layers, exec: { Cmd: ['/bin/sh'] } })), 'many');
    w.finish();
  }
  return { label: `${MANY_LAYERS} tiny layers`, ref: `${imgDir}:many` };
}

function benchRun(base: string): void {
  const runs = Number(process.env.RUNS ?? 5);
  const tsimg = path.resolve(__dirname, '../../../bin/ts-img');
  fs.mkdirSync(base, { recursive: true });
  const st = spawnSync('stat', ['-f', '-c', '%T', base]).stdout.toString().trim();
  if (st !== 'tmpfs') process.stderr.write(`bench: warning: ${base} is ${st}, not tmpfs\n`);
  const synthetic = syntheticImage(path.join(base, 'image'));
  const many = manyLayersImage(path.join(base, 'image-many'));
  const out = path.join(base, 'out');
  const clean = (): void => fs.rmSync(out, { recursive: true, force: true });
  const env0 = { ...process.env };
  delete env0.NODE_EXTRA_CA_CERTS;
  const envCA = { ...env0, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' };
  process.stdout.write(`${runs} runs each on ${st} (${base}); peak RSS from ${TIME} -f %M\n`);
  const images: Array<{ label: string; ref: string; blobs?: string[] }> = [synthetic, many];
  let flatSecs = NaN;
  for (const img of images) {
    const cases: Array<[string, () => Sample]> = [
      ['ts-img unpack', () => run(tsimg, ['unpack', '-q', img.ref, out], env0)],
      ['ts-img unpack (NODE_EXTRA_CA_CERTS)', () => run(tsimg, ['unpack', '-q', img.ref, out], envCA)],
      ['umoci unpack', () => run('umoci', ['unpack', '--image', img.ref, out], env0)],
    ];
    const blobs = img.blobs;
    if (blobs) {
      cases.push(['tar -xzf (3 blobs)', () => {
        fs.mkdirSync(out);
        const s = { secs: 0, rssKb: 0 };
        for (const b of blobs) {
          const r = run('tar', ['-xzf', b, '-C', out], env0);
          s.secs += r.secs;
          s.rssKb = Math.max(s.rssKb, r.rssKb);
        }
        return s;
      }]);
    }
    const results: Record<string, Sample> = {};
    for (const [name, fn] of cases) {
      const ss: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        clean();
        ss.push(fn());
      }
      clean();
      results[name] = { secs: median(ss.map((x) => x.secs)), rssKb: median(ss.map((x) => x.rssKb)) };
      process.stderr.write(`  ${name}: ${ss.map((x) => `${x.secs.toFixed(2)}s/${(x.rssKb / 1024).toFixed(0)}MB`).join(' ')}\n`);
    }
    if (img.ref === synthetic.ref) flatSecs = results['ts-img unpack'].secs;
    const u = results['umoci unpack'];
    const t = results['tar -xzf (3 blobs)'];
    process.stdout.write(`\n${img.label}\n${'tool'.padEnd(38)} ${'median'.padStart(9)}   ${'vs umoci'.padStart(11)}   ${t ? 'vs tar'.padStart(8) : ''}   ${'peak RSS'.padStart(9)}   ${'vs umoci'.padStart(8)}\n`);
    for (const [k, v] of Object.entries(results)) {
      const vsTar = t ? `${(v.secs / t.secs).toFixed(2).padStart(5)}x tar` : '';
      process.stdout.write(`${k.padEnd(38)} ${v.secs.toFixed(2).padStart(7)} s   ${(v.secs / u.secs).toFixed(2).padStart(5)}x umoci   ${vsTar.padStart(9)}   ${(v.rssKb / 1024).toFixed(0).padStart(6)} MB   ${(v.rssKb / u.rssKb).toFixed(2).padStart(5)}x\n`);
    }
    if (img.ref === many.ref) {
      const per = (r: Sample): string => ((r.secs * 1000) / MANY_LAYERS).toFixed(1);
      process.stdout.write(`per layer (whole run / ${MANY_LAYERS}, start-up included): ts-img ${per(results['ts-img unpack'])} ms, umoci ${per(u)} ms\n`);
    }
  }
  process.stdout.write(`targets: ts-img <= 0.50x umoci and <= 1.30x tar in time; peak RSS under 100 MB for any image\n`);
  benchOverlay(base, tsimg, synthetic.ref, flatSecs, runs, env0);
  void createHash;
}

/** Bytes on disk under the paths (du -x: never into a mounted rootfs; hardlinks counted once). */
function diskBytes(paths: string[]): number {
  const r = spawnSync('du', ['-s', '-x', '-c', '--block-size=1', ...paths], { encoding: 'utf8' });
  return Number(r.stdout.trim().split('\n').pop()!.split('\t')[0]);
}

/**
 * unpack --overlay of the synthetic image: the first (extracting into the store), the median of
 * `runs` further ones (the layers cached) against the flat unpack's median, `ts-img --version` as
 * the floor any command pays (Node and CLI start-up), and the disk for 10 bundles.
 */
function benchOverlay(base: string, tsimg: string, ref: string, flatSecs: number, runs: number, env: NodeJS.ProcessEnv): void {
  const store = path.join(base, 'store');
  const dir = path.join(base, 'ovl');
  fs.mkdirSync(dir, { recursive: true });
  const bundles: string[] = [];
  const unpackOvl = (): Sample => {
    const b = path.join(dir, `b${bundles.length}`);
    bundles.push(b);
    return run(tsimg, ['unpack', '-q', '--overlay', '--store', store, ref, b], env);
  };
  try {
    const first = unpackOvl();
    const warm: Sample[] = [];
    for (let i = 0; i < Math.max(runs, 9); i++) warm.push(unpackOvl());
    const floor: Sample[] = [];
    for (let i = 0; i < runs; i++) floor.push(run(tsimg, ['--version'], env));
    const w = median(warm.map((x) => x.secs));
    const f = median(floor.map((x) => x.secs));
    process.stderr.write(`  2nd unpack --overlay: ${warm.map((x) => `${(x.secs * 1000).toFixed(0)}ms`).join(' ')}\n`);
    while (bundles.length > 10) run(tsimg, ['remove', bundles.pop()!], env);
    const flat = path.join(dir, 'flat');
    run(tsimg, ['unpack', '-q', ref, flat], env);
    const flatDisk = diskBytes([flat]);
    const ovlDisk = diskBytes([path.join(store, '.ts-img', 'ovl'), ...bundles]);
    process.stdout.write(`\nunpack --overlay of the synthetic image (store on the same tmpfs)\n`);
    process.stdout.write(`first (extracts the layers)              ${first.secs.toFixed(2).padStart(7)} s   ${(first.secs / flatSecs).toFixed(2)}x flat\n`);
    process.stdout.write(`second and later (median of ${warm.length})          ${(w * 1000).toFixed(0).padStart(5)} ms   ${(w / flatSecs).toFixed(3)}x flat (${(flatSecs * 1000).toFixed(0)} ms); peak RSS ${(median(warm.map((x) => x.rssKb)) / 1024).toFixed(0)} MB\n`);
    process.stdout.write(`ts-img --version (start-up floor)        ${(f * 1000).toFixed(0).padStart(5)} ms   so the unpack's own work is about ${((w - f) * 1000).toFixed(0)} ms\n`);
    process.stdout.write(`disk: 10 overlay bundles + their layers  ${(ovlDisk / 1e6).toFixed(1).padStart(7)} MB   ${(ovlDisk / flatDisk).toFixed(3)}x one flat bundle (${(flatDisk / 1e6).toFixed(1)} MB)\n`);
    process.stdout.write(`targets: 2nd unpack --overlay <= 100 ms and <= 0.05x flat; 10 bundles <= 1.1x one flat bundle\n`);
  } finally {
    for (const b of bundles) spawnSync(tsimg, ['remove', b], { env, stdio: 'ignore' });
  }
}
