import type { Sys } from '@tsrt/libc';
import type { Logger } from '../log/logger';
import { StateStore } from '../state/store';

/** What every lifecycle operation gets from the global flags. */
export interface Context {
  sys: Sys;
  log: Logger;
  store: StateStore;
  systemdCgroup: boolean;
}
