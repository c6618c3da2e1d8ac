/**
 * The first string (key or value) holding a NUL byte, as a field path ("mounts[0].destination"):
 * C sees such a string cut short, so a path or a hostname would silently mean something else.
 * Annotations are only stored and handed on, never passed to the kernel: they may hold anything.
 */
export function findNulByte(v: unknown, at = ''): string | null {
  if (typeof v === 'string') return v.includes('\0') ? at || '(root)' : null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const hit = findNulByte(v[i], `${at}[${i}]`);
      if (hit) return hit;
    }
    return null;
  }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const field = at ? `${at}.${k}` : k;
      if (field === 'annotations') continue;
      if (k.includes('\0')) return `${at || '(root)'} (a key)`; // not the key itself: it would print the NUL
      const hit = findNulByte(x, field);
      if (hit) return hit;
    }
  }
  return null;
}
