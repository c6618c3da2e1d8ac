/**
 * state.json entries ts-runc did not write. A --root may be shared with runc (Docker, for one,
 * points every runtime at the same directory), and a crash or a full disk can leave a file cut
 * short. Such entries must never crash a command, and must never be taken for one of ours:
 * a runc container read as ours has no pid, looks "stopped", and `delete` would remove its state.
 */
import { RuntimeError } from '../errors';
import type { ContainerState } from './container-state';

/**
 * A container of runc's. `view` is enough for `state` and `list` (read-only); every other
 * command refuses it with this error's message.
 */
export class ForeignStateError extends RuntimeError {
  constructor(
    id: string,
    readonly view: ContainerState,
  ) {
    super(`container ${id} was created by runc, not ts-runc: only state and list can read it`);
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** runc's libcontainer state: init_process_pid and created, with its own config shape. */
export function isRuncState(doc: unknown): doc is Record<string, any> {
  return isObject(doc) && typeof doc.init_process_pid === 'number' && !('pid' in doc) && isObject(doc.config);
}

/**
 * What `runc state` prints, from runc's state.json: bundle and annotations come from the
 * config's "key=value" labels (as runc's utils.Annotations), the start time guards pid reuse.
 * The cgroup paths are runc's per-controller map, which our description's `paths` mirrors
 * (a "freezer" key: v1 or hybrid; only "": v2), so paused-ness reads the same way as ours.
 */
export function runcStateView(id: string, doc: Record<string, any>): ContainerState {
  const labels: string[] = Array.isArray(doc.config.labels) ? doc.config.labels.filter((l: unknown) => typeof l === 'string') : [];
  let bundle = '';
  const annotations: Record<string, string> = {};
  for (const l of labels) {
    const eq = l.indexOf('=');
    if (eq < 0) continue;
    if (l.slice(0, eq) === 'bundle') bundle = l.slice(eq + 1);
    else annotations[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const paths: Record<string, string> = isObject(doc.cgroup_paths) ? doc.cgroup_paths : {};
  const v1 = typeof paths.freezer === 'string';
  return {
    ociVersion: typeof doc.config.version === 'string' ? doc.config.version : '',
    id: typeof doc.id === 'string' ? doc.id : id,
    pid: doc.init_process_pid,
    pidStartTime: doc.init_process_start !== undefined ? String(doc.init_process_start) : undefined,
    bundle,
    rootfs: typeof doc.config.rootfs === 'string' ? doc.config.rootfs : '',
    created: typeof doc.created === 'string' ? doc.created : '',
    annotations: Object.keys(annotations).length ? annotations : undefined,
    config: null,
    cgroup: Object.keys(paths).length ? { driver: v1 ? 'v1' : 'v2', mode: v1 ? ('' in paths ? 'hybrid' : 'v1') : 'v2', path: '', paths, created: [] } : undefined,
  };
}

/**
 * The parsed state.json of container `id` as ours: runc's format throws ForeignStateError,
 * anything else without our fields (a file cut short, another tool's) "is corrupt".
 */
export function checkOwnState(doc: unknown, id: string, file: string): ContainerState {
  if (isRuncState(doc)) throw new ForeignStateError(id, runcStateView(id, doc));
  const ok =
    isObject(doc) &&
    typeof doc.id === 'string' &&
    typeof doc.pid === 'number' &&
    typeof doc.bundle === 'string' &&
    typeof doc.created === 'string' &&
    typeof doc.rootfs === 'string';
  if (!ok) throw new RuntimeError(`state of container ${id} is corrupt: ${file}`);
  return doc as ContainerState;
}
