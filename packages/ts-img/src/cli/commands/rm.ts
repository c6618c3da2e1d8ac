import type { Command } from '../command';
import { UserError } from '../errors';
import { storeOption } from '../../store/options';

export const rmCommand: Command = {
  command: ['rm <images..>', 'rmi <images..>'],
  describe: 'remove image names from the store (blobs go with gc, or --prune)',
  builder: (y) =>
    storeOption(y)
      .positional('images', { type: 'string', array: true, demandOption: true })
      .option('prune', { type: 'boolean', describe: 'run gc afterwards' }),
  run: async (a) => {
    const { openStore, findInStore } = await import('../../store/args');
    const { gc } = await import('../../store/gc');
    const layout = await openStore(a, false);
    for (const n of a.images as string[]) {
      const hit = findInStore(layout, n);
      if (!hit) throw new UserError(`no image "${n}" in the store`);
      if (hit.name.startsWith('sha256:')) {
        // remove every name pointing at this digest
        const names = layout.refs().filter((r) => r.descriptor.digest === hit.descriptor.digest).map((r) => r.name);
        for (const x of names) await layout.untag(x);
        await layout.updateIndex((idx) => {
          idx.manifests = idx.manifests.filter((d) => d.digest !== hit.descriptor.digest);
        });
      } else await layout.untag(hit.name);
      process.stdout.write(`removed ${hit.name}\n`);
    }
    if (a.prune) {
      const r = await gc(layout);
      process.stdout.write(`gc: removed ${r.removed} blobs, ${r.freed} bytes\n`);
    }
  },
};
