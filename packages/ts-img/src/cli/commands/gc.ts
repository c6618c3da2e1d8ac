import type { Command } from '../command';
import { storeOption } from '../../store/options';

export const gcCommand: Command = {
  command: 'gc [layout]',
  describe: 'delete blobs no image in the store (or layout) refers to, and extracted layers no image or overlay bundle uses',
  builder: (y) =>
    storeOption(y)
      .positional('layout', { type: 'string', describe: 'collect this OCI layout instead of the store' })
      .option('dry-run', { alias: 'n', type: 'boolean', describe: 'only list what would go' }),
  run: async (a) => {
    const { openStore, splitLayoutArg } = await import('../../store/args');
    const { gc } = await import('../../store/gc');
    const { Layout } = await import('../../store/layout');
    const { fmtBytes } = await import('../../registry/progress');
    const layout = a.layout ? await Layout.open(splitLayoutArg(String(a.layout))?.dir ?? String(a.layout)) : await openStore(a, false);
    const r = await gc(layout, { dryRun: a.dryRun });
    for (const d of r.digests) process.stdout.write(`${a.dryRun ? 'would remove' : 'removed'} ${d}\n`);
    for (const d of r.layers) process.stdout.write(`${a.dryRun ? 'would remove' : 'removed'} layer ${d}\n`);
    for (const d of r.folds) process.stdout.write(`${a.dryRun ? 'would remove' : 'removed'} fold ${d}\n`);
    const extracted = [r.layers.length ? `${r.layers.length} extracted layers` : '', r.folds.length ? `${r.folds.length} folds` : ''].filter(Boolean);
    process.stdout.write(`${r.removed} blobs, ${fmtBytes(r.freed)}${extracted.map((x) => `; ${x}`).join('')}\n`);
  },
};
