/**
 * Peak memory that does not grow with the image (#16 item 9). Every decompressed chunk is a new
 * ArrayBuffer allocated outside V8's heap; V8 frees the ones already applied only when its own
 * heap asks for a collection, so a layer streaming through built up tens of MB of dead chunks
 * first (a 300 MB layer peaked near 85 MB for the gunzip stream alone). A young-generation
 * collection after every few MB applied frees them at once (about a millisecond each; the
 * 300 MB layer then peaks near 56 MB). gc() is reached through V8's --expose-gc flag, set at
 * run time for this process only.
 */
import * as v8 from 'v8';
import * as vm from 'vm';

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;

let gc: Gc | null | undefined;

function collector(): Gc | null {
  if (gc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as Gc;
    } catch {
      gc = null; // not available: memory is still bounded, only higher
    }
  }
  return gc;
}

/** Bytes applied between collections. */
const EVERY = 4 << 20;

export class BufferReleaser {
  private since = 0;

  /** Count `n` bytes applied; collect the dead chunks when enough have passed. */
  applied(n: number): void {
    this.since += n;
    if (this.since < EVERY) return;
    this.since = 0;
    collector()?.({ type: 'minor' });
  }
}
