import type { Command } from '../command';
import type { ArchiveFormat, SaveItem } from '../../archive/save';
import { UserError } from '../errors';
import { storeOption } from '../../store/options';
import { writeTarOutput } from '../tar-output';

export const saveCommand: Command = {
  command: 'save <images..>',
  describe: 'write images to a docker-archive or oci-archive tar (blobs byte for byte)',
  builder: (y) =>
    storeOption(y)
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'store names or LAYOUT:TAG' })
      .option('output', { alias: 'o', type: 'string', describe: 'archive file (default stdout)' })
      .option('format', { choices: ['docker-archive', 'oci-archive'], default: 'docker-archive', describe: 'archive format' })
      .option('name', { type: 'string', describe: 'name to record in the archive (one image only)' })
      .option('platform', { type: 'string', describe: 'os/arch[/variant] for indexes (docker-archive)' }),
  run: async (a) => {
    const { save } = await import('../../archive/save');
    const { resolveImageArg, splitLayoutArg } = await import('../../store/args');
    const { parsePlatform } = await import('../../store/image');
    const imgs = a.images as string[];
    if (a.name && imgs.length !== 1) throw new UserError('--name needs exactly one image');
    const first = await resolveImageArg(imgs[0], a);
    const items: SaveItem[] = [];
    for (const i of imgs) {
      const r = await resolveImageArg(i, a);
      if (r.layout.dir !== first.layout.dir) throw new UserError('save: all images must come from the same store or layout');
      const name = a.name ?? (splitLayoutArg(i) && !r.name.startsWith('sha256:') ? r.name : r.name.startsWith('sha256:') ? undefined : r.name);
      items.push({ name, descriptor: r.descriptor });
    }
    const platform = a.platform ? parsePlatform(a.platform) : undefined;
    await writeTarOutput('save', 'archive', a.output, (out) => save(first.layout, items, out, a.format as ArchiveFormat, { platform }));
  },
};
