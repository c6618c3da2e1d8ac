import type { Command } from '../command';
import { kill } from '../../lifecycle/kill';

export const command: Command = {
  name: 'kill',
  usage: 'kill [command options] <container-id> [signal]',
  description: 'send a signal (default SIGTERM) to the container init',
  flags: [{ name: 'all', alias: ['a'], kind: 'bool', help: 'send the signal to all processes of the container' }],
  args: { min: 1, max: 2 },
  run(ctx, p) {
    kill(ctx, p.positionals[0], p.positionals[1], !!p.flags.all);
  },
};
