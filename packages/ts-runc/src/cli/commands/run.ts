import type { Command } from '../command';
import { run } from '../../lifecycle/run';
import { createFlags, createOptionsFrom } from './create';

export const command: Command = {
  name: 'run',
  usage: 'run [command options] <container-id>',
  description: 'create and run a container',
  flags: [
    ...createFlags,
    { name: 'detach', alias: ['d'], kind: 'bool', help: 'detach from the container process' },
    { name: 'keep', kind: 'bool', help: 'do not delete the container after it exits' },
  ],
  args: { exact: 1 },
  run(ctx, p) {
    return run(ctx, { ...createOptionsFrom(p.flags, p.positionals[0]), detach: !!p.flags.detach, keep: !!p.flags.keep });
  },
};
