import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command';
import { storeOption } from '../../store/options';

export const loadCommand: Command = {
  command: 'load [archive]',
  describe: 'load a docker-archive or oci-archive into the store (or --dest LAYOUT)',
  builder: (y) =>
    storeOption(y)
      .positional('archive', { type: 'string', describe: 'archive file (default: --input or stdin)' })
      .option('input', { alias: 'i', type: 'string', describe: 'archive file' })
      .option('tag', { alias: 't', type: 'string', array: true, describe: 'name(s) for the loaded image (archive with one image)' })
      .option('dest', { type: 'string', describe: 'load into this OCI layout instead of the store' })
      .option('quiet', { alias: 'q', type: 'boolean' }),
  run: async (a) => {
    const { load, spoolStdin } = await import('../../archive/load');
    const { openStore, storeName } = await import('../../store/args');
    const { Layout } = await import('../../store/layout');
    let file = a.archive ?? a.input;
    let spooled: string | undefined;
    if (!file || file === '-') file = spooled = await spoolStdin();
    try {
      const layout = a.dest ? await Layout.open(a.dest, { create: true }) : await openStore(a);
      const tags = (a.tag as string[] | undefined)?.map((t) => (a.dest ? t : storeName(t)));
      const r = await load(file, layout, { tag: tags });
      if (!a.quiet) for (const i of r.images) process.stdout.write(`loaded ${i.name ?? '<none>'} ${i.descriptor.digest}\n`);
    } finally {
      if (spooled) fs.rmSync(path.dirname(spooled), { recursive: true, force: true });
    }
  },
};
