import type { Command } from '../command';
import { storeOption } from '../../store/options';
import type { History } from '@tsrt/oci-spec';

export const historyCommand: Command = {
  command: 'history <image>',
  describe: 'show the history of an image (newest first) with the layer each step made',
  builder: (y) =>
    storeOption(y)
      .positional('image', { type: 'string', demandOption: true })
      .option('platform', { type: 'string' })
      .option('json', { type: 'boolean' })
      .option('no-trunc', { type: 'boolean' }),
  run: async (a) => {
    const { resolveImageArg } = await import('../../store/args');
    const { loadImage, parsePlatform } = await import('../../store/image');
    const { fmtBytes } = await import('../../registry/progress');
    const img = await resolveImageArg(String(a.image), a);
    const im = loadImage(img.layout, img.descriptor, a.platform ? parsePlatform(a.platform) : undefined);
    const hist: History[] = im.config.history ?? im.manifest.layers.map(() => ({}));
    let li = 0;
    const rows = hist.map((h) => {
      const layer = h.empty_layer ? undefined : im.manifest.layers[li++];
      return { created: h.created ?? '', createdBy: h.created_by ?? '', comment: h.comment ?? '', layer: layer?.digest ?? '', size: layer?.size ?? 0 };
    });
    rows.reverse();
    if (a.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    process.stdout.write('LAYER         CREATED                SIZE      CREATED BY\n');
    for (const r of rows) {
      const by = a.noTrunc ? r.createdBy : r.createdBy.length > 60 ? `${r.createdBy.slice(0, 57)}...` : r.createdBy;
      process.stdout.write(`${(r.layer ? r.layer.slice(7, 19) : '<empty>').padEnd(12)}  ${r.created.replace(/\.\d+Z$/, 'Z').padEnd(21)}  ${fmtBytes(r.size).padEnd(8)}  ${by}${r.comment ? ` (${r.comment})` : ''}\n`);
    }
  },
};
