import type { Sys } from '@tsrt/libc';
import type { InProcessHost } from '../plan/in-process';
import { ownExeReadOnly } from '../spawn/self-exe';

let facts: InProcessHost | undefined;

/** What plan/in-process.ts needs to know of this host and process (read once per command). */
export function inProcessHost(sys: Sys): InProcessHost {
  facts ??= { env: process.env, euid: process.geteuid?.() ?? -1, exeReadOnly: ownExeReadOnly(sys) };
  return facts;
}
