/**
 * scripts/bench-repack: `ts-img repack` of a small change (a new dir of 20 files, one file
 * changed, one deleted) on the synthetic image of bench-unpack (~300 MB, ~20,000 files), from a
 * flat bundle (rootfs compared with the image) and from an overlay bundle (its upper dir alone);
 * median wall time of RUNS (default 5) of the CLI. The overlay bundle is made by hand
 * (overlay-bundle.ts) until `unpack --overlay` exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { unpack } from '../unpack';
import { Layout } from '../store/layout';
import { layerHeaders } from '../archive/flatten';
import { median, run, Sample, syntheticImage } from './bench';
import { HandOverlayBundle, handOverlayBundle } from './overlay-bundle';

/** The same small change in either rootfs. */
function change(rootfs: string): void {
  fs.mkdirSync(path.join(rootfs, 'srv/app'), { recursive: true });
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(rootfs, `srv/app/f${i}`), Buffer.alloc(4096, `${i}`));
  const sub = path.join(rootfs, 'usr/share/d0/sub0');
  const files = fs.readdirSync(sub).filter((n) => /^l0-f\d+$/.test(n)).sort();
  fs.appendFileSync(path.join(sub, files[0]), 'changed\n');
  fs.rmSync(path.join(sub, files[1]));
}

export async function benchRepackMain(argv: string[]): Promise<void> {
  const base = path.join(argv[0] ?? '/dev/shm', 'ts-img-bench');
  const work = path.join(base, 'repack');
  let ovl: HandOverlayBundle | undefined;
  try {
    fs.mkdirSync(base, { recursive: true });
    const img = syntheticImage(path.join(base, 'image'));
    const imgDir = img.ref.slice(0, img.ref.lastIndexOf(':'));
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work);
    process.stderr.write('bench: flat and overlay bundles...\n');
    const flat = path.join(work, 'flat');
    await unpack(img.ref, flat, { quiet: true });
    fs.mkdirSync(path.join(work, 'ovl'));
    ovl = await handOverlayBundle(imgDir, 'bench', path.join(work, 'ovl'));
    change(path.join(flat, 'rootfs'));
    change(ovl.rootfs);
    const tsimg = path.resolve(__dirname, '../../../bin/ts-img');
    const runs = Number(process.env.RUNS ?? 5);
    const layout = await Layout.open(imgDir);
    const results: Array<[string, Sample, number]> = [];
    for (const [name, bundle] of [['flat bundle (rootfs vs image)', flat], ['overlay bundle (upper dir)', ovl.bundle]] as const) {
      const ss: Sample[] = [];
      for (let i = 0; i < runs; i++) ss.push(run(tsimg, ['repack', bundle, '--image', `${imgDir}:repacked`, '--base', img.ref], process.env));
      const layer = layout.find('repacked')!;
      const m = JSON.parse(fs.readFileSync(layout.blobPath(layer.descriptor.digest), 'utf8'));
      const entries = (await layerHeaders(layout, m.layers[m.layers.length - 1])).length;
      results.push([name, { secs: median(ss.map((x) => x.secs)), rssKb: median(ss.map((x) => x.rssKb)) }, entries]);
      process.stderr.write(`  ${name}: ${ss.map((x) => `${x.secs.toFixed(2)}s`).join(' ')}\n`);
    }
    // what any ts-img command costs before it does anything
    const floor = median(Array.from({ length: runs }, () => run(tsimg, ['--version'], process.env).secs));
    process.stdout.write(`\nrepack of a small change (20 files added, 1 changed, 1 deleted), ${runs} runs each\n${img.label}\n`);
    process.stdout.write(`${'bundle'.padEnd(32)} ${'median'.padStart(9)}   ${'vs flat'.padStart(8)}   ${'peak RSS'.padStart(9)}   layer entries\n`);
    const flatSecs = results[0][1].secs;
    for (const [name, s, entries] of results) {
      process.stdout.write(`${name.padEnd(32)} ${s.secs.toFixed(2).padStart(7)} s   ${(s.secs / flatSecs).toFixed(2).padStart(6)}x   ${(s.rssKb / 1024).toFixed(0).padStart(6)} MB   ${entries}\n`);
    }
    process.stdout.write(`${'ts-img --version (start-up)'.padEnd(32)} ${floor.toFixed(2).padStart(7)} s\n`);
  } finally {
    ovl?.unmount();
    fs.rmSync(work, { recursive: true, force: true });
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(base, { recursive: true, force: true });
  }
}
