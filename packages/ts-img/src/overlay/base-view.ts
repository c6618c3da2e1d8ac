/**
 * The layers below the one being extracted, merged, for the two things a layer cannot be
 * extracted without: the attributes of a directory it only creates implicitly (overlayfs would
 * show that layer's 0755, the flat unpack keeps the lower one's), and the file a hardlink into a
 * lower layer names (copied up into the layer, then linked). Opened on first use only; a layer
 * that used it depends on its base and is stored under its chain id instead of its diff_id.
 */
import path from 'node:path';
import type { Sys } from '@tsrt/libc';
import { openMergedView } from './mount';
import type { LayerStore, StoredLayer } from './layer-store';
import { closeDirs, openLayerDirs, openStoreDirs } from './mount-layers';

export interface OverlayBase {
  /** The merged view's root fd, or undefined when the layer has no layers below. */
  rootFd(): number | undefined;
}

export class BaseView implements OverlayBase {
  private fd = -1;
  /** The extraction looked at the layers below. */
  used = false;

  /** `lowers` bottom-first, the visible layers below, in `store`. */
  constructor(private readonly sys: Sys, private readonly store: LayerStore, private readonly lowers: StoredLayer[]) {}

  rootFd(): number | undefined {
    this.used = true;
    if (this.lowers.length === 0) return undefined;
    if (this.fd < 0) {
      const dirs = openLayerDirs(this.sys, this.store, this.lowers);
      try {
        // a read-only overlay needs two lowers: an empty dir under a single layer
        if (dirs.length === 1) {
          const empty = this.store.emptyDir();
          dirs.unshift({ fd: openStoreDirs(this.sys, this.store, [path.relative(this.store.root, empty)])[0], path: empty });
        }
        this.fd = openMergedView(this.sys, dirs);
      } finally {
        closeDirs(this.sys, dirs);
      }
    }
    return this.fd;
  }

  close(): void {
    if (this.fd >= 0) this.sys.close(this.fd);
    this.fd = -1;
  }
}
