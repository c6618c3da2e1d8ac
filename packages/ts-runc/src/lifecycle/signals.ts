import { constants } from 'os';
import { RuntimeError } from '../errors';

const SIGNALS = constants.signals as Record<string, number>;

/**
 * "TERM", "SIGTERM", "15", "sigterm", "RTMIN+3" -> a number, as runc's kill accepts them; "0", as
 * kill(2) and runc take it, only asks whether the process is there. None or "" is the fallback,
 * as in runc; anything else is taken as it is (" 9" is no signal there either).
 */
export function parseSignal(s: string | undefined, fallback = 'SIGTERM'): number {
  const raw = s === undefined || s === '' ? fallback : s;
  if (/^\d+$/.test(raw)) {
    const n = Number(raw);
    if (n > 64) throw new RuntimeError(`unknown signal "${raw}"`);
    return n;
  }
  let name = raw.toUpperCase();
  if (!name.startsWith('SIG')) name = 'SIG' + name;
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'MIN' ? 34 : 64) + Number(rt[2] ?? 0);
    if (n >= 34 && n <= 64) return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw new RuntimeError(`unknown signal "${raw}"`);
  return n;
}
