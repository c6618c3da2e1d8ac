/**
 * Applying a layer of many small files is thousands of synchronous syscalls per decompressed
 * chunk, and a chunk that is already queued resolves without the event loop turning, so a
 * SIGINT/SIGTERM (delivered by the loop) waited for the whole layer. Tar data is fed in slices
 * and the loop gets a turn whenever a few milliseconds of synchronous work have passed.
 */
import { performance } from 'perf_hooks';

/** Bytes of tar fed to the parser between checks (at most 128 entries of 512-byte headers). */
export const SLICE = 64 << 10;

export class EventLoopTurns {
  private last = performance.now();

  constructor(private readonly everyMs = 10) {}

  /** Let pending events (signals, worker messages) run when the last turn is long enough ago. */
  async maybeYield(): Promise<void> {
    if (performance.now() - this.last < this.everyMs) return;
    await new Promise<void>((r) => setImmediate(r));
    this.last = performance.now();
  }
}
