/**
 * A synchronous, push-style tar reader: feed it Buffers as they come out of the decompressor and
 * it calls back for each entry, for each piece of file data, and at the end of each entry.
 * Handles ustar, GNU long names ('L'/'K'), PAX extended ('x') and global ('g') headers including
 * SCHILY.xattr.*, base-256 numbers and header checksums. No copying of file data: the data
 * callbacks receive subarrays of the pushed chunks.
 */

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** Byte string (one char per byte, see byte-names.ts), like linkname. */
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Nanoseconds since the epoch. */
  mtimeNs: bigint;
  atimeNs?: bigint;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** From SCHILY.xattr.* PAX records: name -> raw value. */
  xattrs: Map<string, Buffer>;
}

export interface TarHandler {
  entry(e: TarEntry): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarError extends Error {}

const BLOCK = 512;
const MAX_META = 1 << 20; // PAX / long-name records are capped at 1 MiB

function cstr(b: Buffer, off: number, len: number, enc: BufferEncoding = 'utf8'): string {
  let end = off;
  const lim = off + len;
  while (end < lim && b[end] !== 0) end++;
  return b.toString(enc, off, end);
}

/** Names and link targets are bytes: kept as byte strings (see byte-names.ts). */
function bstr(b: Buffer, off: number, len: number): string {
  return cstr(b, off, len, 'latin1');
}

function num(b: Buffer, off: number, len: number, field: string): number {
  if (b[off] & 0x80) {
    // base-256 (GNU): big-endian two's complement, high bit of the first byte is the marker
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(i === 0 ? b[off] & 0x7f : b[off + i]);
    if (b[off] & 0x40) throw new TarError(`tar header: negative ${field}`);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarError(`tar header: ${field} too large`);
    return Number(v);
  }
  let s = 0;
  let i = off;
  const lim = off + len;
  while (i < lim && (b[i] === 0x20 || b[i] === 0)) i++;
  let seen = false;
  for (; i < lim; i++) {
    const c = b[i];
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarError(`tar header: invalid octal ${field}`);
    s = s * 8 + (c - 0x30);
    seen = true;
  }
  return seen ? s : 0;
}

function checksumOk(b: Buffer, off: number): boolean {
  const want = num(b, off + 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : b[off + i];
  return sum === want;
}

function isZero(b: Buffer, off: number): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[off + i] !== 0) return false;
  return true;
}

/** PAX records "len key=value\n"; values kept raw (xattr values are binary). */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < buf.length) {
    if (buf[off] === 0) break;
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw new TarError('pax header: malformed record');
    const len = Number(buf.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= sp - off || off + len > buf.length) throw new TarError('pax header: bad record length');
    const rec = buf.subarray(sp + 1, off + len - 1); // drop trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarError('pax header: record without =');
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1)));
    off += len;
  }
  return out;
}

function paxTimeNs(v: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,9})\d*)?$/.exec(v);
  if (!m) throw new TarError(`pax header: invalid time ${JSON.stringify(v)}`);
  const ns = BigInt(m[2]) * 1000000000n + BigInt((m[3] ?? '').padEnd(9, '0') || '0');
  return m[1] ? -ns : ns;
}

const NO_XATTRS: Map<string, Buffer> = new Map();

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

type State = 'header' | 'data' | 'pad' | 'meta' | 'eof';

export class TarParser {
  private state: State = 'header';
  private hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  private remaining = 0; // data bytes left in the current entry (or meta record)
  private pad = 0;
  private metaKind = '';
  private metaParts: Buffer[] = [];
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax: Map<string, Buffer> | undefined;
  private globalPax = new Map<string, Buffer>();
  private zeroBlocks = 0;
  /** Bytes consumed so far (for error messages). */
  offset = 0;

  constructor(private readonly h: TarHandler) {}

  get ended(): boolean {
    return this.state === 'eof';
  }

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case 'header': {
          if (this.hdrFill === 0 && n - i >= BLOCK) {
            this.header(chunk, i);
            i += BLOCK;
            this.offset += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.hdrFill, n - i);
            chunk.copy(this.hdr, this.hdrFill, i, i + take);
            this.hdrFill += take;
            i += take;
            this.offset += take;
            if (this.hdrFill === BLOCK) {
              this.hdrFill = 0;
              this.header(this.hdr, 0);
            }
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.remaining, n - i);
          if (take > 0 && !this.skipData) this.h.data(chunk.subarray(i, i + take));
          i += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.skipData = false;
            this.h.end();
            this.state = this.pad > 0 ? 'pad' : 'header';
          }
          break;
        }
        case 'meta': {
          const take = Math.min(this.remaining, n - i);
          this.metaParts.push(Buffer.from(chunk.subarray(i, i + take)));
          i += take;
          this.offset += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.finishMeta();
            this.state = this.pad > 0 ? 'pad' : 'header';
          }
          break;
        }
        case 'pad': {
          const take = Math.min(this.pad, n - i);
          i += take;
          this.offset += take;
          this.pad -= take;
          if (this.pad === 0) this.state = 'header';
          break;
        }
        case 'eof':
          // Anything after the end-of-archive marker is ignored (but still hashed by the caller).
          this.offset += n - i;
          return;
      }
    }
  }

  /**
   * For random-access readers (archive indexing): the bytes of data (+padding) the parser now
   * expects, and whether they are file data (true) or a metadata record it must be fed (false).
   */
  pending(): { bytes: number; fileData: boolean } {
    if (this.state === 'data') return { bytes: this.remaining + this.pad, fileData: true };
    if (this.state === 'meta') return { bytes: this.remaining + this.pad, fileData: false };
    return { bytes: 0, fileData: false };
  }

  /** Skip the current entry's data without reading it (after pending().fileData). */
  skip(): void {
    if (this.state !== 'data') return;
    this.offset += this.remaining + this.pad;
    this.remaining = 0;
    this.pad = 0;
    this.skipData = false;
    this.state = 'header';
    this.h.end();
  }

  /** Call at end of stream: a truncated archive is an error. */
  finish(): void {
    if (this.state === 'eof') return;
    if (this.state === 'header' && this.hdrFill === 0) return; // no end marker: tolerated like GNU tar
    throw new TarError(`tar: unexpected end of archive at byte ${this.offset}`);
  }

  private header(b: Buffer, off: number): void {
    if (isZero(b, off)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.state = 'eof';
      return;
    }
    if (this.zeroBlocks > 0) this.zeroBlocks = 0;
    if (!checksumOk(b, off)) throw new TarError(`tar: bad header checksum at byte ${this.offset - BLOCK}`);
    const flag = String.fromCharCode(b[off + 156]);
    const size = num(b, off + 124, 12, 'size');
    const padded = (size + BLOCK - 1) & ~(BLOCK - 1);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw new TarError(`tar: ${flag} header too large (${size} bytes)`);
      this.metaKind = flag;
      this.metaParts = [];
      this.remaining = size;
      this.pad = padded - size;
      this.state = size > 0 ? 'meta' : 'header';
      if (size === 0) this.finishMeta();
      return;
    }
    const type = TYPES[flag];
    if (!type) throw new TarError(`tar: unsupported entry type ${JSON.stringify(flag)} at byte ${this.offset - BLOCK}`);
    const magic = b.toString('latin1', off + 257, off + 263);
    let name = bstr(b, off, 100);
    if (magic === 'ustar\0' || magic === 'ustar ') {
      const prefix = magic === 'ustar\0' ? bstr(b, off + 345, 155) : '';
      if (prefix) name = prefix + '/' + name;
    }
    let linkname = bstr(b, off + 157, 100);
    const e: TarEntry = {
      name,
      type,
      mode: num(b, off + 100, 8, 'mode') & 0o7777,
      uid: num(b, off + 108, 8, 'uid'),
      gid: num(b, off + 116, 8, 'gid'),
      size,
      mtimeNs: BigInt(num(b, off + 136, 12, 'mtime')) * 1000000000n,
      linkname,
      uname: cstr(b, off + 265, 32),
      gname: cstr(b, off + 297, 32),
      devmajor: type === 'char' || type === 'block' ? num(b, off + 329, 8, 'devmajor') : 0,
      devminor: type === 'char' || type === 'block' ? num(b, off + 337, 8, 'devminor') : 0,
      xattrs: NO_XATTRS,
    };
    if (this.longName !== undefined) e.name = this.longName;
    if (this.longLink !== undefined) e.linkname = linkname = this.longLink;
    this.longName = this.longLink = undefined;
    const pax = this.pax;
    this.pax = undefined;
    if (this.globalPax.size > 0) this.applyPax(e, this.globalPax);
    if (pax) this.applyPax(e, pax);
    if (e.type === 'dir' || e.type === 'symlink' || e.type === 'link' || e.type === 'char' || e.type === 'block' || e.type === 'fifo') {
      // These carry no data (a size on them is skipped, as GNU tar does)
      this.h.entry(e);
      const sz = e.size;
      e.size = 0;
      if (sz > 0) {
        this.remaining = sz;
        this.pad = ((sz + BLOCK - 1) & ~(BLOCK - 1)) - sz;
        this.state = 'data';
        this.skipData = true;
        return;
      }
      this.h.end();
      return;
    }
    this.h.entry(e);
    const sz = e.size;
    if (sz === 0) {
      this.h.end();
      return;
    }
    this.remaining = sz;
    this.pad = ((sz + BLOCK - 1) & ~(BLOCK - 1)) - sz;
    this.state = 'data';
  }

  private skipData = false;

  private applyPax(e: TarEntry, pax: Map<string, Buffer>): void {
    for (const [k, v] of pax) {
      switch (k) {
        case 'path': e.name = v.toString('latin1'); break;
        case 'linkpath': e.linkname = v.toString('latin1'); break;
        case 'size': {
          const s = Number(v.toString('latin1'));
          if (!Number.isSafeInteger(s) || s < 0) throw new TarError('pax header: invalid size');
          e.size = s;
          break;
        }
        case 'uid': case 'gid': {
          const n = Number(v.toString('latin1'));
          if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new TarError(`pax header: invalid ${k}`);
          e[k] = n;
          break;
        }
        case 'uname': e.uname = v.toString('utf8'); break;
        case 'gname': e.gname = v.toString('utf8'); break;
        case 'mtime': e.mtimeNs = paxTimeNs(v.toString('latin1')); break;
        case 'atime': e.atimeNs = paxTimeNs(v.toString('latin1')); break;
        default:
          if (k.startsWith('SCHILY.xattr.')) {
            if (e.xattrs === NO_XATTRS) e.xattrs = new Map();
            e.xattrs.set(k.slice(13), v);
          } else if (k.startsWith('LIBARCHIVE.xattr.')) {
            if (e.xattrs === NO_XATTRS) e.xattrs = new Map();
            e.xattrs.set(decodeURIComponent(k.slice(17)), Buffer.from(v.toString('latin1'), 'base64'));
          } else if (k.startsWith('GNU.sparse.')) throw new TarError('tar: sparse files are not supported');
      }
    }
  }

  private finishMeta(): void {
    const buf = Buffer.concat(this.metaParts);
    this.metaParts = [];
    switch (this.metaKind) {
      case 'x': this.pax = parsePax(buf); break;
      case 'g': for (const [k, v] of parsePax(buf)) this.globalPax.set(k, v); break;
      case 'L': this.longName = bstr(buf, 0, buf.length); break;
      case 'K': this.longLink = bstr(buf, 0, buf.length); break;
    }
  }
}
