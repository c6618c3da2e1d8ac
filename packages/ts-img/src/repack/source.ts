/** What both diff sources (flat-diff.ts, upper-diff.ts) take from the repack options. */
import type { IdRange } from './entries';

export interface DiffSourceOptions {
  /** rootfs paths to leave out (byte strings, no leading or trailing /) */
  exclude: Set<string>;
  uidMap?: IdRange[];
  gidMap?: IdRange[];
  /** record xattrs */
  xattrs: boolean;
  log?: (m: string) => void;
}
