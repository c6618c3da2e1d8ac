import fs from 'node:fs';
import type { Command } from '../command';
import type { ArchiveFormat } from '../../archive/save';
import { UserError } from '../errors';
import { storeOption } from '../../store/options';

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
    const items = [];
    for (const i of imgs) {
      const r = await resolveImageArg(i, a);
      if (r.layout.dir !== first.layout.dir) throw new UserError('save: all images must come from the same store or layout');
      const name = a.name ?? (splitLayoutArg(i) && !r.name.startsWith('sha256:') ? r.name : r.name.startsWith('sha256:') ? undefined : r.name);
      items.push({ name, descriptor: r.descriptor });
    }
    if (!a.output && process.stdout.isTTY) throw new UserError('save: refusing to write an archive to a terminal (use -o FILE)');
    const tmp = a.output ? `${a.output}.tmp-${process.pid}` : undefined;
    const out = tmp ? fs.createWriteStream(tmp) : process.stdout;
    // If stdout goes away (EPIPE), Node may just let the event loop run dry: exit 1, not 0.
    let finished = false;
    const onExit = () => {
      if (!finished) {
        process.stderr.write('ts-img: output closed before the archive was complete\n');
        process.exitCode = 1;
      }
    };
    process.once('exit', onExit);
    try {
      await save(first.layout, items, out, a.format as ArchiveFormat, { platform: a.platform ? parsePlatform(a.platform) : undefined });
      if (tmp) fs.renameSync(tmp, a.output);
      finished = true;
    } catch (e) {
      finished = true;
      if (tmp) fs.rmSync(tmp, { force: true });
      throw e;
    }
  },
};
