// What the launchers run: the CLI from its bundle and code cache (scripts/bundle.js), or from
// the modules themselves when there is no bundle (a plain `tsc -b`).
import * as path from 'path';
import { runBundle } from '@tsrt/libc/dist/src/cached-bundle';

/** Global flags that take a value in the next argument (cli/main.ts GLOBAL_FLAGS). */
const VALUE_FLAGS = new Set(['root', 'log', 'log-format', 'rootless', 'criu']);
/**
 * Commands with a code cache of their own: V8 reads the whole cache, and orchestrators call
 * state, start, kill and delete many times per container. create and run share one: run is a
 * create, a start and a wait.
 */
const CACHES: Record<string, string> = { create: 'create', run: 'create', exec: 'exec', start: 'start', state: 'state', list: 'state', kill: 'kill', delete: 'delete' };

function commandOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-')) return a;
    if (!a.includes('=') && VALUE_FLAGS.has(a.replace(/^--?/, ''))) i++;
  }
  return undefined;
}

const argv = process.argv.slice(2);
const cmd = commandOf(argv);
// create, run and exec move a task between cgroups some 20 ms from now, and the first such move
// waits for the kernel: that wait starts now (cgroups/migration-warmup.ts), on libuv's pool
// thread, whose size main.ts sets for these commands and so must be set before its first use.
if (cmd === 'create' || cmd === 'run' || cmd === 'exec') {
  if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '1';
  const warmup = require('../cgroups/migration-warmup') as typeof import('../cgroups/migration-warmup');
  const preserved = warmup.preservedFds(argv);
  // Gaps in the fds --preserve-fds passes on that Node's own start left: what the CLI opens next
  // would fill them (lifecycle/preserved-fds.ts refuses them).
  if (preserved > 0 && Number.isFinite(preserved)) (require('../lifecycle/preserved-fds') as typeof import('../lifecycle/preserved-fds')).noteClosedFds(preserved);
  const lowestFd = 3 + preserved;
  warmup.warmUpMigration({ write: (file, text) => warmup.writeOnPool(file, text, lowestFd) });
}
runBundle(path.join(__dirname, 'bundle.js'), (cmd && CACHES[cmd]) ?? 'other', () => require('./entry'));
