import * as fs from 'fs';
import { RuntimeError } from '../errors';

/** --systemd-cgroup needs systemd as PID 1 to talk to; say so plainly when it is not. */
export function assertSystemd(): void {
  let comm = '';
  try {
    comm = fs.readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    /* unreadable */
  }
  if (comm !== 'systemd' || !fs.existsSync('/run/systemd/system')) {
    throw new RuntimeError('systemd cgroup flag passed, but systemd support for managing cgroups is not available: systemd is not running (PID 1 is not systemd)');
  }
}
