import * as fs from 'fs';
import * as path from 'path';
import { libc, Sys, O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import type { Descriptor, ImageConfig, ImageManifest, Spec } from '@tsrt/oci-spec';
import type { ImageSource } from './sources/types';
import { openSource } from './sources/open';
import { Applier } from './layers/applier';
import type { IdMapping } from './layers/idmap';
import { Progress } from './progress';
import { removeTree } from './fs/remove-tree';
import { formatBytes, freeBytes } from './layers/space';
import { makeBundleTemp, prepareBundlePath, renameIntoPlace } from './unpack-steps/bundle-dir';
import { assertBlobsPresent, checkedImage } from './unpack-steps/image';
import { AnyLayerReader, ExpansionBudget, LayerStreamer, layerReader } from './unpack-steps/apply-layers';
import { configText, runtimeConfig } from './unpack-steps/runtime-config';
import { cleanupOnSignal } from './unpack-steps/interrupt';

export interface UnpackOptions {
  /** :tag or @digest (overrides one given in the source string). */
  ref?: string;
  /** os/arch[/variant]; default the host. */
  platform?: string;
  rootless?: boolean;
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  /** Show a progress bar on a terminal (default: when stderr is a tty). */
  quiet?: boolean;
  warn?: (msg: string) => void;
  /** Syscall layer (tests); default the real one. */
  sys?: Sys;
  /** How many layers to decompress ahead of the one being applied (default 0: memory stays flat). */
  ahead?: number;
  /** Decompress on the main thread even for local blobs (tests). */
  noWorkers?: boolean;
  /** Blobs from this size on use a worker thread (default: never; tests give 0 to cover that path). */
  workerMinBytes?: number;
  /**
   * Refuse a layer that expands beyond this many bytes (CLI --max-layer-size). Default: no fixed
   * cap; all layers together may not expand beyond the free space of the bundle's filesystem.
   */
  maxLayerBytes?: number;
}

export interface UnpackResult {
  bundle: string;
  manifest: ImageManifest;
  manifestDigest: string;
  config: ImageConfig;
  spec: Spec;
  entries: number;
}

/**
 * Unpack an image into an OCI runtime bundle: rootfs/ (layers applied root-confined, digests
 * verified while streaming) and config.json. Works in a temporary sibling directory that is
 * renamed into place at the end, so a failure leaves `bundle` as it was.
 */
export async function unpack(source: string | ImageSource, bundle: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const sys = opts.sys ?? libc();
  const { abs, parent } = prepareBundlePath(bundle);
  const src = typeof source === 'string' ? openSource(source) : source;
  const own = typeof source === 'string';
  const progress = Progress.auto(opts.quiet);
  let tmp: string | undefined;
  let rootfd = -1;
  let applier: Applier | undefined;
  const readers: AnyLayerReader[] = [];
  const cleanup = (): void => {
    for (const r of readers) r.destroy();
    try { applier?.close(); } catch { /* ignore */ }
    if (rootfd >= 0) { try { sys.close(rootfd); } catch { /* ignore */ } rootfd = -1; }
    if (tmp) removeTree(tmp);
  };
  const uninstall = cleanupOnSignal(cleanup);
  try {
    const { manifest, manifestDigest, config, diffIds } = await checkedImage(src, opts);
    const n = manifest.layers.length;
    await assertBlobsPresent(src, manifest, [...Array(n).keys()]);

    // nothing fits when even the compressed blobs do not: say so before writing anything
    const free = freeBytes(parent);
    const total = manifest.layers.reduce((a: number, l: Descriptor) => a + (l.size || 0), 0);
    if (total > free) {
      throw new Error(`bundle ${bundle}: the layers need at least ${formatBytes(total)} but ${parent} has ${formatBytes(free)} free`);
    }

    tmp = makeBundleTemp(abs);
    const rootfs = path.join(tmp, 'rootfs');
    fs.mkdirSync(rootfs, { mode: 0o755 });
    fs.chmodSync(rootfs, 0o755);
    rootfd = sys.open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    applier = new Applier(sys, rootfd, rootfs, { uidMap: opts.uidMap, gidMap: opts.gidMap, rootless: opts.rootless, warn: opts.warn });

    let doneBytes = 0;
    const ropts = {
      ...opts,
      onRawBytes: (b: number) => {
        doneBytes += b;
        progress.update(`unpacking ${n} layers`, doneBytes, total);
      },
    };
    for (let i = 0; i < n; i++) readers.push(await layerReader(src, manifest, diffIds, i, ropts));
    const ahead = Math.max(0, opts.ahead ?? 0);
    const streamer = new LayerStreamer(new ExpansionBudget(free, parent));
    for (let i = 0; i < n; i++) {
      for (let j = i; j <= Math.min(n - 1, i + ahead); j++) await readers[j].start();
      await streamer.apply(readers[i], applier);
    }
    await streamer.finish(applier);
    progress.done();

    const spec = runtimeConfig(sys, rootfd, config, opts);
    sys.close(rootfd);
    rootfd = -1;
    fs.writeFileSync(path.join(tmp, 'config.json'), configText(spec), { mode: 0o644 });
    renameIntoPlace(tmp, abs, bundle);
    tmp = undefined;
    return { bundle: abs, manifest, manifestDigest, config, spec, entries: applier.entries };
  } catch (e) {
    progress.done();
    cleanup();
    throw e;
  } finally {
    uninstall();
    if (own) await src.close();
  }
}
