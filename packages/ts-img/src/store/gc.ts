/** Mark (every blob reachable from index.json) and sweep, under the exclusive gc lock. */
import fs from 'node:fs';
import path from 'node:path';
import { Layout } from './layout';
import { reachable } from './image';
import { gcLayers } from '../overlay/gc-layers';

export interface GcResult {
  removed: number;
  freed: number;
  digests: string[];
  /** Extracted layers (diff_ids) no image or overlay bundle uses any more. */
  layers: string[];
  /** Folds of an image's bottom layers (chain ids) no overlay bundle uses any more. */
  folds: string[];
}

export async function gc(layout: Layout, opts: { dryRun?: boolean } = {}): Promise<GcResult> {
  const lock = await layout.gcLock();
  try {
    const live = new Set<string>();
    for (const d of layout.readIndex().manifests) reachable(layout, d, live, true);
    const res: GcResult = { removed: 0, freed: 0, digests: [], ...gcLayers(layout, live, opts.dryRun) };
    for (const [d, size] of layout.listBlobs()) {
      if (live.has(d)) continue;
      res.removed++;
      res.freed += size;
      res.digests.push(d);
      if (!opts.dryRun) layout.removeBlob(d);
    }
    if (!opts.dryRun) {
      layout.cleanTmp();
      const partial = path.join(layout.dir, '.ts-img', 'partial');
      fs.rmSync(partial, { recursive: true, force: true });
    }
    return res;
  } finally {
    lock.release();
  }
}
