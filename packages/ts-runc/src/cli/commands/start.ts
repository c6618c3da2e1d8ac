import type { Command } from '../command';
import { start } from '../../lifecycle/start';

export const command: Command = {
  name: 'start',
  usage: 'start <container-id>',
  description: 'start a created container',
  flags: [],
  args: { exact: 1 },
  run(ctx, p) {
    start(ctx, p.positionals[0]);
  },
};
