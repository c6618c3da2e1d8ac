import type { Command } from '../command';
import { resume } from '../../lifecycle/cgroup-ops';

export const command: Command = {
  name: 'resume',
  usage: 'resume <container-id>',
  description: 'resumes all processes that have been previously paused',
  flags: [],
  args: { exact: 1 },
  run(ctx, p) {
    resume(ctx, p.positionals[0]);
  },
};
