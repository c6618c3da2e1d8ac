import type { Command } from '../command';

export const removeCommand: Command = {
  command: 'remove <bundle>',
  describe: 'unmount and delete a bundle made by unpack (an overlay bundle\'s shared layers stay until gc)',
  builder: (y) => y.positional('bundle', { type: 'string', demandOption: true, describe: 'bundle directory' }),
  run: async (a) => {
    const { removeBundle } = await import('../../overlay/remove');
    removeBundle(String(a.bundle));
  },
};
