import * as fs from 'fs';
import * as path from 'path';
import type { Readable } from 'stream';
import { TarParser, TarEntry } from '../layers/tar';

export interface Member {
  name: string;
  type: TarEntry['type'];
  offset: number;
  size: number;
  linkname: string;
}

/**
 * An index of a tar file's members (names -> data offsets), built by reading headers only, so
 * blobs are streamed straight out of the archive without extracting it anywhere first.
 */
export class TarIndex {
  readonly members = new Map<string, Member>();

  private constructor(readonly file: string, private fd: number) {}

  static open(file: string): TarIndex {
    const fd = fs.openSync(file, 'r');
    const idx = new TarIndex(file, fd);
    try {
      idx.scan();
    } catch (e) {
      fs.closeSync(fd);
      throw new Error(`${file}: ${(e as Error).message}`);
    }
    return idx;
  }

  private scan(): void {
    const size = fs.fstatSync(this.fd).size;
    const magic = Buffer.alloc(4);
    fs.readSync(this.fd, magic, 0, 4, 0);
    if (magic[0] === 0x1f && magic[1] === 0x8b) throw new Error('a gzip-compressed archive: decompress it first (gunzip)');
    if (magic.readUInt32LE(0) === 0xfd2fb528) throw new Error('a zstd-compressed archive: decompress it first (unzstd)');
    let cur: TarEntry | null = null;
    const p = new TarParser({
      entry: (e) => { cur = e; },
      data: () => {},
      end: () => {},
    });
    const hdr = Buffer.alloc(512);
    let off = 0;
    while (off + 512 <= size && !p.ended) {
      fs.readSync(this.fd, hdr, 0, 512, off);
      cur = null;
      p.push(hdr);
      off += 512;
      const pend = p.pending();
      if (pend.bytes === 0) {
        if (cur) this.add(cur, off);
        continue;
      }
      if (!pend.fileData) {
        const b = Buffer.alloc(pend.bytes);
        fs.readSync(this.fd, b, 0, b.length, off);
        p.push(b);
        off += b.length;
        continue;
      }
      if (cur) this.add(cur, off);
      p.skip();
      off += pend.bytes;
      if (off > size) throw new Error('truncated tar archive');
    }
    if (this.members.size === 0) throw new Error('not a tar archive (or empty)');
  }

  private add(e: TarEntry, offset: number): void {
    // member names are looked up by the text of manifest.json / index.json: decode the tar's bytes as UTF-8
    const text = (b: string): string => Buffer.from(b, 'latin1').toString('utf8');
    const name = path.posix.normalize(text(e.name).replace(/^\/+/, '')).replace(/\/$/, '');
    this.members.set(name, { name, type: e.type, offset, size: e.size, linkname: text(e.linkname) });
  }

  /** A member by name, following symlinks and hardlinks inside the archive (docker layer.tar links). */
  get(name: string): Member | undefined {
    let n = path.posix.normalize(name.replace(/^\/+/, ''));
    for (let hops = 0; hops < 16; hops++) {
      const m = this.members.get(n);
      if (!m) return undefined;
      if (m.type === 'symlink') {
        n = path.posix.normalize(path.posix.join(path.posix.dirname(n), m.linkname));
      } else if (m.type === 'link') {
        n = path.posix.normalize(m.linkname.replace(/^\/+/, ''));
      } else return m;
      if (n.startsWith('../')) return undefined;
    }
    return undefined;
  }

  read(m: Member): Buffer {
    const b = Buffer.alloc(m.size);
    fs.readSync(this.fd, b, 0, m.size, m.offset);
    return b;
  }

  stream(m: Member): Readable {
    if (m.size === 0) {
      const { Readable } = require('stream') as typeof import('stream');
      return Readable.from([]);
    }
    return fs.createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
