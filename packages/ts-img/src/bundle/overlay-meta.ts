/**
 * BUNDLE/ts-img-overlay.json: what an overlay bundle's rootfs is made of. Written by
 * `unpack --overlay`, read by `mount` (its paths checked: overlay/meta-paths.ts), `remove`, `gc`
 * (which layers a bundle still names) and `repack` (the upper dir is the bundle's change). The
 * format is a contract between those commands:
 *   {"version":1,"store":"<abs store dir>","layers":["sha256:<diff_id>", ...bottom-first],
 *    "fold":{"layers":N,"dir":"<abs dir>"} (only for images of more than 500 layers),
 *    "lowerdirs":["<abs dir>", ...bottom-first],"upper":"<abs BUNDLE>/overlay/upper",
 *    "work":"<abs BUNDLE>/overlay/work",
 *    "uidMap"/"gidMap":[{"containerID","hostID","size"}...] (only with unpack --uid-map/--gid-map)}
 * With a fold, its dir holds the bottom N layers applied onto each other (overlay/fold-store.ts)
 * and lowerdirs has one dir per layer above them.
 * The upper dir uses overlayfs' own encoding: a whiteout is a 0/0 char device, an opaque dir
 * carries trusted.overlay.opaque="y".
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomHex } from '../random-hex';
import { UserError } from '../cli/errors';
import { IdMapping, idMapOf } from '../layers/idmap';

export const OVERLAY_FILE = 'ts-img-overlay.json';

export interface OverlayMeta {
  version: 1;
  /** The image store holding the layer dirs (absolute). */
  store: string;
  /** diff_ids of the lower layers, bottom-first. */
  layers: string[];
  /** The bottom `layers` of them folded into one dir (absolute). */
  fold?: { layers: number; dir: string };
  /** The extracted layer dirs, bottom-first, one per layer above the fold (absolute). */
  lowerdirs: string[];
  /** The bundle's writable layer (absolute): BUNDLE/overlay/upper. */
  upper: string;
  /** overlayfs' work dir (absolute): BUNDLE/overlay/work. */
  work: string;
  /** unpack --uid-map/--gid-map: the layers show through idmapped mounts of this mapping. */
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
}

const DIFF_ID = /^sha256:[a-f0-9]{64}$/;

function absString(v: unknown): v is string {
  return typeof v === 'string' && path.isAbsolute(v) && !v.includes('\0');
}

/** Check a parsed file; the message names the file and the field. */
function validate(v: unknown, file: string): OverlayMeta {
  const bad = (field: string, want: string): never => {
    throw new UserError(`${file}: ${field} must be ${want}`);
  };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('the content', 'a JSON object');
  const m = v as Record<string, unknown>;
  if (m.version !== 1) bad('version', '1');
  if (!absString(m.store)) bad('store', 'an absolute path');
  if (!Array.isArray(m.layers) || m.layers.length === 0) bad('layers', 'a non-empty array');
  (m.layers as unknown[]).forEach((l, i) => {
    if (typeof l !== 'string' || !DIFF_ID.test(l)) bad(`layers[${i}]`, 'a sha256 diff_id');
  });
  const nLayers = (m.layers as unknown[]).length;
  let folded = 0;
  if (m.fold !== undefined) {
    const f = m.fold as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) bad('fold', 'an object');
    if (!Number.isInteger(f.layers) || (f.layers as number) < 2 || (f.layers as number) > nLayers) bad('fold.layers', `an integer from 2 to ${nLayers} (the number of layers)`);
    if (!absString(f.dir)) bad('fold.dir', 'an absolute path');
    folded = f.layers as number;
  }
  if (!Array.isArray(m.lowerdirs) || m.lowerdirs.length !== nLayers - folded) bad('lowerdirs', folded ? 'an array of one dir per layer above the fold' : 'an array as long as layers');
  (m.lowerdirs as unknown[]).forEach((d, i) => {
    if (!absString(d)) bad(`lowerdirs[${i}]`, 'an absolute path');
  });
  if (!absString(m.upper)) bad('upper', 'an absolute path');
  if (!absString(m.work)) bad('work', 'an absolute path');
  const maps: Pick<OverlayMeta, 'uidMap' | 'gidMap'> = {};
  for (const k of ['uidMap', 'gidMap'] as const) {
    if (m[k] === undefined) continue;
    const r = idMapOf(m[k]);
    if (typeof r === 'string') bad(k, r);
    maps[k] = r as IdMapping[];
  }
  const fold = m.fold as { layers: number; dir: string } | undefined;
  return {
    version: 1,
    store: m.store as string,
    layers: [...(m.layers as string[])],
    ...(fold ? { fold: { layers: fold.layers, dir: fold.dir } } : {}),
    lowerdirs: [...(m.lowerdirs as string[])],
    upper: m.upper as string,
    work: m.work as string,
    ...maps,
  };
}

/** The bundle's overlay description; undefined when the bundle is not an overlay bundle. */
export function readOverlayMeta(bundle: string): OverlayMeta | undefined {
  const file = path.join(bundle, OVERLAY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new UserError(`${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return validate(v, file);
}

/** Write the file atomically (a reader never sees half of it). */
export function writeOverlayMeta(bundle: string, meta: OverlayMeta): void {
  const file = path.join(bundle, OVERLAY_FILE);
  validate(meta, file);
  const tmp = `${file}.tmp-${process.pid}-${randomHex(4)}`;
  const text = JSON.stringify({
    version: 1, store: meta.store, layers: meta.layers, fold: meta.fold, lowerdirs: meta.lowerdirs, upper: meta.upper, work: meta.work, uidMap: meta.uidMap, gidMap: meta.gidMap,
  }, null, 2);
  try {
    fs.writeFileSync(tmp, `${text}\n`, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
