/**
 * Extraction into the layer store for `unpack --overlay`: one layer on its own (the applier in
 * overlay mode, over a view of the layers below), or the bottom layers of a tall image folded
 * into one dir (the applier as in the flat unpack, in fold mode: fold-store.ts). The applier and
 * the streaming code are loaded only here, when something is not in the store yet.
 */
import { libc, O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import type { ImageSource } from '../sources/types';
import type { Applier, ApplierOptions } from '../layers/applier';
import type { CheckedImage } from '../unpack-steps/image';
import type { AnyLayerReader, LayerStreamer } from '../unpack-steps/apply-layers';
import type { UnpackOptions } from '../unpack';
import type { LayerInfo, Owners } from './layer-store';
import type { BaseView } from './base-view';
import type { FoldInfo } from './fold-store';

export interface Extraction {
  img: CheckedImage;
  src: ImageSource;
  /** Readers under way (destroyed by the unpack's cleanup on a failure or signal). */
  readers: Set<AnyLayerReader>;
  streamer: LayerStreamer;
  opts: UnpackOptions;
  onRawBytes: (n: number) => void;
}

/** Apply layers `from`..`to - 1` of the image onto `dir` with one applier; its state when done. */
async function applyInto(x: Extraction, dir: string, from: number, to: number, mode: ApplierOptions): Promise<Applier> {
  const sys = x.opts.sys ?? libc();
  const { layerReader } = await import('../unpack-steps/apply-layers');
  const { Applier: LayerApplier } = await import('../layers/applier');
  const rootfd = sys.open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const applier = new LayerApplier(sys, rootfd, dir, { ...mode, warn: x.opts.warn });
  try {
    for (let i = from; i < to; i++) {
      const r = await layerReader(x.src, x.img.manifest, x.img.diffIds, i, { ...x.opts, onRawBytes: x.onRawBytes });
      x.readers.add(r);
      try {
        await r.start();
        await x.streamer.apply(r, applier);
      } finally {
        r.destroy();
        x.readers.delete(r);
      }
    }
    await x.streamer.finish(applier);
    return applier;
  } finally {
    applier.close();
    sys.close(rootfd);
  }
}

const ownersOf = (a: Applier): Owners => ({ uids: [...a.owners.uids].sort((x, y) => x - y), gids: [...a.owners.gids].sort((x, y) => x - y) });

/** Layer i extracted into `diffDir` in overlay mode, over the layers below (`base`). */
export async function extractLayer(x: Extraction, i: number, diffDir: string, base: BaseView): Promise<LayerInfo> {
  try {
    const a = await applyInto(x, diffDir, i, i + 1, { overlay: true, base });
    // the first layer has nothing below it: looking found nothing that could differ
    return { rootEntry: a.rootEntrySeen, rootOpaque: a.rootOpaque, entries: a.entries, chainDependent: base.used && i > 0, owners: ownersOf(a) };
  } finally {
    base.close();
  }
}

/** The bottom `count` layers applied one onto another into `diffDir`, as the flat unpack applies them. */
export async function extractFold(x: Extraction, count: number, diffDir: string): Promise<FoldInfo> {
  const a = await applyInto(x, diffDir, 0, count, { fold: true });
  return { rootEntry: a.rootEntrySeen, entries: a.entries, owners: ownersOf(a) };
}
