/**
 * Streaming one layer blob through the tar parser into an applier: shared by the flat unpack
 * (every layer onto one rootfs) and `unpack --overlay` (each layer into its own store dir).
 */
import type { Descriptor, ImageManifest } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import type { Applier } from '../layers/applier';
import { TarParser } from '../layers/tar';
import { LayerReader, WorkerLayerReader } from '../layers/reader';
import { EventLoopTurns, SLICE } from '../layers/event-loop-turns';
import { BufferReleaser } from '../layers/release-buffers';
import { formatBytes } from '../layers/space';

/**
 * Layer blobs at least this big are read, hashed and inflated in a worker thread. Off by
 * default: a worker costs tens of ms to start (the per-layer cost of #16 item 4) and holds its
 * own V8 heap and buffers (peak RSS 170-230 MB against 105-115 MB without, #16 item 9), while
 * zlib already inflates on the libuv pool and hashing on the main thread was not slower on 2 cores.
 */
const WORKER_MIN_BYTES = Infinity;

export type AnyLayerReader = LayerReader | WorkerLayerReader;

export interface ReaderOptions {
  maxLayerBytes?: number;
  noWorkers?: boolean;
  workerMinBytes?: number;
  onRawBytes: (n: number) => void;
}

/** The reader of layer i (verifies blob digest and diff_id while streaming). */
export async function layerReader(src: ImageSource, manifest: ImageManifest, diffIds: string[], i: number, o: ReaderOptions): Promise<AnyLayerReader> {
  const desc: Descriptor = manifest.layers[i];
  const label = `layer ${i + 1}/${manifest.layers.length} (${desc.digest})`;
  const ropts = { sniff: src.sniffCompression, maxBytes: o.maxLayerBytes ?? Infinity, onRawBytes: o.onRawBytes };
  const big = (desc.size ?? 0) >= (o.workerMinBytes ?? WORKER_MIN_BYTES);
  const loc = o.noWorkers || !big || !src.blobFile ? null : await src.blobFile(desc);
  return loc ? new WorkerLayerReader(loc, desc, diffIds[i], label, ropts) : new LayerReader(src, desc, diffIds[i], label, ropts);
}

/** How much all layers of one unpack may expand to (the free space where they land). */
export class ExpansionBudget {
  private expanded = 0;

  constructor(readonly free: number, readonly where: string) {}

  add(n: number, label: string): void {
    this.expanded += n;
    if (this.expanded > this.free) {
      throw new Error(`${label}: the layers expand beyond the ${formatBytes(this.free)} free on ${this.where} (a decompression bomb?)`);
    }
  }
}

export class LayerStreamer {
  private readonly turns = new EventLoopTurns();
  private readonly released = new BufferReleaser();

  constructor(private readonly budget: ExpansionBudget) {}

  /** Let the event loop turn (signals) when it is due. */
  maybeYield(): Promise<void> {
    return this.turns.maybeYield();
  }

  /** Apply the started reader's layer; every error names the layer. */
  async apply(r: AnyLayerReader, applier: Applier): Promise<void> {
    try {
      applier.beginLayer(r.label);
      const parser = new TarParser(applier);
      for (;;) {
        const c = await r.next();
        if (c === null) break;
        this.budget.add(c.length, r.label);
        for (let off = 0; off < c.length; off += SLICE) {
          parser.push(c.length <= SLICE ? c : c.subarray(off, off + SLICE));
          await this.turns.maybeYield();
        }
        this.released.applied(c.length);
      }
      parser.finish();
      await r.verify();
      applier.endLayer();
      // What the layer's whiteouts put aside, removed with a turn of the loop every few steps.
      for (const _ of applier.emptyTrashSteps()) await this.turns.maybeYield();
    } catch (e) {
      // every error of a layer names it (tar format errors, ENOSPC and the like do not by themselves)
      if (e instanceof Error && !e.message.startsWith('layer ')) e.message = `${r.label}: ${e.message}`;
      throw e;
    }
  }

  /** The applier's last phase (directory times), a step per event-loop check. */
  async finish(applier: Applier): Promise<void> {
    for (const _ of applier.finishSteps()) await this.turns.maybeYield();
  }
}
