/**
 * An OCI image layout on disk used as a store: oci-layout, index.json, blobs/<alg>/<hex>.
 * Blobs are written to a temp file under .ts-img/tmp, verified, then renamed into place
 * (content-addressed, so concurrent writers of the same blob are harmless). index.json is
 * rewritten atomically under an exclusive flock; gc takes an exclusive "gc" lock that every
 * writer holds shared, so a blob written but not yet referenced is never collected.
 * Tags are org.opencontainers.image.ref.name annotations on index.json's descriptors.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Annotations, Descriptor, ImageIndex, MediaType } from '@tsrt/oci-spec';
import { UserError } from '../cli/errors';
import { assertDigest, digestOf, isValidDigest } from '../registry/digest';
import { randomHex } from '../random-hex';
import { Lock, lockFile, withLock } from './lock';
import { mkdirAll } from '@tsrt/libc';

export const REF_NAME = Annotations.RefName;
export const DEFAULT_STORE = '/var/lib/ts-img';

export interface RefEntry {
  name: string;
  descriptor: Descriptor;
}

export class Layout {
  private constructor(readonly dir: string) {}

  /** Open a layout; with create, make an empty one when the directory has none. */
  static async open(dir: string, opts: { create?: boolean } = {}): Promise<Layout> {
    const abs = path.resolve(dir);
    const l = new Layout(abs);
    const marker = path.join(abs, 'oci-layout');
    const index = path.join(abs, 'index.json');
    const emptyIndex = () => l.writeFileAtomic(index, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ImageIndex, manifests: [] })));
    if (!fs.existsSync(marker)) {
      if (!opts.create) throw new UserError(`${dir} is not an OCI image layout (no oci-layout file)`);
      mkdirAll(path.join(abs, 'blobs', 'sha256'));
      // The marker last: a create killed before it leaves no layout that lacks its index.
      if (!fs.existsSync(index)) emptyIndex();
      l.writeFileAtomic(marker, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    } else {
      // Made by a version that wrote the marker first and was killed before the index.
      if (opts.create && !fs.existsSync(index)) emptyIndex();
      const v = JSON.parse(fs.readFileSync(marker, 'utf8'));
      if (v.imageLayoutVersion !== '1.0.0') throw new UserError(`${dir}: unsupported imageLayoutVersion ${v.imageLayoutVersion}`);
    }
    return l;
  }

  static isLayout(dir: string): boolean {
    return fs.existsSync(path.join(dir, 'oci-layout'));
  }

  private get privDir(): string {
    return path.join(this.dir, '.ts-img');
  }

  tmpPath(): string {
    const d = path.join(this.privDir, 'tmp');
    mkdirAll(d);
    return path.join(d, `${process.pid}-${randomHex(6)}`);
  }

  /** Where a partial download of this blob lives (kept across runs so it can be resumed). */
  partialPath(digest: string): string {
    assertDigest(digest);
    const d = path.join(this.privDir, 'partial');
    mkdirAll(d);
    return path.join(d, digest.replace(':', '-'));
  }

  private writeFileAtomic(file: string, data: Buffer): void {
    const tmp = `${file}.tmp-${process.pid}-${randomHex(4)}`;
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  }

  blobPath(digest: string): string {
    assertDigest(digest);
    const [alg, hex] = digest.split(':');
    return path.join(this.dir, 'blobs', alg, hex);
  }

  hasBlob(digest: string, size?: number): boolean {
    try {
      const st = fs.statSync(this.blobPath(digest));
      return st.isFile() && (size === undefined || st.size === size);
    } catch {
      return false;
    }
  }

  /** Move a fully written and verified file into blobs/. */
  commitFile(file: string, digest: string): void {
    const dest = this.blobPath(digest);
    mkdirAll(path.dirname(dest));
    const fd = fs.openSync(file, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(file, 0o644);
    fs.renameSync(file, dest);
  }

  writeBlob(data: Buffer, expected?: string): Descriptor & { digest: string } {
    const digest = digestOf(data);
    if (expected && expected !== digest) throw new Error(`blob digest mismatch: expected ${expected}, got ${digest}`);
    if (!this.hasBlob(digest, data.length)) {
      const tmp = this.tmpPath();
      fs.writeFileSync(tmp, data);
      this.commitFile(tmp, digest);
    }
    return { mediaType: '', digest, size: data.length };
  }

  /** Stream into a blob, verifying when the digest is known; returns digest and size. */
  async writeBlobStream(src: Readable, expected?: string, expectedSize?: number): Promise<{ digest: string; size: number }> {
    // streams and node:crypto are loaded by the commands that write blobs, not by every start
    const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
    const { VerifyingStream } = require('../registry/verifying-stream') as typeof import('../registry/verifying-stream');
    const tmp = this.tmpPath();
    const v = new VerifyingStream(expected, expectedSize);
    try {
      await pipeline(src, v, fs.createWriteStream(tmp, { highWaterMark: 4 << 20 }));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    const digest = v.actual!;
    if (this.hasBlob(digest, v.bytes)) fs.rmSync(tmp, { force: true });
    else this.commitFile(tmp, digest);
    return { digest, size: v.bytes };
  }

  readBlob(digest: string, limit = 64 << 20): Buffer {
    const p = this.blobPath(digest);
    const st = fs.statSync(p);
    if (st.size > limit) throw new Error(`blob ${digest} too large to read into memory (${st.size} bytes)`);
    const b = fs.readFileSync(p);
    const d = digestOf(b, digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (d !== digest) throw new UserError(`store blob ${digest} is corrupt (content hashes to ${d})`);
    return b;
  }

  readJSON<T>(digest: string): T {
    return JSON.parse(this.readBlob(digest).toString('utf8')) as T;
  }

  openBlob(digest: string): fs.ReadStream {
    return fs.createReadStream(this.blobPath(digest));
  }

  readIndex(): ImageIndex {
    const idx = JSON.parse(fs.readFileSync(path.join(this.dir, 'index.json'), 'utf8')) as ImageIndex;
    if (!Array.isArray(idx.manifests)) throw new UserError(`${this.dir}/index.json has no manifests array`);
    return idx;
  }

  private indexLockPath(): string {
    mkdirAll(this.privDir);
    return path.join(this.privDir, 'index.lock');
  }

  /** Shared "writer" lock; gc takes it exclusively. Hold it while writing blobs not yet referenced. */
  async writerLock(): Promise<Lock> {
    mkdirAll(this.privDir);
    return lockFile(path.join(this.privDir, 'gc.lock'), false);
  }

  async gcLock(): Promise<Lock> {
    mkdirAll(this.privDir);
    return lockFile(path.join(this.privDir, 'gc.lock'), true);
  }

  async updateIndex<T>(fn: (idx: ImageIndex) => T): Promise<T> {
    return withLock(this.indexLockPath(), true, () => {
      const idx = this.readIndex();
      const r = fn(idx);
      const out: ImageIndex = { ...idx, schemaVersion: 2, mediaType: idx.mediaType ?? MediaType.ImageIndex };
      this.writeFileAtomic(path.join(this.dir, 'index.json'), Buffer.from(JSON.stringify(out)));
      return r;
    });
  }

  refs(): RefEntry[] {
    return this.readIndex()
      .manifests.filter((d) => d.annotations?.[REF_NAME] !== undefined)
      .map((d) => ({ name: d.annotations![REF_NAME], descriptor: d }));
  }

  /** Point `name` at `desc` (replacing any descriptor that carries that name). */
  async tag(name: string, desc: Descriptor): Promise<void> {
    if (!name || /[\s]/.test(name)) throw new UserError(`invalid tag name "${name}"`);
    assertDigest(desc.digest);
    await this.updateIndex((idx) => {
      idx.manifests = idx.manifests.filter((d) => d.annotations?.[REF_NAME] !== name);
      const { annotations, ...rest } = desc;
      const ann = { ...(annotations ?? {}) };
      delete ann[REF_NAME];
      idx.manifests.push({ ...rest, annotations: { ...ann, [REF_NAME]: name } });
    });
  }

  /** Add a descriptor without a name (kept by gc, listed as <none>) unless already present. */
  async addUntagged(desc: Descriptor): Promise<void> {
    await this.updateIndex((idx) => {
      if (!idx.manifests.some((d) => d.digest === desc.digest)) idx.manifests.push(desc);
    });
  }

  async untag(name: string): Promise<Descriptor | undefined> {
    return this.updateIndex((idx) => {
      const hit = idx.manifests.find((d) => d.annotations?.[REF_NAME] === name);
      idx.manifests = idx.manifests.filter((d) => d.annotations?.[REF_NAME] !== name);
      return hit;
    });
  }

  /** Descriptor for a tag (exact name) or a digest / unique hex prefix (>= 6) of a top-level manifest. */
  find(nameOrDigest: string): RefEntry | undefined {
    const idx = this.readIndex();
    const byName = idx.manifests.find((d) => d.annotations?.[REF_NAME] === nameOrDigest);
    if (byName) return { name: nameOrDigest, descriptor: byName };
    const s = nameOrDigest.replace(/^@/, '');
    if (isValidDigest(s)) {
      const d = idx.manifests.find((m) => m.digest === s);
      if (d) return { name: d.annotations?.[REF_NAME] ?? s, descriptor: d };
      if (this.hasBlob(s)) return { name: s, descriptor: { mediaType: '', digest: s, size: fs.statSync(this.blobPath(s)).size } };
      return undefined;
    }
    const hex = nameOrDigest.replace(/^@?sha256:/, '');
    if (/^[a-f0-9]{6,64}$/.test(hex)) {
      const hits = new Map<string, Descriptor>();
      for (const m of idx.manifests) if (m.digest.startsWith(`sha256:${hex}`)) hits.set(m.digest, m);
      if (hits.size > 1) throw new UserError(`digest prefix ${hex} is ambiguous`);
      const [d] = [...hits.values()];
      if (d) return { name: d.annotations?.[REF_NAME] ?? d.digest, descriptor: d };
    }
    return undefined;
  }

  /** All blobs present: digest -> size. */
  listBlobs(): Map<string, number> {
    const out = new Map<string, number>();
    const root = path.join(this.dir, 'blobs');
    for (const alg of fs.existsSync(root) ? fs.readdirSync(root) : []) {
      for (const hex of fs.readdirSync(path.join(root, alg))) {
        const d = `${alg}:${hex}`;
        if (isValidDigest(d)) out.set(d, fs.statSync(path.join(root, alg, hex)).size);
      }
    }
    return out;
  }

  removeBlob(digest: string): void {
    fs.rmSync(this.blobPath(digest), { force: true });
  }

  cleanTmp(): void {
    fs.rmSync(path.join(this.privDir, 'tmp'), { recursive: true, force: true });
  }
}
