import type { Command } from '../command';
import { pause } from '../../lifecycle/cgroup-ops';

export const command: Command = {
  name: 'pause',
  usage: 'pause <container-id>',
  description: 'pause suspends all processes inside the container',
  flags: [],
  args: { exact: 1 },
  run(ctx, p) {
    pause(ctx, p.positionals[0]);
  },
};
