import * as fs from 'fs';
import type { ContainerState, Status } from '../state/container-state';
import type { Context } from './context';
import { validateId } from '../state/store';
import { statusOf } from './status';
import { ForeignStateError } from '../state/foreign';

/** The state JSON runc prints (field order and names as runc's). */
export interface RuncState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Status;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  owner: string;
}

export function ownerName(uid: number): string {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && f[2] !== '' && Number(f[2]) === uid) return f[0];
    }
  } catch {
    /* no passwd */
  }
  return String(uid);
}

export function toRuncState(ctx: Context, s: ContainerState, owner = ''): RuncState {
  const status = statusOf(ctx.store, s);
  const out: RuncState = {
    ociVersion: s.ociVersion,
    id: s.id,
    pid: status === 'stopped' ? 0 : s.pid,
    status,
    bundle: s.bundle,
    rootfs: s.rootfs,
    created: s.created,
    owner,
  };
  if (s.annotations && Object.keys(s.annotations).length) {
    const { owner: o, ...rest } = out;
    return { ...rest, annotations: s.annotations, owner: o };
  }
  return out;
}

/**
 * No lock: state.json is replaced atomically (rename), so a reader always sees a whole one, and
 * `state` is what orchestrators poll. A container being created or deleted reads as its
 * last saved state or as not existing.
 */
export function stateOf(ctx: Context, id: string): RuncState {
  validateId(id);
  return toRuncState(ctx, loadForReading(ctx, id));
}

/** Our state, or the read-only view of a runc container sharing --root (state and list only). */
export function loadForReading(ctx: Context, id: string): ContainerState {
  try {
    return ctx.store.load(id);
  } catch (e) {
    if (e instanceof ForeignStateError) return e.view;
    throw e;
  }
}
