import type { Command } from '../command';
import { writeSpec } from '../../lifecycle/spec';

export const command: Command = {
  name: 'spec',
  usage: 'spec [command options]',
  description: 'write a starting config.json',
  flags: [
    { name: 'bundle', alias: ['b'], kind: 'string', help: 'bundle directory (default: current directory)' },
    { name: 'rootless', kind: 'bool', help: 'a config for running as a non-root user' },
  ],
  args: { exact: 0 },
  run(_ctx, p) {
    writeSpec((p.flags.bundle as string | undefined) ?? process.cwd(), !!p.flags.rootless);
  },
};
