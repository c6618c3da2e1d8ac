import * as fs from 'fs';
import type { Context } from './context';
import { toRuncState, ownerName, type RuncState } from './state';

/** Every container under --root; ones whose state cannot be read are skipped, as runc does. */
export function listContainers(ctx: Context): RuncState[] {
  const out: RuncState[] = [];
  for (const id of ctx.store.ids()) {
    const s = ctx.store.tryLoad(id);
    if (!s) continue;
    let uid = 0;
    try {
      uid = fs.statSync(ctx.store.dir(id)).uid;
    } catch {
      continue;
    }
    out.push(toRuncState(ctx, s, ownerName(uid)));
  }
  return out;
}

/** Go's tabwriter with minwidth 12, padding 3 (runc's list table). */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(12, ...rows.map((r) => r[c].length + 3)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('')).join('\n') + '\n';
}
