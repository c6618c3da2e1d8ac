import type { Command } from '../command';
import { stateOf } from '../../lifecycle/state';
import { writeOut } from '../output';

export const command: Command = {
  name: 'state',
  usage: 'state <container-id>',
  description: 'output the state of a container',
  flags: [],
  args: { exact: 1 },
  run(ctx, p) {
    // runc prints indented JSON with no trailing newline; parsers rely on the shape only.
    writeOut(JSON.stringify(stateOf(ctx, p.positionals[0]), null, '  '));
  },
};
