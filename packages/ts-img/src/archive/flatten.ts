/**
 * The filesystem an image's layers produce, computed from tar headers alone (no extraction):
 * whiteouts and opaque directories remove lower-layer entries only, dir over dir keeps the
 * children, anything else replaces. Used by `export` (a flattened rootfs tar) and by `repack`
 * (the base the bundle is compared against).
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Header as TarHeader } from 'tar-stream';
import { Descriptor } from '@tsrt/oci-spec';
import { Layout } from '../store/layout';
import { decompressFile } from './layerstream';

export type Header = Partial<Omit<TarHeader, 'pax'>> & { name: string; pax?: Record<string, string> };

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
  root: FsNode = newNode(-1, -1, { name: '.', type: 'directory', mode: 0o755 });

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
      if (!c) {
        if (!create) return undefined;
        c = newNode();
        n.children.set(part, c);
      } else if (c.header && c.header.type !== 'directory') {
        if (!create) return undefined;
        // a non-directory in the way: a later entry under it replaces it with an implied directory
        c = newNode();
        n.children.set(part, c);
      }
      n = c;
    }
    return n;
  }

  remove(p: string): void {
    const parent = this.parentOf(p, false);
    parent?.children.delete(path.posix.basename(p));
  }

  /** Remove every child of `dir` that came from a layer below `layer`. */
  opaque(dir: string, layer: number): void {
    const n = this.lookup(dir);
    if (!n) return;
    const prune = (node: FsNode) => {
      for (const [k, c] of node.children) {
        if (c.layer >= layer) continue;
        node.children.delete(k);
      }
    };
    prune(n);
  }

  put(p: string, header: Header, layer: number, seq: number): void {
    if (p === '') {
      if (header.type === 'directory') {
        this.root.header = header;
        this.root.layer = layer;
        this.root.seq = seq;
      }
      return;
    }
    const parent = this.parentOf(p, true)!;
    const base = path.posix.basename(p);
    const old = parent.children.get(base);
    if (old && header.type === 'directory' && (!old.header || old.header.type === 'directory')) {
      old.header = header;
      old.layer = layer;
      old.seq = seq;
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

/** Read every entry header of a layer (data skipped). */
export async function layerHeaders(layout: Layout, desc: Descriptor): Promise<Header[]> {
  const out: Header[] = [];
  const ex = tar.extract();
  ex.on('entry', (th, stream, next) => {
      const h = th as Header;
    out.push(h);
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(decompressFile(layout.blobPath(desc.digest)), ex);
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
    const base = path.posix.basename(p);
    if (base.startsWith(WH)) return;
    if (!['file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo', 'contiguous-file'].includes(String(h.type))) return;
    tree.put(p, h, layer, seq);
  });
}

export async function buildTree(layout: Layout, layers: Descriptor[]): Promise<FsTree> {
  const tree = new FsTree();
  for (let i = 0; i < layers.length; i++) applyHeaders(tree, await layerHeaders(layout, layers[i]), i);
  return tree;
}

function outHeader(name: string, h: Header): Header {
  const o: Header = {
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
  };
  if (h.type === 'contiguous-file') o.type = 'file';
  const pax: Record<string, string> = {};
  for (const [k, v] of Object.entries(h.pax ?? {})) if (k.startsWith('SCHILY.xattr.')) pax[k] = String(v);
  if (Object.keys(pax).length) o.pax = pax;
  return o;
}

/**
 * Write the flattened filesystem as one tar: all directories first (final attributes), then the
 * surviving files, symlinks and devices in layer order, then hardlinks (their targets exist by then).
 */
export async function exportFlattened(layout: Layout, layers: Descriptor[], out: Writable): Promise<{ entries: number }> {
  const tree = await buildTree(layout, layers);
  const pack = tar.pack();
  const done = pipeline(pack, out);
  let entries = 0;
  const put = (h: Header, body?: Buffer) =>
    new Promise<void>((res, rej) => {
      entries++;
      pack.entry(h, body ?? Buffer.alloc(0), (e) => (e ? rej(e) : res()));
    });
  const dirs: Array<[string, FsNode]> = [];
  tree.walk((p, n) => {
    if (!n.header || n.header.type === 'directory') dirs.push([p, n]);
  });
  for (const [p, n] of dirs) await put(n.header ? outHeader(`${p}/`, n.header) : { name: `${p}/`, type: 'directory', mode: 0o755, mtime: new Date(0) });
  const links: Header[] = [];
  for (let i = 0; i < layers.length; i++) {
    const ex = tar.extract();
    let seq = -1;
    ex.on('entry', (th, stream, next) => {
      const h = th as Header;
      seq++;
      const p = cleanName(h.name);
      const n = p ? tree.lookup(p) : undefined;
      if (!p || !n || n.layer !== i || n.seq !== seq || !n.header || n.header.type === 'directory') {
        stream.on('end', next);
        stream.resume();
        return;
      }
      if (h.type === 'link') {
        const t = cleanName(h.linkname ?? '');
        if (t) links.push({ ...outHeader(p, h), linkname: t });
        stream.on('end', next);
        stream.resume();
        return;
      }
      const oh = outHeader(p, h);
      if (oh.type === 'file') {
        oh.size = h.size;
        const w = pack.entry(oh, (e) => (e ? ex.destroy(e) : next()));
        entries++;
        stream.pipe(w);
      } else {
        stream.on('end', () => put(oh).then(() => next(), (e) => ex.destroy(e)));
        stream.resume();
      }
    });
    await pipeline(decompressFile(layout.blobPath(layers[i].digest)), ex);
  }
  for (const l of links) {
    const t = tree.lookup(l.linkname!);
    if (t?.header && t.header.type !== 'directory') await put(l);
  }
  pack.finalize();
  await done;
  return { entries };
}
