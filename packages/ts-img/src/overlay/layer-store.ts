/**
 * Extracted layers in the image store, for overlay bundles: STORE/.ts-img/ovl/
 *   <hex>/diff/       a layer (diff_id sha256:<hex>) extracted on its own: an overlayfs lower dir;
 *                     a layer that needed the layers below it (base-view.ts) is stored under
 *                     its chain id instead, so it is only used on that same base
 *   <hex>/layer.json  what the extraction found out (a root entry, an opaque root)
 *   fold/<hex>/       the bottom layers of a taller image folded into one dir (fold-store.ts)
 *   l/<short>         -> ../<hex>/diff: short names for mount(2)'s one-page option string
 *   tmp/<hex>-PID-R/  an extraction under way; renamed to <hex>/ only when complete, so a crash
 *                     never leaves a half layer under a name a later unpack trusts
 *   locks/<hex>.lock  flock held while a layer (diff_id) is extracted: two unpacks extract it once
 *   empty/            an empty dir (base-view.ts)
 *   refs/<id>.json    one per overlay bundle: {bundle, layers}; gc keeps what a live bundle names
 * Every writer holds the store's gc lock shared (Layout.writerLock); gc takes it exclusively.
 */
import fs from 'node:fs';
import path from 'node:path';
import { digestOf } from '../digest';
import { randomHex } from '../random-hex';
import { mkdirAll } from '@tsrt/libc';
import { lockFile } from '../store/lock';
import { removeTree } from '../fs/remove-tree';
import type { IdMapping } from '../layers/idmap';

export const HEX = /^[a-f0-9]{64}$/;
/** Short link names: 10 hex chars keep 300 layers (11 bytes each) inside one page. */
const SHORT = 10;
/** An extraction of a big layer may take long; the holder dying releases the flock anyway. */
const LAYER_LOCK_WAIT_MS = 3600_000;

export interface LayerInfo {
  /** The layer had an entry for its root directory (whose attributes then are the rootfs's). */
  rootEntry: boolean;
  /** The layer's root is opaque: no layer below it shows. */
  rootOpaque: boolean;
  entries: number;
  /** The extraction looked at the layers below: valid on this chain only. */
  chainDependent: boolean;
  /** The uids and gids its entries give (id-owners.ts); absent for a layer an older ts-img extracted. */
  owners?: Owners;
}

export interface Owners {
  uids: number[];
  gids: number[];
}

export interface StoredLayer extends LayerInfo {
  diffId: string;
  /** What the dir is named after: the diff_id, or the chain id for a chain-dependent layer. */
  key: string;
  /** The lower dir (absolute). */
  diff: string;
  /** Its name relative to linkDir, when the short link is there. */
  short?: string;
  /** A fold (fold-store.ts): this many bottom layers of the image applied into one dir. */
  fold?: number;
}

export interface BundleRef {
  bundle: string;
  /** Keys of the layer dirs the bundle was made of. */
  layers: string[];
  /** Keys (chain ids) of its folds (fold-store.ts). */
  folds?: string[];
  /** unpack --uid-map/--gid-map: the mapping its layers are shown with (what `mount` trusts). */
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
}

/** The hex of a sha256 digest (one of a layer's store names); an error for anything else. */
export function hexOf(diffId: string): string {
  const hex = diffId.startsWith('sha256:') ? diffId.slice(7) : '';
  if (!HEX.test(hex)) throw new Error(`diff_id ${JSON.stringify(diffId)}: not a sha256 digest`);
  return hex;
}

/** OCI chain ids: ChainID(L0) = DiffID(L0), ChainID(..Ln) = sha256(ChainID(..Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length === 0 ? d : digestOf(`${out[out.length - 1]} ${d}`));
  return out;
}

/** The layer.json of a stored dir: written last, so undefined means "not (completely) there". */
export function readInfo<T>(dir: string): Partial<T> | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'layer.json'), 'utf8')) as Partial<T>;
  } catch {
    return undefined;
  }
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

export class LayerStore {
  /** The image store (an OCI layout) this is part of. */
  readonly storeDir: string;
  readonly root: string;
  readonly linkDir: string;
  /** Extractions of this process under way (removed by abandon() on failure or signal). */
  private readonly pending = new Set<string>();

  constructor(storeDir: string) {
    this.storeDir = path.resolve(storeDir);
    this.root = path.join(this.storeDir, '.ts-img', 'ovl');
    this.linkDir = path.join(this.root, 'l');
  }

  private sub(name: string): string {
    const d = path.join(this.root, name);
    mkdirAll(d, 0o700);
    return d;
  }

  layerDir(key: string): string {
    return path.join(this.root, hexOf(key));
  }

  /** The key of a layer dir of this store (undefined for any other path). */
  keyOf(dir: string): string | undefined {
    const rel = path.relative(this.root, dir).split(path.sep);
    return rel.length === 2 && HEX.test(rel[0]) && rel[1] === 'diff' ? `sha256:${rel[0]}` : undefined;
  }

  /** The layer stored under `key`, or undefined when it has not been extracted (completely). */
  get(key: string): StoredLayer | undefined {
    const dir = this.layerDir(key);
    const info = readInfo<LayerInfo & { diffId?: string }>(dir);
    if (!info) return undefined;
    return {
      diffId: info.diffId ?? key, key, diff: path.join(dir, 'diff'), rootEntry: !!info.rootEntry, rootOpaque: !!info.rootOpaque,
      entries: info.entries ?? 0, chainDependent: !!info.chainDependent, short: this.shortLink(hexOf(key), `../${hexOf(key)}/diff`),
      ...(info.owners ? { owners: info.owners } : {}),
    };
  }

  /** Layer i of an image: stored under its diff_id, or, when it depends on its base, its chain id. */
  find(diffId: string, chainId: string): StoredLayer | undefined {
    return this.get(diffId) ?? (chainId === diffId ? undefined : this.get(chainId));
  }

  /** The short link l/<hex's first chars> -> `want`; undefined when another dir took that name. */
  shortLink(hex: string, want: string): string | undefined {
    const short = hex.slice(0, SHORT);
    const link = path.join(this.linkDir, short);
    const now = readLink(link);
    if (now !== undefined) return now === want ? short : undefined;
    try {
      mkdirAll(this.linkDir, 0o700);
      fs.symlinkSync(want, link);
      return short;
    } catch {
      return readLink(link) === want ? short : undefined; // another unpack made it meanwhile
    }
  }

  /**
   * The layer, extracted by `extract` into a fresh dir when no process has done it yet. Holds the
   * layer's lock meanwhile: a second unpack waits, then finds it done.
   */
  async ensure(diffId: string, chainId: string, extract: (diffDir: string) => Promise<LayerInfo>): Promise<StoredLayer> {
    const found = (): StoredLayer | undefined => this.find(diffId, chainId);
    return found() ?? this.extractOnce(hexOf(diffId), found, async (tmp) => {
      const info = await extract(path.join(tmp, 'diff'));
      fs.writeFileSync(path.join(tmp, 'layer.json'), `${JSON.stringify({ diffId, ...info })}\n`, { mode: 0o644 });
      return this.layerDir(info.chainDependent ? chainId : diffId);
    });
  }

  /**
   * Under the lock `name`, unless `found()` finds the result meanwhile: `extract` fills a fresh
   * dir in tmp/ (with an empty diff/) and says where it goes; it is renamed there only once
   * complete, so a crash leaves a temp dir (removed by the next extraction of `name` or by gc),
   * never a half result under a name a later unpack trusts.
   */
  async extractOnce<T>(name: string, found: () => T | undefined, extract: (tmp: string) => Promise<string>): Promise<T> {
    const lock = await lockFile(path.join(this.sub('locks'), `${name}.lock`), true, LAYER_LOCK_WAIT_MS);
    try {
      const done = found();
      if (done) return done;
      const tmpRoot = this.sub('tmp');
      // what an earlier extraction of it left (it died: we hold the lock now)
      for (const n of fs.readdirSync(tmpRoot)) if (n.startsWith(`${name}-`)) removeTree(path.join(tmpRoot, n));
      const tmp = path.join(tmpRoot, `${name}-${process.pid}-${randomHex(4)}`);
      this.pending.add(tmp);
      fs.mkdirSync(tmp, { mode: 0o700 });
      fs.mkdirSync(path.join(tmp, 'diff'), { mode: 0o755 });
      const dest = await extract(tmp);
      mkdirAll(path.dirname(dest), 0o700);
      fs.renameSync(tmp, dest);
      this.pending.delete(tmp);
      return found()!;
    } finally {
      lock.release();
    }
  }

  /** Remove this process's unfinished extractions (a failure or a signal). */
  abandon(): void {
    for (const t of this.pending) removeTree(t);
    this.pending.clear();
  }

  /** The short link name a layer's dir has (relative mount(2) lower dirs show it in mountinfo). */
  shortName(key: string): string {
    return hexOf(key).slice(0, SHORT);
  }

  /** Every stored layer's key. */
  list(): string[] {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    return names.filter((n) => HEX.test(n)).map((n) => `sha256:${n}`);
  }

  /** Remove a layer (the caller holds the gc lock exclusively). */
  remove(key: string): void {
    this.removeDir(this.layerDir(key), `../${hexOf(key)}/diff`);
  }

  /** Remove a stored dir and its short link (`linkTarget`), renamed out of the way first. */
  removeDir(dir: string, linkTarget: string): void {
    const hex = path.basename(dir);
    const link = path.join(this.linkDir, hex.slice(0, SHORT));
    if (readLink(link) === linkTarget) fs.rmSync(link, { force: true });
    // out of the way at once, so no half-removed layer is ever found under its name
    const aside = path.join(this.sub('tmp'), `gone-${hex}-${process.pid}`);
    fs.renameSync(dir, aside);
    removeTree(aside);
  }

  /** Remove tmp/ and locks/ (gc, while no unpack runs: every unpack holds the gc lock shared). */
  clearScratch(): void {
    removeTree(path.join(this.root, 'tmp'));
    removeTree(path.join(this.root, 'locks'));
  }

  /** An empty dir: the second lower of a read-only view of a single layer. */
  emptyDir(): string {
    return this.sub('empty');
  }

  // ----- bundle registrations -----------------------------------------------------------------

  private refFile(bundle: string): string {
    const id = digestOf(path.resolve(bundle)).slice(7, 39);
    return path.join(this.root, 'refs', `${id}.json`);
  }

  /** Register the bundle as using `layers` (its folds among them), shown with the mapping `map`. */
  addRef(bundle: string, layers: StoredLayer[], map: Pick<BundleRef, 'uidMap' | 'gidMap'> = {}): void {
    this.sub('refs');
    const f = this.refFile(bundle);
    const tmp = `${f}.tmp-${process.pid}`;
    const folds = layers.filter((l) => l.fold).map((l) => l.key);
    const ref: BundleRef = {
      bundle: path.resolve(bundle), layers: layers.filter((l) => !l.fold).map((l) => l.key), ...(folds.length ? { folds } : {}),
      ...(map.uidMap ? { uidMap: map.uidMap } : {}), ...(map.gidMap ? { gidMap: map.gidMap } : {}),
    };
    fs.writeFileSync(tmp, `${JSON.stringify(ref)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, f);
  }

  /** The registration of the bundle at `bundle`, if any. */
  refOf(bundle: string): BundleRef | undefined {
    try {
      const r = JSON.parse(fs.readFileSync(this.refFile(bundle), 'utf8')) as BundleRef;
      return r.bundle === path.resolve(bundle) ? r : undefined;
    } catch {
      return undefined;
    }
  }

  removeRef(bundle: string): void {
    fs.rmSync(this.refFile(bundle), { force: true });
  }

  /** Registered bundles; `file` is the ref's path (gc removes stale ones). */
  refs(): Array<BundleRef & { file: string }> {
    const dir = path.join(this.root, 'refs');
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return [];
    }
    const out: Array<BundleRef & { file: string }> = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const file = path.join(dir, n);
      try {
        const r = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleRef;
        if (typeof r.bundle === 'string' && Array.isArray(r.layers)) out.push({ bundle: r.bundle, layers: r.layers, folds: Array.isArray(r.folds) ? r.folds : [], file });
        else out.push({ bundle: '', layers: [], file });
      } catch {
        out.push({ bundle: '', layers: [], file });
      }
    }
    return out;
  }
}
