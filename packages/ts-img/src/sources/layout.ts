import * as fs from 'fs';
import * as path from 'path';
import type { Readable } from 'stream';
import type { Descriptor, ImageIndex } from '@tsrt/oci-spec';
import type { ImageSource } from './types';
import { MAX_JSON_BLOB } from './types';
import { parseDigest } from '../digest';

/** An OCI image layout directory (image-layout.md). */
export class LayoutSource implements ImageSource {
  readonly kind = 'oci-layout';
  constructor(readonly dir: string, readonly ref?: string) {}

  get name(): string {
    return this.dir;
  }

  private readSmall(rel: string): Buffer {
    const p = path.join(this.dir, rel);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      throw new Error(`${p}: missing (not an OCI image layout?)`);
    }
    if (!st.isFile()) throw new Error(`${p}: not a regular file`);
    if (st.size > MAX_JSON_BLOB) throw new Error(`${p}: too large (${st.size} bytes)`);
    return fs.readFileSync(p);
  }

  async index(): Promise<ImageIndex> {
    let layout: { imageLayoutVersion?: unknown };
    try {
      layout = JSON.parse(this.readSmall('oci-layout').toString('utf8'));
    } catch (e) {
      throw new Error(`${path.join(this.dir, 'oci-layout')}: ${(e as Error).message}`);
    }
    if (typeof layout.imageLayoutVersion !== 'string') {
      throw new Error(`${path.join(this.dir, 'oci-layout')}: imageLayoutVersion missing`);
    }
    try {
      return JSON.parse(this.readSmall('index.json').toString('utf8')) as ImageIndex;
    } catch (e) {
      throw new Error(`${path.join(this.dir, 'index.json')}: ${(e as Error).message}`);
    }
  }

  blobPath(desc: Descriptor): string {
    const d = parseDigest(desc.digest, 'descriptor digest');
    return path.join(this.dir, 'blobs', d.algorithm, d.encoded);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      return fs.statSync(this.blobPath(desc)).isFile();
    } catch {
      return false;
    }
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    const p = this.blobPath(desc);
    let fd: number;
    try {
      fd = fs.openSync(p, 'r');
    } catch (e) {
      throw new Error(`blob ${desc.digest}: not found in ${this.dir}`);
    }
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new Error(`blob ${desc.digest}: not a regular file in ${this.dir}`);
    }
    return fs.createReadStream('', { fd, highWaterMark: 1 << 20 });
  }

  async blobFile(desc: Descriptor): Promise<{ file: string; start: number; length: number } | null> {
    const p = this.blobPath(desc);
    try {
      const st = fs.statSync(p);
      return st.isFile() ? { file: p, start: 0, length: st.size } : null;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {}
}
