import type { Command } from '../command';
import { writeTarOutput } from '../tar-output';
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
    await writeTarOutput('export', 'tar', a.output, (out) => exportFlattened(img.layout, im.manifest.layers, out));
  },
};
