/**
 * Limits on what layers may expand to. A fixed ratio refused legitimate layers of very
 * compressible data and let a bomb fill the disk anyway; the real bound is the free space of
 * the bundle's filesystem, and --max-layer-size sets a per-layer cap below it.
 */
import * as fs from 'fs';

/** Bytes an unprivileged writer may still use on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** "1048576", "512K", "64M", "2G", "1T" (binary units, an optional trailing B or iB). */
export function parseSize(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(String(s).trim());
  const n = m ? Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${what}: expected a size such as 512M or 2G, got ${JSON.stringify(s)}`);
  return n;
}

/** 1536 -> "1.5 KiB" (messages). */
export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${u[i]}`;
}
