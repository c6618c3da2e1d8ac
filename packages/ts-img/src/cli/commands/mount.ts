import type { Command } from '../command';
import { ArgTable, usage } from '../arg-table';

const mountArgs: ArgTable = {
  positionals: [{ name: 'bundle', required: true, describe: 'bundle directory made by unpack --overlay' }],
  options: [],
};

export const mountCommand: Command = {
  command: usage('mount', mountArgs),
  describe: 'mount an overlay bundle\'s rootfs again (after a reboot or an umount), its changes kept; nothing to do when mounted',
  args: mountArgs,
  run: async (a) => {
    const { mountBundle } = await import('../../overlay/remount');
    await mountBundle(String(a.bundle));
  },
};
