import fs from 'node:fs';
import type { Command } from '../command';
import { UserError } from '../errors';
import { storeOption } from '../../store/options';

export const exportCommand: Command = {
  command: 'export <image>',
  describe: "write an image's flattened root filesystem as one tar (layers applied, whiteouts resolved)",
  builder: (y) =>
    storeOption(y)
      .positional('image', { type: 'string', demandOption: true, describe: 'store name or LAYOUT:TAG' })
      .option('output', { alias: 'o', type: 'string', describe: 'tar file (default stdout)' })
      .option('platform', { type: 'string' }),
  run: async (a) => {
    const { exportFlattened } = await import('../../archive/flatten');
    const { resolveImageArg } = await import('../../store/args');
    const { loadImage, parsePlatform } = await import('../../store/image');
    const img = await resolveImageArg(String(a.image), a);
    const im = loadImage(img.layout, img.descriptor, a.platform ? parsePlatform(a.platform) : undefined);
    if (!a.output && process.stdout.isTTY) throw new UserError('export: refusing to write a tar to a terminal (use -o FILE)');
    const tmp = a.output ? `${a.output}.tmp-${process.pid}` : undefined;
    const out = tmp ? fs.createWriteStream(tmp) : process.stdout;
    try {
      await exportFlattened(img.layout, im.manifest.layers, out);
      if (tmp) fs.renameSync(tmp, a.output);
    } catch (e) {
      if (tmp) fs.rmSync(tmp, { force: true });
      throw e;
    }
  },
};
