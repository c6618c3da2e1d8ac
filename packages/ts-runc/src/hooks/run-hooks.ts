// Hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle"). Used by the
// runtime (prestart, createRuntime, poststart, poststop) and by stage 2 (createContainer,
// startContainer): keep it free of anything but Node built-ins.

export type HookPhase = 'prestart' | 'createRuntime' | 'createContainer' | 'startContainer' | 'poststart' | 'poststop';
export const HOOK_PHASES: HookPhase[] = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'];

export interface HookSpec {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** The state JSON a hook reads on stdin (runtime.md "State"). */
export interface HookState {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

function oneLine(b: Buffer | string | null | undefined): string {
  const s = (b ?? '').toString().trim();
  return s.length > 2000 ? JSON.stringify(s.slice(0, 2000) + '...') : JSON.stringify(s);
}

/** As runc (which works from the bundle directory): hooks start there when it is visible. */
function hookCwd(state: object): string | undefined {
  const bundle = (state as { bundle?: unknown }).bundle;
  if (typeof bundle !== 'string' || !bundle.startsWith('/')) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('fs') as typeof import('fs')).statSync(bundle).isDirectory() ? bundle : undefined;
  } catch {
    return undefined;
  }
}

/** Run one hook: state on stdin, exactly its env, killed after its timeout. Throws on failure. */
export function runHook(h: HookSpec, state: object): void {
  const env: Record<string, string> = {};
  for (const kv of h.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const args = h.args && h.args.length ? h.args : [h.path];
  // Loaded here: child_process costs start-up time on every create, and most configs have no hooks.
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const r = spawnSync(h.path, args.slice(1), {
    argv0: args[0],
    cwd: hookCwd(state),
    env,
    input: JSON.stringify(state),
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: h.timeout && h.timeout > 0 ? h.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    maxBuffer: 4 * 1024 * 1024,
    windowsHide: true,
  });
  const err = r.error as NodeJS.ErrnoException | undefined;
  if (err?.code === 'ETIMEDOUT') throw new Error(`hook ran past specified timeout of ${h.timeout}s`);
  // A hook that exits without reading its stdin is fine (EPIPE on our side).
  if (err && err.code !== 'EPIPE') {
    if (err.code === 'ENOENT') throw new Error(`exec ${h.path}: no such file or directory`);
    if (err.code === 'EACCES') throw new Error(`exec ${h.path}: permission denied`);
    throw new Error(`exec ${h.path}: ${err.code ?? err.message}`);
  }
  if (r.signal) throw new Error(`signal: ${r.signal}, stdout: ${oneLine(r.stdout)}, stderr: ${oneLine(r.stderr)}`);
  if (r.status !== 0) throw new Error(`exit status ${r.status}, stdout: ${oneLine(r.stdout)}, stderr: ${oneLine(r.stderr)}`);
}

/** Check the hooks of config.json (field names in errors); returns them by phase. */
export function checkHooks(hooks: unknown): Partial<Record<HookPhase, HookSpec[]>> {
  if (hooks === undefined || hooks === null) return {};
  if (typeof hooks !== 'object') throw new Error('hooks: must be an object');
  const out: Partial<Record<HookPhase, HookSpec[]>> = {};
  for (const phase of HOOK_PHASES) {
    const list = (hooks as Record<string, unknown>)[phase];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new Error(`hooks.${phase}: must be an array`);
    out[phase] = list.map((h: HookSpec, i) => {
      const f = `hooks.${phase}[${i}]`;
      if (!h || typeof h.path !== 'string' || !h.path.startsWith('/')) throw new Error(`${f}.path: must be an absolute path`);
      if (h.timeout !== undefined && (!Number.isInteger(h.timeout) || h.timeout <= 0)) throw new Error(`${f}.timeout: must be a positive integer, not ${h.timeout}`);
      return h;
    });
  }
  return out;
}

/**
 * Run every hook of a phase in order. `strict` (prestart, createRuntime, createContainer,
 * startContainer) stops at the first failure and throws; otherwise each failure goes to
 * `warn` and the rest still run (poststart, poststop).
 */
export function runHooks(phase: HookPhase, hooks: HookSpec[] | undefined, state: object, strict: boolean, warn?: (m: string) => void): void {
  (hooks ?? []).forEach((h, i) => {
    try {
      runHook(h, state);
    } catch (e) {
      const msg = `error running ${phase} hook #${i}: ${(e as Error).message}`;
      if (strict) throw new Error(msg);
      warn?.(msg);
    }
  });
}

/** The state JSON of a container for its hooks. */
export function hookState(s: { ociVersion: string; id: string; pid: number; bundle: string; annotations?: Record<string, string> }, status: string): HookState {
  return { ociVersion: s.ociVersion, id: s.id, status, pid: s.pid, bundle: s.bundle, annotations: s.annotations ?? {} };
}
