/**
 * The filesystem an image's layers produce, computed from tar headers alone (no extraction):
 * whiteouts and opaque directories remove lower-layer entries only, dir over dir keeps the
 * children, anything else replaces. Used by `export` (a flattened rootfs tar) and by `repack`
 * (the base the bundle is compared against). Layers are read with the unpacker's tar parser
 * (binary-safe PAX xattrs, GNU long names) and written with our binary-safe TarWriter.
 */
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Descriptor } from '@tsrt/oci-spec';
import { Layout } from '../store/layout';
import { TarEntry, TarParser } from '../layers/tar';
import { decompressFile } from './layerstream';
import { TarEntryHeader, TarWriter } from './tarwriter';

export interface Header {
  name: string;
  type: TarEntryHeader['type'];
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
}

export interface FsNode {
  children: Map<string, FsNode>;
  /** undefined for a directory only implied by its children */
  header?: Header;
  layer: number;
  /** ordinal of the entry within its layer (the last of duplicates wins) */
  seq: number;
}

const WH = '.wh.';
const OPQ = '.wh..wh..opq';
const TYPES: Record<TarEntry['type'], Header['type']> = { file: 'file', link: 'link', symlink: 'symlink', char: 'character-device', block: 'block-device', dir: 'directory', fifo: 'fifo' };

function toHeader(e: TarEntry): Header {
  const xattrs: Record<string, Buffer> = {};
  for (const [k, v] of e.xattrs) xattrs[k] = v;
  return {
    name: e.name,
    type: TYPES[e.type],
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime: new Date(Number(e.mtimeNs / 1000000n)),
    linkname: e.linkname,
    uname: e.uname,
    gname: e.gname,
    devmajor: e.devmajor,
    devminor: e.devminor,
    xattrs,
  };
}

/** Normalise a tar entry name to a relative path without ./, trailing / or .. ; null = unusable. */
export function cleanName(name: string): string | null {
  let n = name.replace(/^\.\/+/, '').replace(/^\/+/, '');
  n = path.posix.normalize(n || '.');
  if (n === '.' || n === './') return '';
  n = n.replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) return null;
  return n;
}

function newNode(layer = -1, seq = -1, header?: Header): FsNode {
  return { children: new Map(), header, layer, seq };
}

export class FsTree {
  root: FsNode = newNode(-1, -1);

  lookup(p: string): FsNode | undefined {
    if (p === '') return this.root;
    let n: FsNode | undefined = this.root;
    for (const part of p.split('/')) {
      n = n.children.get(part);
      if (!n) return undefined;
    }
    return n;
  }

  private parentOf(p: string, create: boolean): FsNode | undefined {
    const dir = path.posix.dirname(p);
    if (dir === '.') return this.root;
    let n: FsNode = this.root;
    for (const part of dir.split('/')) {
      let c = n.children.get(part);
      if (!c || (c.header && c.header.type !== 'directory')) {
        if (!create) return undefined;
        // missing, or a non-directory in the way: an entry under it implies a directory
        c = newNode();
        n.children.set(part, c);
      }
      n = c;
    }
    return n;
  }

  remove(p: string): void {
    this.parentOf(p, false)?.children.delete(path.posix.basename(p));
  }

  /** Remove every child of `dir` that came from a layer below `layer`. */
  opaque(dir: string, layer: number): void {
    const n = this.lookup(dir);
    if (!n) return;
    for (const [k, c] of n.children) if (c.layer < layer) n.children.delete(k);
  }

  put(p: string, header: Header, layer: number, seq: number): void {
    if (p === '') {
      if (header.type === 'directory') Object.assign(this.root, { header, layer, seq });
      return;
    }
    const parent = this.parentOf(p, true)!;
    const base = path.posix.basename(p);
    const old = parent.children.get(base);
    if (old && header.type === 'directory' && (!old.header || old.header.type === 'directory')) {
      Object.assign(old, { header, layer, seq });
      return;
    }
    parent.children.set(base, newNode(layer, seq, header));
  }

  /** Depth-first walk (sorted names): callback(path, node). */
  walk(cb: (p: string, n: FsNode) => void): void {
    const rec = (prefix: string, n: FsNode) => {
      for (const k of [...n.children.keys()].sort()) {
        const c = n.children.get(k)!;
        const p = prefix ? `${prefix}/${k}` : k;
        cb(p, c);
        rec(p, c);
      }
    };
    rec('', this.root);
  }
}

/** Stream a layer's (decompressed) tar through the parser; `onChunkDone` may apply backpressure. */
async function parseLayer(layout: Layout, desc: Descriptor, handler: { entry(e: TarEntry): void; data(c: Buffer): void; end(): void }, afterChunk?: () => Promise<void>): Promise<void> {
  const parser = new TarParser(handler);
  const src: Readable = decompressFile(layout.blobPath(desc.digest));
  for await (const c of src) {
    if (parser.ended) continue;
    parser.push(c as Buffer);
    if (afterChunk) await afterChunk();
  }
  parser.finish();
}

/** Every entry header of a layer (data skipped). */
export async function layerHeaders(layout: Layout, desc: Descriptor): Promise<Header[]> {
  const out: Header[] = [];
  await parseLayer(layout, desc, { entry: (e) => out.push(toHeader(e)), data: () => undefined, end: () => undefined });
  return out;
}

/** Apply one layer's headers onto the tree (whiteouts first: they only hide lower layers). */
export function applyHeaders(tree: FsTree, headers: Header[], layer: number): void {
  headers.forEach((h) => {
    const p = cleanName(h.name);
    if (p === null || p === '') return;
    const base = path.posix.basename(p);
    const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
    if (base === OPQ) tree.opaque(dir, layer);
    else if (base.startsWith(WH)) {
      const target = base.slice(WH.length);
      if (!target || target === '.' || target === '..') return;
      tree.remove(dir ? `${dir}/${target}` : target);
    }
  });
  headers.forEach((h, seq) => {
    const p = cleanName(h.name);
    if (p === null) return;
    if (path.posix.basename(p).startsWith(WH)) return;
    tree.put(p, h, layer, seq);
  });
}

export async function buildTree(layout: Layout, layers: Descriptor[]): Promise<FsTree> {
  const tree = new FsTree();
  for (let i = 0; i < layers.length; i++) applyHeaders(tree, await layerHeaders(layout, layers[i]), i);
  return tree;
}

function outHeader(name: string, h: Header): TarEntryHeader {
  return {
    name,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    mtime: h.mtime,
    linkname: h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: Object.keys(h.xattrs).length ? h.xattrs : undefined,
  };
}

/**
 * Write the flattened filesystem as one tar: all directories first (final attributes), then the
 * surviving files, symlinks and devices in layer order, then hardlinks (their targets exist by then).
 */
export async function exportFlattened(layout: Layout, layers: Descriptor[], out: Writable): Promise<{ entries: number }> {
  const tree = await buildTree(layout, layers);
  const tw = new TarWriter();
  const done = pipeline(tw.stream, out);
  done.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  let entries = 0;
  try {
    const dirs: Array<[string, FsNode]> = [];
    tree.walk((p, n) => {
      if (!n.header || n.header.type === 'directory') dirs.push([p, n]);
    });
    for (const [p, n] of dirs) {
      entries++;
      await tw.add(n.header ? outHeader(`${p}/`, n.header) : { name: `${p}/`, type: 'directory', mode: 0o755, mtime: new Date(0) });
    }
    const links: TarEntryHeader[] = [];
    for (let i = 0; i < layers.length; i++) {
      let seq = -1;
      let copying = false;
      let size = 0;
      await parseLayer(
        layout,
        layers[i],
        {
          entry: (e) => {
            seq++;
            const p = cleanName(e.name);
            const n = p ? tree.lookup(p) : undefined;
            if (!p || !n || n.layer !== i || n.seq !== seq || !n.header || n.header.type === 'directory') return;
            const h = n.header;
            if (h.type === 'link') {
              const t = cleanName(h.linkname);
              if (t) links.push({ ...outHeader(p, h), linkname: t });
              return;
            }
            entries++;
            if (h.type === 'file') {
              copying = true;
              size = h.size;
              tw.entrySync(outHeader(p, h), h.size);
            } else tw.entrySync(outHeader(p, h), 0);
          },
          data: (c) => {
            if (copying) tw.dataSync(Buffer.from(c));
          },
          end: () => {
            if (copying) tw.padSync(size);
            copying = false;
          },
        },
        () => tw.drained(),
      );
    }
    for (const l of links) {
      const t = tree.lookup(l.linkname!);
      if (t?.header && t.header.type !== 'directory') {
        entries++;
        await tw.add(l);
      }
    }
    await tw.finish();
  } catch (e) {
    tw.stream.destroy(e as Error);
    throw e;
  }
  await done;
  return { entries };
}
