/** Choosing the image to unpack and checking its manifest and config before anything is written. */
import type { Descriptor, ImageConfig, ImageManifest } from '@tsrt/oci-spec';
import type { ImageSource } from '../sources/types';
import { selectImage } from '../sources/select';
import { parseDigest } from '../digest';

export interface CheckedImage {
  manifest: ImageManifest;
  manifestDigest: string;
  config: ImageConfig;
  /** One per manifest layer, validated digests. */
  diffIds: string[];
}

export async function checkedImage(src: ImageSource, opts: { ref?: string; platform?: string }): Promise<CheckedImage> {
  const sel = await selectImage(src, { ref: opts.ref, platform: opts.platform });
  const { manifest, config } = sel;
  if (config.rootfs?.type !== 'layers') throw new Error(`config ${sel.configDesc.digest}: rootfs.type must be "layers"`);
  const diffIds = config.rootfs.diff_ids;
  if (!Array.isArray(diffIds)) throw new Error(`config ${sel.configDesc.digest}: rootfs.diff_ids missing`);
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(`manifest ${sel.manifestDesc.digest} has ${manifest.layers.length} layers but the config has ${diffIds.length} diff_ids`);
  }
  manifest.layers.forEach((l: Descriptor, i: number) => {
    parseDigest(l?.digest, `manifest layers[${i}].digest`);
    parseDigest(diffIds[i], `config rootfs.diff_ids[${i}]`);
  });
  return { manifest, manifestDigest: sel.manifestDesc.digest, config, diffIds };
}

/** Every layer in `which` must have its blob in the source (one line naming the first that does not). */
export async function assertBlobsPresent(src: ImageSource, manifest: ImageManifest, which: number[]): Promise<void> {
  for (const i of which) {
    const l = manifest.layers[i];
    if (!(await src.hasBlob(l))) {
      const urls = l.urls?.length ? `; it is non-distributable, fetch it from ${l.urls.join(', ')}` : '';
      throw new Error(`layer ${i + 1} (${l.digest}): blob not present in ${src.name}${urls}`);
    }
  }
}
