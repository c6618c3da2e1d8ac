import type { Command } from '../command';
import { UserError } from '../errors';

export const unpackCommand: Command = {
  command: 'unpack [source] [bundle]',
  describe: 'unpack an image into an OCI runtime bundle (rootfs/ + config.json)',
  builder: (y) =>
    y
      .positional('source', { type: 'string', describe: 'image: layout dir[:tag|@digest], oci-archive, docker-archive' })
      .positional('bundle', { type: 'string', describe: 'bundle directory to create' })
      .option('image', { type: 'string', describe: 'image source (instead of the first positional)' }),
  run: async () => {
    throw new UserError('unpack: not implemented yet');
  },
};
