import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { libc, Sys, O_PATH, O_DIRECTORY, O_CLOEXEC } from '@tsrt/libc';
import type { Descriptor, ImageConfig, ImageManifest, Spec } from '@tsrt/oci-spec';
import type { ImageSource } from './sources/types';
import { openSource } from './sources/open';
import { selectImage } from './sources/select';
import { parseDigest } from './digest';
import { Applier } from './layers/applier';
import { TarParser } from './layers/tar';
import { LayerReader, WorkerLayerReader } from './layers/reader';
import type { IdMapping } from './layers/idmap';
import { buildRuntimeConfig } from './bundle/config';
import { readInRoot } from './bundle/passwd';
import { Progress } from './progress';
import { removeTree } from './fs/remove-tree';
import { EventLoopTurns, SLICE } from './layers/event-loop-turns';
import { formatBytes, freeBytes } from './layers/space';
import { BufferReleaser } from './layers/release-buffers';

/**
 * Layer blobs at least this big are read, hashed and inflated in a worker thread. Off by
 * default: a worker costs tens of ms to start (the per-layer cost of #16 item 4) and holds its
 * own V8 heap and buffers (peak RSS 170-230 MB against 105-115 MB without, #16 item 9), while
 * zlib already inflates on the libuv pool and hashing on the main thread was not slower on 2 cores.
 */
const WORKER_MIN_BYTES = Infinity;

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

/** With a user namespace, the image's user must be inside the mappings or the container cannot start. */
function warnUnmappedUser(spec: Spec, warn: (m: string) => void): void {
  const u = spec.process?.user;
  const l = spec.linux;
  if (!u || !l?.uidMappings || !l.gidMappings) return;
  const inside = (id: number, m: { containerID: number; size: number }[]): boolean => m.some((r) => id >= r.containerID && id < r.containerID + r.size);
  if (!inside(u.uid, l.uidMappings)) warn(`process.user.uid ${u.uid} is not in the uid mappings: the container cannot start as that user (give --uid-map ranges)`);
  for (const g of [u.gid, ...(u.additionalGids ?? [])]) {
    if (!inside(g, l.gidMappings)) {
      warn(`gid ${g} of process.user is not in the gid mappings: the container cannot start with it (give --gid-map ranges)`);
      break;
    }
  }
}

/**
 * Temporary dirs of earlier unpacks into this bundle whose process is gone: a SIGKILLed unpack
 * cannot clean up, so the next one does. The name carries the pid (.NAME.ts-img-PID-RAND).
 */
function removeStaleTemps(parent: string, name: string): void {
  const prefix = `.${name}.ts-img-`;
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || fs.existsSync(`/proc/${pid}`)) continue;
    removeTree(path.join(parent, n));
  }
}

function assertBundleFree(bundle: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(bundle);
  } catch {
    return;
  }
  if (!st.isDirectory() || fs.readdirSync(bundle).length > 0) throw new Error(`bundle ${bundle}: already exists`);
}

/**
 * Unpack an image into an OCI runtime bundle: rootfs/ (layers applied root-confined, digests
 * verified while streaming) and config.json. Works in a temporary sibling directory that is
 * renamed into place at the end, so a failure leaves `bundle` as it was.
 */
export async function unpack(source: string | ImageSource, bundle: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const sys = opts.sys ?? libc();
  const abs = path.resolve(bundle);
  assertBundleFree(abs);
  const parent = path.dirname(abs);
  if (!fs.existsSync(parent)) throw new Error(`bundle ${bundle}: parent directory ${parent} does not exist`);
  removeStaleTemps(parent, path.basename(abs));
  const src = typeof source === 'string' ? openSource(source) : source;
  const own = typeof source === 'string';
  const progress = Progress.auto(opts.quiet);
  let tmp: string | undefined;
  let rootfd = -1;
  let applier: Applier | undefined;
  const readers: Array<LayerReader | WorkerLayerReader> = [];
  const cleanup = (): void => {
    for (const r of readers) r.destroy();
    try { applier?.close(); } catch { /* ignore */ }
    if (rootfd >= 0) { try { sys.close(rootfd); } catch { /* ignore */ } rootfd = -1; }
    if (tmp) removeTree(tmp);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.stderr.write(`ts-img: interrupted (${sig})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
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
    for (const [i, l] of manifest.layers.entries()) {
      if (!(await src.hasBlob(l))) {
        const urls = l.urls?.length ? `; it is non-distributable, fetch it from ${l.urls.join(', ')}` : '';
        throw new Error(`layer ${i + 1} (${l.digest}): blob not present in ${src.name}${urls}`);
      }
    }

    // nothing fits when even the compressed blobs do not: say so before writing anything
    const free = freeBytes(parent);
    const compressed = manifest.layers.reduce((a: number, l: Descriptor) => a + (l.size || 0), 0);
    if (compressed > free) {
      throw new Error(`bundle ${bundle}: the layers need at least ${formatBytes(compressed)} but ${parent} has ${formatBytes(free)} free`);
    }

    tmp = path.join(parent, `.${path.basename(abs)}.ts-img-${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    fs.chmodSync(tmp, 0o700);
    const rootfs = path.join(tmp, 'rootfs');
    fs.mkdirSync(rootfs, { mode: 0o755 });
    fs.chmodSync(rootfs, 0o755);
    rootfd = sys.open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    applier = new Applier(sys, rootfd, rootfs, { uidMap: opts.uidMap, gidMap: opts.gidMap, rootless: opts.rootless, warn: opts.warn });

    const n = manifest.layers.length;
    const total = manifest.layers.reduce((a: number, l: Descriptor) => a + (l.size || 0), 0);
    let doneBytes = 0;
    for (let i = 0; i < n; i++) {
      const label = `layer ${i + 1}/${n} (${manifest.layers[i].digest})`;
      const ropts = {
        sniff: src.sniffCompression,
        maxBytes: opts.maxLayerBytes ?? Infinity,
        onRawBytes: (b: number) => {
          doneBytes += b;
          progress.update(`unpacking ${n} layers`, doneBytes, total);
        },
      };
      const big = (manifest.layers[i].size ?? 0) >= (opts.workerMinBytes ?? WORKER_MIN_BYTES);
      const loc = opts.noWorkers || !big || !src.blobFile ? null : await src.blobFile(manifest.layers[i]);
      readers.push(loc
        ? new WorkerLayerReader(loc, manifest.layers[i], diffIds[i], label, ropts)
        : new LayerReader(src, manifest.layers[i], diffIds[i], label, ropts));
    }
    const ahead = Math.max(0, opts.ahead ?? 0);
    const turns = new EventLoopTurns();
    let expanded = 0;
    const released = new BufferReleaser();
    for (let i = 0; i < n; i++) {
      for (let j = i; j <= Math.min(n - 1, i + ahead); j++) await readers[j].start();
      const r = readers[i];
      try {
        applier.beginLayer(r.label);
        const parser = new TarParser(applier);
        for (;;) {
          const c = await r.next();
          if (c === null) break;
          expanded += c.length;
          if (expanded > free) {
            throw new Error(`${r.label}: the layers expand beyond the ${formatBytes(free)} free on ${parent} (a decompression bomb?)`);
          }
          for (let off = 0; off < c.length; off += SLICE) {
            parser.push(c.length <= SLICE ? c : c.subarray(off, off + SLICE));
            await turns.maybeYield();
          }
          released.applied(c.length);
        }
        parser.finish();
        await r.verify();
        applier.endLayer();
        // What the layer's whiteouts put aside, removed with a turn of the loop every few steps.
        for (const _ of applier.emptyTrashSteps()) await turns.maybeYield();
      } catch (e) {
        // every error of a layer names it (tar format errors, ENOSPC and the like do not by themselves)
        if (e instanceof Error && !e.message.startsWith('layer ')) e.message = `${r.label}: ${e.message}`;
        throw e;
      }
    }
    for (const _ of applier.finishSteps()) await turns.maybeYield();
    progress.done();

    const spec = buildRuntimeConfig(config, {
      rootless: opts.rootless,
      uidMap: opts.uidMap,
      gidMap: opts.gidMap,
      passwd: readInRoot(sys, rootfd, 'etc/passwd'),
      group: readInRoot(sys, rootfd, 'etc/group'),
    });
    warnUnmappedUser(spec, opts.warn ?? ((m) => process.stderr.write(`ts-img: warning: ${m}\n`)));
    sys.close(rootfd);
    rootfd = -1;
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(spec, null, '\t') + '\n', { mode: 0o644 });
    try {
      fs.renameSync(tmp, abs);
    } catch (e) {
      // Another unpack into the same bundle finished first (rename only replaces an empty dir).
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw new Error(`bundle ${bundle}: already exists`);
      throw e;
    }
    tmp = undefined;
    return { bundle: abs, manifest, manifestDigest: sel.manifestDesc.digest, config, spec, entries: applier.entries };
  } catch (e) {
    progress.done();
    cleanup();
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (own) await src.close();
  }
}
