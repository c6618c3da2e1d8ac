import type { Command } from '../command';
import { unpackCommand } from './unpack';

/** Every ts-img subcommand, in the order `--help` lists them. Add new commands here. */
export const commands: Command[] = [
  unpackCommand,
];
