import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TarWriter } from '../../src/archive/tarwriter';
import { TarEntry, TarParser } from '../../src/layers/tar';
import { FsTree, applyHeaders, cleanName, Header } from '../../src/archive/flatten';

async function collect(tw: TarWriter): Promise<Buffer> {
  const chunks: Buffer[] = [];
  tw.stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => tw.stream.on('end', r));
  return Buffer.concat(chunks);
}

test('TarWriter: long names, long link targets, big ids and binary xattrs survive (our parser and GNU tar)', async () => {
  const tw = new TarWriter();
  const done = collect(tw);
  const longName = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
  const bin = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x80, 0x00]);
  await tw.add({ name: `${'d'.repeat(120)}/`, type: 'directory', mode: 0o755 });
  await tw.addBuffer({ name: longName, type: 'file', mode: 0o4755, uid: 3_000_000, gid: 70_000, xattrs: { 'security.capability': bin, 'user.text': Buffer.from('héllo') } }, Buffer.from('content'));
  await tw.add({ name: 'sym', type: 'symlink', linkname: `/${'x'.repeat(150)}` });
  await tw.add({ name: 'hard', type: 'link', linkname: longName });
  await tw.finish();
  const tar = await done;
  const entries: TarEntry[] = [];
  const data: Buffer[] = [];
  const p = new TarParser({ entry: (e) => entries.push(e), data: (c) => data.push(Buffer.from(c)), end: () => undefined });
  p.push(tar);
  p.finish();
  expect(entries.map((e) => [e.name.replace(/\/$/, ''), e.type])).toEqual([
    ['d'.repeat(120), 'dir'],
    [longName, 'file'],
    ['sym', 'symlink'],
    ['hard', 'link'],
  ]);
  expect(entries[1]).toMatchObject({ uid: 3_000_000, gid: 70_000, mode: 0o4755, size: 7 });
  expect(entries[1].xattrs.get('security.capability')!.equals(bin)).toBe(true);
  expect(entries[1].xattrs.get('user.text')!.toString()).toBe('héllo');
  expect(entries[2].linkname).toBe(`/${'x'.repeat(150)}`);
  expect(entries[3].linkname).toBe(longName);
  expect(Buffer.concat(data).toString()).toBe('content');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tw-'));
  fs.writeFileSync(`${dir}/t.tar`, tar);
  const list = execFileSync('tar', ['-tvf', `${dir}/t.tar`, '--numeric-owner'], { encoding: 'utf8' });
  expect(list).toContain(longName);
  expect(list).toContain('3000000/70000');
  fs.rmSync(dir, { recursive: true });
});

test('layer rules on headers: whiteouts hide lower layers only, opaque dirs, dir over dir keeps children', () => {
  const h = (name: string, type: Header['type'] = 'file'): Header => ({ name, type, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: new Date(0), linkname: '', uname: '', gname: '', devmajor: 0, devminor: 0, xattrs: {} });
  const t = new FsTree();
  applyHeaders(t, [h('a/', 'directory'), h('a/x'), h('a/y'), h('b/', 'directory'), h('b/z'), h('c')], 0);
  // layer 1: whiteout a/x, re-create a/x in the same layer (survives), opaque b after adding b/new, dir over dir for a
  applyHeaders(t, [h('a/', 'directory'), h('a/.wh.x'), h('a/x'), h('b/new'), h('b/.wh..wh..opq'), h('.wh.c'), h('c/', 'directory'), h('c/inside')], 1);
  const paths: string[] = [];
  t.walk((p) => paths.push(p));
  expect(paths).toEqual(['a', 'a/x', 'a/y', 'b', 'b/new', 'c', 'c/inside']);
  expect(t.lookup('a/x')!.layer).toBe(1);
  expect(t.lookup('a/y')!.layer).toBe(0);
  expect(cleanName('./a/../../etc')).toBeNull();
  expect(cleanName('/abs/path/')).toBe('abs/path');
});
