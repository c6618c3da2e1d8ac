import type { Command } from '../command';
import { deleteContainer } from '../../lifecycle/delete';

export const command: Command = {
  name: 'delete',
  usage: 'delete [command options] <container-id>',
  description: 'delete a container and what it holds',
  flags: [{ name: 'force', alias: ['f'], kind: 'bool', help: 'kill the container first if it is running' }],
  args: { exact: 1 },
  run(ctx, p) {
    deleteContainer(ctx, p.positionals[0], !!p.flags.force);
  },
};
