/**
 * A small tar writer for building test and benchmark images with exact control over every
 * header (including hostile ones: "../" names, absolute paths, odd whiteouts, binary xattrs).
 * ustar headers, with a PAX header when a name is long or xattrs/pax records are given.
 */

export interface WEntry {
  /** Text (written as UTF-8), or raw bytes for names that are not UTF-8. */
  name: string | Buffer;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** seconds */
  mtime?: number;
  linkname?: string | Buffer;
  data?: Buffer | string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  pax?: Record<string, string>;
  /** Force this typeflag character (hostile tests). */
  typeflag?: string;
}

const FLAG: Record<string, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(b: Buffer, off: number, len: number, v: number): void {
  const s = v.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar writer: value ${v} does not fit`);
  b.write(s + '\0', off, len, 'latin1');
}

function header(name: Buffer, flag: string, size: number, e: WEntry, linkname: Buffer): Buffer {
  const b = Buffer.alloc(512);
  name.copy(b, 0, 0, Math.min(100, name.length));
  octal(b, 100, 8, e.mode ?? (flag === '5' ? 0o755 : flag === '2' ? 0o777 : 0o644));
  octal(b, 108, 8, e.uid ?? 0);
  octal(b, 116, 8, e.gid ?? 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, e.mtime ?? 1700000000);
  b.fill(0x20, 148, 156);
  b.write(flag, 156, 1, 'latin1');
  linkname.copy(b, 157, 0, Math.min(100, linkname.length));
  b.write('ustar\0', 257, 6, 'latin1');
  b.write('00', 263, 2, 'latin1');
  b.write(e.uname ?? '', 265, 32, 'utf8');
  b.write(e.gname ?? '', 297, 32, 'utf8');
  octal(b, 329, 8, e.devmajor ?? 0);
  octal(b, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i];
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return b;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function pad(n: number): Buffer {
  const r = n % 512;
  return r === 0 ? Buffer.alloc(0) : Buffer.alloc(512 - r);
}

export function tarEntries(entries: WEntry[]): Buffer[] {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const flag = e.typeflag ?? FLAG[type];
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data);
    const linkname = Buffer.from(e.linkname ?? '');
    const name = Buffer.from(e.name);
    const recs: Buffer[] = [];
    if (name.length > 99) recs.push(paxRecord('path', name));
    if (linkname.length > 99) recs.push(paxRecord('linkpath', linkname));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) recs.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.isBuffer(v) ? v : Buffer.from(v)));
    for (const [k, v] of Object.entries(e.pax ?? {})) recs.push(paxRecord(k, Buffer.from(v)));
    if (recs.length > 0) {
      const body = Buffer.concat(recs);
      out.push(header(Buffer.concat([Buffer.from('PaxHeaders/'), name.subarray(0, 80)]), 'x', body.length, { name: '' }, Buffer.alloc(0)), body, pad(body.length));
    }
    const size = flag === '0' || flag === '7' ? data.length : 0;
    out.push(header(name.subarray(0, 99), flag, size, e, linkname.length > 99 ? Buffer.alloc(0) : linkname));
    if (size > 0) out.push(data, pad(size));
  }
  return out;
}

/** A complete tar archive (with the two zero blocks at the end). */
export function tarBuffer(entries: WEntry[]): Buffer {
  return Buffer.concat([...tarEntries(entries), Buffer.alloc(1024)]);
}
