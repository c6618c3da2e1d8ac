import * as fs from 'fs';
import type { Context } from './context';
import { toRuncState, ownerName, loadForReading, type RuncState } from './state';
import type { ContainerState } from '../state/container-state';
import { messageOf, ERR_NOT_EXIST } from '../errors';

/**
 * Every container under --root, runc's included (a shared root). One whose state cannot be read
 * is skipped with a line on stderr, as runc's "load container ID: reason"; a directory without
 * any state is skipped quietly: a create that is still starting (or was killed before it wrote one).
 */
export function listContainers(ctx: Context, warn: (line: string) => void = (l) => fs.writeSync(2, l + '\n')): RuncState[] {
  const out: RuncState[] = [];
  for (const id of ctx.store.ids()) {
    let s: ContainerState;
    try {
      s = loadForReading(ctx, id);
    } catch (e) {
      if (messageOf(e) !== ERR_NOT_EXIST) warn(`load container ${id}: ${messageOf(e)}`);
      continue;
    }
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
