import type { Spec } from '@tsrt/oci-spec';
import type { Context } from './context';

/** The container's stored config.json (exec takes its process defaults from it). */
export function loadConfigOf(ctx: Context, id: string): Spec {
  const lock = ctx.store.lock(id);
  try {
    return ctx.store.load(id).config as Spec;
  } finally {
    lock.release();
  }
}
