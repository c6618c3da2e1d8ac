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
    // If stdout goes away (EPIPE), Node may just let the event loop run dry: exit 1, not 0.
    let finished = false;
    const onExit = () => {
      if (!finished) {
        process.stderr.write('ts-img: output closed before the tar was complete\n');
        process.exitCode = 1;
      }
    };
    process.once('exit', onExit);
    try {
      await exportFlattened(img.layout, im.manifest.layers, out);
      if (tmp) fs.renameSync(tmp, a.output);
      finished = true;
    } catch (e) {
      finished = true;
      if (tmp) fs.rmSync(tmp, { force: true });
      throw e;
    }
  },
};
