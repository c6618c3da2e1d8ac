/**
 * A small binary-safe tar writer (ustar + PAX): PAX records carry long names and link targets,
 * large ids/sizes and SCHILY.xattr.* values as raw bytes (tar-stream's PAX encoder is UTF-8
 * only, which corrupts binary xattrs such as security.capability).
 */
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { byteString, nameBytes, showName } from '../layers/byte-names';

export interface TarEntryHeader {
  /** Byte string (one char per byte, as TarParser gives and byte-names.ts describes); plain text works too. */
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: Date;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

const TYPEFLAG: Record<TarEntryHeader['type'], string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(buf: Buffer, off: number, width: number, n: number): void {
  buf.write(n.toString(8).padStart(width - 1, '0') + '\0', off, width, 'ascii');
}

function header(name: string, typeflag: string, h: TarEntryHeader, size: number, linkname: string): Buffer {
  const b = Buffer.alloc(512);
  nameBytes(name).copy(b, 0, 0, 100);
  octal(b, 100, 8, (h.mode ?? 0o644) & 0o7777);
  octal(b, 108, 8, Math.min(h.uid ?? 0, 0o7777777));
  octal(b, 116, 8, Math.min(h.gid ?? 0, 0o7777777));
  octal(b, 124, 12, size);
  octal(b, 136, 12, Math.max(0, Math.floor((h.mtime?.getTime() ?? 0) / 1000)));
  b.write('        ', 148, 8, 'ascii');
  b.write(typeflag, 156, 1, 'ascii');
  nameBytes(linkname).copy(b, 157, 0, 100);
  b.write('ustar\u000000', 257, 8, 'binary');
  b.write(h.uname ?? '', 265, 32, 'utf8');
  b.write(h.gname ?? '', 297, 32, 'utf8');
  octal(b, 329, 8, h.devmajor ?? 0);
  octal(b, 337, 8, h.devminor ?? 0);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return b;
}

const fits = (s: string) => nameBytes(s).length <= 100;

export class TarWriter {
  readonly stream = new PassThrough({ highWaterMark: 4 << 20 });

  private async write(b: Buffer): Promise<void> {
    if (!this.stream.write(b)) await once(this.stream, 'drain');
  }

  /** Wait until the consumer has caught up (after a run of *Sync calls). */
  async drained(): Promise<void> {
    if (this.stream.writableNeedDrain) await once(this.stream, 'drain');
  }

  /** Synchronous variants for push-style producers (call drained() between batches). */
  entrySync(h: TarEntryHeader, size: number): void {
    for (const b of this.headerBlocks(h, size)) this.stream.write(b);
  }

  dataSync(b: Buffer): void {
    this.stream.write(b);
  }

  padSync(n: number): void {
    const r = n % 512;
    if (r) this.stream.write(Buffer.alloc(512 - r));
  }

  private headerBlocks(h: TarEntryHeader, size: number): Buffer[] {
    const recs: Buffer[] = [];
    const link = h.linkname ?? '';
    if (!fits(h.name)) recs.push(paxRecord('path', nameBytes(h.name)));
    if (!fits(link)) recs.push(paxRecord('linkpath', nameBytes(link)));
    if ((h.uid ?? 0) > 0o7777777) recs.push(paxRecord('uid', Buffer.from(String(h.uid))));
    if ((h.gid ?? 0) > 0o7777777) recs.push(paxRecord('gid', Buffer.from(String(h.gid))));
    if (size > 0o77777777777) recs.push(paxRecord('size', Buffer.from(String(size))));
    for (const k of Object.keys(h.xattrs ?? {}).sort()) recs.push(paxRecord(`SCHILY.xattr.${k}`, h.xattrs![k]));
    const shortName = fits(h.name) ? h.name : byteString(nameBytes(h.name).subarray(-99)).replace(/^[^/]*\//, '');
    const out: Buffer[] = [];
    if (recs.length) {
      const body = Buffer.concat(recs);
      out.push(header(`PaxHeaders/${shortName.split('/').filter(Boolean).pop() ?? 'x'}`.slice(0, 99), 'x', { name: '', type: 'file', mode: 0o644, mtime: h.mtime }, body.length, ''));
      out.push(body);
      if (body.length % 512) out.push(Buffer.alloc(512 - (body.length % 512)));
    }
    out.push(header(shortName, TYPEFLAG[h.type], h, size > 0o77777777777 ? 0 : size, fits(link) ? link : link.slice(0, 99)));
    return out;
  }

  private async writeHeaders(h: TarEntryHeader, size: number): Promise<void> {
    for (const b of this.headerBlocks(h, size)) await this.write(b);
  }

  private async pad(n: number): Promise<void> {
    const r = n % 512;
    if (r) await this.write(Buffer.alloc(512 - r));
  }

  /** An entry without data (directory, link, device, fifo, empty file). */
  async add(h: TarEntryHeader): Promise<void> {
    await this.writeHeaders(h, 0);
  }

  /**
   * A regular file whose data comes from a file (opened O_NOFOLLOW, and O_NONBLOCK so that a fifo
   * swapped in after the caller's lstat cannot block the open); must not change size meanwhile.
   */
  async addFile(h: TarEntryHeader, path: string | Buffer): Promise<void> {
    const fh = await fs.promises.open(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`${showName(h.name)}: no longer a regular file`);
      const size = st.size;
      await this.writeHeaders({ ...h, size }, size);
      let done = 0;
      while (done < size) {
        const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - done));
        const { bytesRead } = await fh.read(buf, 0, buf.length, done);
        if (bytesRead === 0) break;
        done += bytesRead;
        await this.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
      }
      if (done < size) await this.write(Buffer.alloc(size - done)); // file shrank: keep the archive consistent
      await this.pad(size);
    } finally {
      await fh.close();
    }
  }

  async addBuffer(h: TarEntryHeader, data: Buffer): Promise<void> {
    await this.writeHeaders({ ...h, size: data.length }, data.length);
    await this.write(data);
    await this.pad(data.length);
  }

  async finish(): Promise<void> {
    await this.write(Buffer.alloc(1024));
    this.stream.end();
  }
}
