/** Pure parts of repacking an overlay bundle: upper entries to layer entries, the lower image. */
import type { ImageConfig, ImageManifest } from '@tsrt/oci-spec';
import { classifyUpper, UpperStat } from '../../src/repack/overlay-entries';
import { hostXattr } from '../../src/repack/entries';
import { lowerImage } from '../../src/repack/lower-image';

const file: UpperStat = { isFile: true, isDirectory: false, isCharacterDevice: false, rdev: 0 };
const dir: UpperStat = { ...file, isFile: false, isDirectory: true };
const chr = (rdev: number): UpperStat => ({ ...file, isFile: false, isCharacterDevice: true, rdev });
const x = (v: string) => Buffer.from(v);

describe('classifyUpper', () => {
  test('a 0/0 char device is a whiteout, any other device an entry', () => {
    expect(classifyUpper(chr(0), {}, hostXattr)).toEqual({ kind: 'whiteout' });
    expect(classifyUpper(chr(0x0103), {}, hostXattr)).toMatchObject({ kind: 'entry', opaque: false });
  });

  test('a file with trusted.overlay.whiteout (xwhiteout) is a whiteout', () => {
    expect(classifyUpper(file, { 'trusted.overlay.whiteout': x('') }, hostXattr)).toEqual({ kind: 'whiteout' });
  });

  test('opaque is a dir with trusted.overlay.opaque=y only', () => {
    expect(classifyUpper(dir, { 'trusted.overlay.opaque': x('y') }, hostXattr)).toEqual({ kind: 'entry', opaque: true, xattrs: {} });
    expect(classifyUpper(dir, { 'trusted.overlay.opaque': x('x') }, hostXattr)).toMatchObject({ opaque: false });
    expect(classifyUpper(file, { 'trusted.overlay.opaque': x('y') }, hostXattr)).toMatchObject({ opaque: false });
    expect(classifyUpper(dir, {}, hostXattr)).toMatchObject({ opaque: false });
  });

  test("overlayfs' own and the host's xattrs are dropped, the others kept as they are", () => {
    const cap = Buffer.from([1, 0, 0, 2, 0xff, 0, 0, 0]);
    const got = classifyUpper(
      file,
      { 'trusted.overlay.origin': x('o'), 'trusted.overlay.impure': x('y'), 'security.selinux': x('l'), 'system.posix_acl_access': x('a'), 'security.capability': cap, 'user.a': x('1'), 'trusted.other': x('t') },
      hostXattr,
    );
    expect(got).toEqual({ kind: 'entry', opaque: false, xattrs: { 'security.capability': cap, 'trusted.other': x('t'), 'user.a': x('1') } });
    // --no-xattrs: nothing kept, opacity still seen
    expect(classifyUpper(dir, { 'trusted.overlay.opaque': x('y'), 'user.a': x('1') }, () => true)).toEqual({ kind: 'entry', opaque: true, xattrs: {} });
  });

  test('a trusted.overlay.* xattr the container set (stored escaped) is kept unescaped', () => {
    const got = classifyUpper(dir, { 'trusted.overlay.overlay.opaque': x('y'), 'trusted.overlay.overlay.foo': x('v'), 'trusted.overlay.origin': x('o') }, hostXattr);
    expect(got).toEqual({ kind: 'entry', opaque: false, xattrs: { 'trusted.overlay.foo': x('v'), 'trusted.overlay.opaque': x('y') } });
  });

  test('redirected dirs and metacopy files are refused', () => {
    expect(classifyUpper(dir, { 'trusted.overlay.redirect': x('/a') }, hostXattr)).toMatchObject({ kind: 'unsupported', why: expect.stringMatching(/redirect_dir/) });
    expect(classifyUpper(file, { 'trusted.overlay.metacopy': x('') }, hostXattr)).toMatchObject({ kind: 'unsupported', why: expect.stringMatching(/metacopy/) });
  });
});

describe('lowerImage', () => {
  const id = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
  const image = (n: number, history: ImageConfig['history']) => ({
    manifest: { schemaVersion: 2, config: { mediaType: 'c', digest: 'sha256:c', size: 1 }, layers: Array.from({ length: n }, (_, i) => ({ mediaType: 'l', digest: `sha256:l${i}`, size: i })) } as ImageManifest,
    config: { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array.from({ length: n }, (_, i) => id(i + 1)) }, history } as ImageConfig,
  });

  test('the image the bundle was unpacked from is the base as it is', () => {
    const { manifest, config } = image(2, undefined);
    expect(lowerImage(manifest, config, [id(1), id(2)], 'F')).toEqual({ manifest, config });
  });

  test('layers a repack added on top are cut off, with their history (empty entries of kept layers stay)', () => {
    const { manifest, config } = image(3, [
      { created_by: 'ADD' },
      { created_by: 'CMD', empty_layer: true },
      { created_by: 'RUN' },
      { created_by: 'ENV', empty_layer: true },
      { created_by: 'ts-img repack' },
    ]);
    const r = lowerImage(manifest, config, [id(1), id(2)], 'F');
    expect(r.manifest.layers.map((l) => l.digest)).toEqual(['sha256:l0', 'sha256:l1']);
    expect(r.config.rootfs.diff_ids).toEqual([id(1), id(2)]);
    expect(r.config.history?.map((h) => h.created_by)).toEqual(['ADD', 'CMD', 'RUN', 'ENV']);
    expect(config.rootfs.diff_ids).toHaveLength(3); // the input is not changed
  });

  test('a base that does not start with the bundle layers is an error naming the file', () => {
    const { manifest, config } = image(2, undefined);
    expect(() => lowerImage(manifest, config, [id(2)], '/b/ts-img-overlay.json')).toThrow(/^\/b\/ts-img-overlay.json: layers are not the first layers of the base image/);
    expect(() => lowerImage(manifest, config, [id(1), id(2), id(3)], 'F')).toThrow(/layers are not the first/);
  });
});
