import type { Command } from '../command';
import { ArgTable, usage } from '../arg-table';

const removeArgs: ArgTable = {
  positionals: [{ name: 'bundle', required: true, describe: 'bundle directory' }],
  options: [],
};

export const removeCommand: Command = {
  command: usage('remove', removeArgs),
  describe: 'unmount and delete a bundle made by unpack (an overlay bundle\'s shared layers stay until gc)',
  args: removeArgs,
  run: async (a) => {
    const { removeBundle } = await import('../../overlay/remove');
    removeBundle(String(a.bundle));
  },
};
