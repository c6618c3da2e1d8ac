import type { Command } from '../command';
import { ps } from '../../lifecycle/cgroup-ops';
import { writeOut } from '../output';

export const command: Command = {
  name: 'ps',
  usage: 'ps [command options] <container-id> [ps options]',
  description: 'ps displays the processes running inside a container',
  flags: [{ name: 'format', alias: ['f'], kind: 'string', help: 'select one of: table or json (default: "table")' }],
  args: { min: 1 },
  restAfter: 0,
  run(ctx, p) {
    const [id, ...psArgs] = p.positionals;
    writeOut(ps(ctx, id, (p.flags.format as string | undefined) ?? 'table', psArgs));
  },
};
