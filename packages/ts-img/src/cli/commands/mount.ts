import type { Command } from '../command';

export const mountCommand: Command = {
  command: 'mount <bundle>',
  describe: 'mount an overlay bundle\'s rootfs again (after a reboot or an umount), its changes kept; nothing to do when mounted',
  builder: (y) => y.positional('bundle', { type: 'string', demandOption: true, describe: 'bundle directory made by unpack --overlay' }),
  run: async (a) => {
    const { mountBundle } = await import('../../overlay/remount');
    await mountBundle(String(a.bundle));
  },
};
