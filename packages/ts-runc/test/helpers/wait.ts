/**
 * Waiting for an event instead of sleeping for a guessed time: poll `probe` until it returns a
 * truthy value, with a generous bounded deadline (a loaded or slow machine only makes the wait
 * longer), and fail with a message that names what was awaited and what was last seen.
 */

export interface WaitOptions {
  /** Give up after this long (default 30 s: generous, the wait ends as soon as the event is seen). */
  timeoutMs?: number;
  /** Time between probes (default 20 ms). */
  everyMs?: number;
  /** What to show of the last state when the deadline passes (default: the probe's last error). */
  lastSeen?: () => unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_EVERY_MS = 20;

function timeoutError(what: string, ms: number, lastErr: unknown, lastSeen?: () => unknown): Error {
  let seen = '';
  if (lastSeen) {
    try {
      seen = `; last seen: ${JSON.stringify(lastSeen())}`;
    } catch (e) {
      seen = `; last seen: (${String(e)})`;
    }
  } else if (lastErr !== undefined) {
    seen = `; last error: ${String(lastErr)}`;
  }
  return new Error(`timed out after ${ms} ms waiting for ${what}${seen}`);
}

/** One probe: its truthy value, or undefined (an error counts as "not yet" and is kept). */
function attempt<T>(probe: () => T | undefined | null | false, state: { lastErr?: unknown }): T | undefined {
  try {
    return probe() || undefined;
  } catch (e) {
    state.lastErr = e;
    return undefined;
  }
}

/** Polls `probe` (errors count as "not yet") until it returns a truthy value, which is returned. */
export async function waitFor<T>(what: string, probe: () => T | undefined | null | false, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const until = Date.now() + timeoutMs;
  const state: { lastErr?: unknown } = {};
  for (;;) {
    const v = attempt(probe, state);
    if (v) return v;
    if (Date.now() > until) throw timeoutError(what, timeoutMs, state.lastErr, opts.lastSeen);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? DEFAULT_EVERY_MS));
  }
}

const blocker = new Int32Array(new SharedArrayBuffer(4));

/** The same for synchronous tests: blocks between probes (nothing else of ours runs meanwhile). */
export function waitForSync<T>(what: string, probe: () => T | undefined | null | false, opts: WaitOptions = {}): T {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const until = Date.now() + timeoutMs;
  const state: { lastErr?: unknown } = {};
  for (;;) {
    const v = attempt(probe, state);
    if (v) return v;
    if (Date.now() > until) throw timeoutError(what, timeoutMs, state.lastErr, opts.lastSeen);
    Atomics.wait(blocker, 0, 0, opts.everyMs ?? DEFAULT_EVERY_MS);
  }
}

/** The same for probes that are themselves asynchronous (a gRPC call, say): a rejection counts as "not yet". */
export async function waitForAsync<T>(what: string, probe: () => Promise<T | undefined | null | false>, opts: WaitOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const until = Date.now() + timeoutMs;
  let lastErr: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      lastValue = v;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > until) throw timeoutError(what, timeoutMs, lastErr ?? `probe gave ${JSON.stringify(lastValue)}`, opts.lastSeen);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}
