import type { Command } from '../command';
import { registryOptions, storeOption } from '../../store/options';

export const inspectCommand: Command = {
  command: 'inspect <image>',
  describe: 'show an image summary (JSON) from a registry reference, the store, a layout or an archive',
  builder: (y) =>
    registryOptions(storeOption(y))
      .positional('image', { type: 'string', demandOption: true, describe: 'docker://REF or REF, store name, LAYOUT[:TAG|@DIGEST], archive' })
      .option('platform', { type: 'string', describe: 'os/arch[/variant] for indexes (default: this host)' })
      .option('raw', { type: 'boolean', describe: 'print the manifest (or index) exactly as stored' })
      .option('config', { type: 'boolean', describe: 'print the image config exactly as stored' }),
  run: async (a) => {
    const { inspectImage } = await import('../../registry/inspect');
    const out = await inspectImage(String(a.image), a, a.raw ? 'raw' : a.config ? 'config' : 'summary');
    process.stdout.write(a.raw || a.config ? out : `${out}\n`);
  },
};
