import type { Command } from '../command';
import { events, parseDuration } from '../../lifecycle/cgroup-ops';
import { writeOut } from '../output';

export const command: Command = {
  name: 'events',
  usage: 'events [command options] <container-id>',
  description: 'display container events such as OOM notifications, cpu, memory, and IO usage statistics',
  flags: [
    { name: 'interval', kind: 'string', help: 'set the stats collection interval (default: 5s)' },
    { name: 'stats', kind: 'bool', help: "display the container's stats then exit" },
  ],
  args: { exact: 1 },
  async run(ctx, p) {
    const interval = p.flags.interval === undefined ? 5000 : parseDuration(String(p.flags.interval));
    await events(ctx, p.positionals[0], { stats: !!p.flags.stats, intervalMs: interval, write: writeOut });
  },
};
