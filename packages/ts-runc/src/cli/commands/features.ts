import type { Command } from '../command';
import { features } from '../../lifecycle/features';
import { VERSION } from '../version';
import { writeOut } from '../output';

export const command: Command = {
  name: 'features',
  usage: 'features',
  description: 'show the features this runtime implements (JSON)',
  flags: [],
  args: { exact: 0 },
  run() {
    writeOut(JSON.stringify(features(VERSION), null, '    ') + '\n');
  },
};
