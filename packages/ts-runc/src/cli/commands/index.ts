import type { Command } from '../command';

/** Subcommands, loaded on demand so each invocation pays only for its own code. */
export const COMMANDS: Record<string, () => Command> = {
  create: () => require('./create').command,
  start: () => require('./start').command,
  run: () => require('./run').command,
  exec: () => require('./exec').command,
  state: () => require('./state').command,
  kill: () => require('./kill').command,
  delete: () => require('./delete').command,
  list: () => require('./list').command,
  spec: () => require('./spec').command,
  features: () => require('./features').command,
  pause: () => require('./pause').command,
  resume: () => require('./resume').command,
  ps: () => require('./ps').command,
  events: () => require('./events').command,
  update: () => require('./update').command,
  checkpoint: () => require('./checkpoint').checkpoint,
  restore: () => require('./checkpoint').restore,
};
