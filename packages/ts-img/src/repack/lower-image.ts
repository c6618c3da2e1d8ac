/**
 * The parent of an overlay bundle's new layer (pure). The upper dir holds every change since the
 * bundle was unpacked, relative to its lower layers, so the new layer must go on top of exactly
 * those layers. The base image may have more: after a repack the bundle's origin is the new
 * image, whose last layer the upper already contains (and a file that layer added and the
 * container then removed leaves no whiteout in the upper). So the base is cut back to the
 * bundle's layers, with the history entries of the dropped layers, as Docker commits a container
 * onto its image however often it is committed.
 */
import type { ImageConfig, ImageManifest } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';

/** History without the entries from the (n+1)-th layer-creating one on. */
function historyOfFirstLayers(history: ImageConfig['history'], n: number): ImageConfig['history'] {
  if (!history) return history;
  let layers = 0;
  const end = history.findIndex((h) => !h.empty_layer && ++layers > n);
  return end < 0 ? history : history.slice(0, end);
}

/**
 * `manifest` and `config` cut back to the bundle's lower `layers` (diff_ids, bottom first);
 * `file` names the overlay description in the error when they are not the image's first layers.
 */
export function lowerImage(manifest: ImageManifest, config: ImageConfig, layers: string[], file: string): { manifest: ImageManifest; config: ImageConfig } {
  const ids = config.rootfs.diff_ids;
  if (layers.length > ids.length || layers.some((d, i) => d !== ids[i])) {
    throw new UserError(`${file}: layers are not the first layers of the base image (give --base the image the bundle was unpacked from)`);
  }
  if (layers.length === ids.length) return { manifest, config };
  const n = layers.length;
  return {
    manifest: { ...manifest, layers: manifest.layers.slice(0, n) },
    config: { ...config, rootfs: { ...config.rootfs, diff_ids: ids.slice(0, n) }, history: historyOfFirstLayers(config.history, n) },
  };
}
