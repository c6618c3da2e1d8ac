/**
 * How an entry of an overlayfs upper dir reads back as layer entries (pure). overlayfs marks its
 * own state with trusted.overlay.* xattrs, which the container cannot set through the mount: a
 * whiteout is a 0/0 char device (or, since 6.7, a file with trusted.overlay.whiteout), an opaque
 * dir has trusted.overlay.opaque="y" ("x" marks a dir holding such xwhiteouts, not opacity).
 * A trusted.overlay.X the container set through the mount is stored escaped, as
 * trusted.overlay.overlay.X (kernel 6.7+), and goes back into the layer unescaped.
 * Redirected dirs and metacopy files do not hold what the container sees, so they are refused:
 * ts-img mounts with redirect_dir=off,metacopy=off.
 */

export const OVERLAY_XATTR = 'trusted.overlay.';
const ESCAPED = `${OVERLAY_XATTR}overlay.`;

export interface UpperStat {
  isFile: boolean;
  isDirectory: boolean;
  isCharacterDevice: boolean;
  rdev: number;
}

export type UpperEntry =
  | { kind: 'whiteout' }
  | { kind: 'unsupported'; why: string }
  /** A file, dir, link or device as the container sees it; an opaque dir also hides the lower dir. */
  | { kind: 'entry'; opaque: boolean; xattrs: Record<string, Buffer> };

/**
 * Classify one upper entry from its stat and all its xattrs; the kept xattrs are those not
 * overlayfs' own and not `drop`ped (the flat repack's rule).
 */
export function classifyUpper(st: UpperStat, xattrs: Record<string, Buffer>, drop: (name: string) => boolean): UpperEntry {
  const ovl = (k: string): Buffer | undefined => xattrs[OVERLAY_XATTR + k];
  if (st.isCharacterDevice && st.rdev === 0) return { kind: 'whiteout' };
  if (st.isFile && ovl('whiteout') !== undefined) return { kind: 'whiteout' };
  if (ovl('redirect') !== undefined) return { kind: 'unsupported', why: 'a redirected directory (overlay mounted with redirect_dir=on)' };
  if (ovl('metacopy') !== undefined) return { kind: 'unsupported', why: 'a metadata-only copy (overlay mounted with metacopy=on)' };
  const kept: Record<string, Buffer> = {};
  for (const k of Object.keys(xattrs).sort()) {
    const name = k.startsWith(ESCAPED) ? OVERLAY_XATTR + k.slice(ESCAPED.length) : k.startsWith(OVERLAY_XATTR) ? undefined : k;
    if (name !== undefined && !drop(name)) kept[name] = xattrs[k];
  }
  const opaque = st.isDirectory && ovl('opaque')?.toString('latin1') === 'y';
  return { kind: 'entry', opaque, xattrs: kept };
}
