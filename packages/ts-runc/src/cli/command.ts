import type { FlagSpec, Parsed } from './args';
import type { Context } from '../lifecycle/context';

export interface Command {
  name: string;
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Exact or minimum positional arguments, checked with runc's messages. */
  args: { exact?: number; min?: number; max?: number };
  /** Flags end at the first positional after this many (exec/ps take a trailing command). */
  restAfter?: number;
  run(ctx: Context, p: Parsed): number | void | Promise<number | void>;
}
