import koffi from './koffi';
import { KoffiSys, type KoffiFunction } from './koffi-sys';
import { SysError } from './errors';
import type { Sys } from './sys';

/** One libc call recorded for the container thread, with how its result reports an error. */
export interface RecordedOp {
  f: KoffiFunction;
  args: unknown[];
  /** Named for messages once `check` has seen it; posix_spawn* calls return an errno themselves. */
  call: string;
  /** The libc function called: `syscall`, or a wrapper. */
  symbol: string;
  what?: string;
  errors: 'errno' | 'posix' | 'none';
}

/**
 * The Sys methods whose calls may be recorded: per-thread state (ids, caps, prctl, scheduling,
 * namespaces, fs root and cwd) and posix_spawn. Each keeps every buffer it passes alive in its
 * arguments; none needs a result before the playback (they get 0 while recording).
 */
const RECORDABLE = new Set<string>([
  'prctl', 'setgroups', 'setresgid', 'setresuid', 'capset', 'prlimit', 'ioprioSet', 'schedSetattr',
  'schedSetaffinity', 'setMempolicy', 'personality', 'joinSessionKeyring', 'umask', 'unshare',
  'setns', 'fchdir', 'chroot', 'chdir', 'setThreadName', 'posixSpawn', 'seccomp',
]);

/** libc's posix_spawn file action and attribute builders (posix_spawn_file_actions_*, posix_spawnattr_*). */
const SPAWN_BUILDERS = /^posix_spawn(_file_actions|attr)_/;

/**
 * A KoffiSys that records its libc calls instead of making them, for ContainerThread.run: the
 * same step code (applyCredentials, ...) serves stage 2, which calls it directly, and the
 * in-process create, which replays it on the container thread.
 */
class RecordingSys extends KoffiSys {
  readonly ops: RecordedOp[] = [];
  /** C memory the recorded calls read (a seccomp program): freed after the playback. */
  readonly held: unknown[] = [];
  /** The spawn builders called at once, in order (for tests). */
  readonly built: string[] = [];

  protected override releaseAfterCall(mem: unknown): void {
    this.held.push(mem);
  }

  protected override fn(key: string, name: string, ret: string, params: string[]): KoffiFunction {
    const f = super.fn(key, name, ret, params);
    // Building a spawn's file actions and attributes only writes memory we own, on no thread's
    // behalf: done now, which saves the container thread a round trip through the event loop
    // for each (~25 of them before the spawn starts). The spawn and the destroys are replayed.
    if (SPAWN_BUILDERS.test(name) && !name.endsWith('_destroy')) {
      const built = this.built;
      return ((...args: unknown[]) => (built.push(name), (f as (...a: unknown[]) => number)(...args))) as unknown as KoffiFunction;
    }
    const ops = this.ops;
    const record = (...args: unknown[]) => {
      ops.push({ f, args, call: name, symbol: name, errors: name.startsWith('posix_spawn') ? 'posix' : 'none' });
      return 0;
    };
    return record as unknown as KoffiFunction;
  }

  protected override check(call: string, what: string | Buffer | undefined, r: number | bigint): number {
    const last = this.ops[this.ops.length - 1];
    if (last && last.errors === 'none') Object.assign(last, { call, what: typeof what === 'string' ? what : undefined, errors: 'errno' });
    return Number(r);
  }
}

/** What `steps` would call on the container thread, in order (for tests). */
export function recordCalls(steps: (sys: Sys) => void): Array<{ call: string; what?: string }> {
  return recordAll(steps).calls;
}

/** recordCalls, and the spawn builders that `steps` called at once instead (for tests). */
export function recordAll(steps: (sys: Sys) => void): { calls: Array<{ call: string; what?: string }>; built: string[] } {
  const { sys, ops, built } = recorder();
  steps(sys);
  return { calls: ops.map((o) => ({ call: o.call, what: o.what })), built };
}

/** One syscall as a seccomp filter would see it: its number and scalar arguments (pointers as 0). */
export interface RecordedSyscall {
  call: string;
  nr: number;
  args: bigint[];
  /** Indices of arguments whose value is not known in advance (a pointer, an fd the call finds): given as 0. */
  unknown?: number[];
}

/** libc wrappers that are one syscall each, by x86_64 number (others go through syscall(2)). */
const WRAPPED_NR: Record<string, number> = { prctl: 157, umask: 95, unshare: 272, setns: 308, fchdir: 81, chroot: 161, chdir: 80, personality: 135 };

/**
 * The syscalls `steps` would make on the container thread, numbers and scalar arguments as
 * passed (pointers as 0), for asking a seccomp filter about them before it is loaded. A call
 * made through anything else (posix_spawn) is reported with nr -1.
 */
export function recordSyscalls(steps: (sys: Sys) => void): RecordedSyscall[] {
  const { sys, ops, held } = recorder();
  try {
    steps(sys);
  } finally {
    for (const mem of held) koffi.free(mem);
  }
  const scalar = (v: unknown) => (typeof v === 'number' || typeof v === 'bigint' ? BigInt.asUintN(64, BigInt(v)) : 0n);
  // A buffer or string is passed as a pointer: where malloc put it. NULL (null) is known.
  const pointers = (args: unknown[]) => args.flatMap((v, i) => (v !== null && v !== undefined && typeof v !== 'number' && typeof v !== 'bigint' ? [i] : []));
  return ops.map((o) => {
    const args = o.symbol === 'syscall' ? o.args.slice(1) : o.args;
    const unknown = pointers(args);
    const nr = o.symbol === 'syscall' ? Number(o.args[0]) : WRAPPED_NR[o.symbol] ?? -1;
    return { call: o.call, nr, args: args.map(scalar), ...(unknown.length ? { unknown } : {}) };
  });
}

/** A Sys whose recordable methods record (see RECORDABLE); any other method is a programming error. */
function recorder(): { sys: Sys; ops: RecordedOp[]; held: unknown[]; built: string[] } {
  const rec = new RecordingSys();
  const sys = new Proxy(rec, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string' || RECORDABLE.has(prop)) return typeof v === 'function' ? v.bind(target) : v;
      return () => {
        throw new Error(`${prop} cannot run on the container thread`);
      };
    },
  }) as unknown as Sys;
  return { sys, ops: rec.ops, held: rec.held, built: rec.built };
}

/** A call's result, and the errno of the thread that made it, as koffi gives it to the callback. */
interface Made {
  r: number;
  errno: number;
}

const call = (f: KoffiFunction, args: unknown[]): Promise<Made> =>
  new Promise((resolve, reject) => (f as any).async(...args, (err: unknown, r: number | bigint) => (err ? reject(err) : resolve({ r: Number(r), errno: koffi.errno() }))));

/**
 * Calls that may only be made once every call before them is known to have worked: a spawn (the
 * child would get whatever identity the thread has) and a seccomp filter (it binds the thread,
 * and libuv's own calls on it, from then on).
 */
const waitsForEarlier = (op: RecordedOp) => op.symbol === 'posix_spawn' || op.call === 'seccomp';

/**
 * At most this many calls queued at once: koffi keeps 8 sets of call memory (its
 * resident_async_pools), releases one only after its callback, and maps a new 256 KiB set for
 * each call beyond them (measured: more in flight made exec slower, not faster).
 */
const IN_FLIGHT = 6;

/**
 * The container thread: libuv's one pool thread (the CLI sets UV_THREADPOOL_SIZE=1), on which
 * every koffi `.async` call runs, in order. What a call changes of that thread (namespaces, root,
 * cwd, ids, capabilities, no_new_privs) stays for the next, and a posix_spawn from it makes a
 * child with all of it, while the main thread is never touched. See process-model.md.
 */
export class ContainerThread {
  private constructor(
    readonly tid: number,
    private readonly gettid: KoffiFunction,
  ) {}

  /** Its tid, and CLONE_FS unshared so it may enter a mount namespace and chroot alone. */
  static async start(): Promise<ContainerThread> {
    const gettid = koffi.load('libc.so.6').func('syscall', 'long', ['long']);
    const t = new ContainerThread((await call(gettid, [186 /* gettid */])).r, gettid);
    await t.run((sys) => sys.unshare(0x200 /* CLONE_FS */));
    return t;
  }

  /**
   * Record `steps` (Sys calls only, see RECORDABLE), then make those calls on this thread.
   *
   * They are queued a few at a time (IN_FLIGHT), not one per turn of the event loop: the one
   * pool thread makes them in order, and koffi hands each callback the errno its call left
   * (koffi >= 3.3 saves it on the thread). A failure is reported for the first call that failed;
   * the calls queued behind it are made too, which only matters for a spawn or a filter
   * (waitsForEarlier): those are queued only once every call before them has worked.
   * Measured: exec 2-4 ms and run ~2 ms sooner than with a turn of the event loop per call.
   */
  async run(steps: (sys: Sys) => void): Promise<void> {
    const { sys, ops, held } = recorder();
    const queued: Array<Promise<Made>> = [];
    try {
      steps(sys);
      // Anything that started libuv's pool with more threads breaks the premise: say so, never
      // leave half of the steps on another thread.
      if ((await call(this.gettid, [186])).r !== this.tid) throw new Error('the container thread is not libuv\'s only pool thread (UV_THREADPOOL_SIZE must be 1)');
      for (const op of ops) {
        if (waitsForEarlier(op)) await check(ops, queued);
        else if (queued.length >= IN_FLIGHT) await queued[queued.length - IN_FLIGHT].catch(() => undefined);
        const made = call(op.f, op.args);
        made.catch(() => undefined); // looked at in order by check(), maybe after a later one
        queued.push(made);
      }
      await check(ops, queued);
    } finally {
      // Nothing queued may outlive the memory it reads.
      await Promise.allSettled(queued);
      for (const mem of held) koffi.free(mem);
    }
  }
}

/** Waits for the calls queued so far (ops[i] made as queued[i]); throws for the first that failed. */
async function check(ops: RecordedOp[], queued: Array<Promise<Made>>): Promise<void> {
  const made = await Promise.all(queued);
  made.forEach(({ r, errno }, i) => {
    const op = ops[i];
    if (op.errors === 'errno' && r === -1) throw new SysError(op.call, op.what, errno);
    if (op.errors === 'posix' && r !== 0) throw new SysError(op.call, op.what, r);
  });
}
