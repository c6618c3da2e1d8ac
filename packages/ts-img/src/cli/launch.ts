// What bin/ts-img runs: the CLI from its bundle and code cache (scripts/bundle.js), or from the
// modules themselves when there is no bundle (a plain `tsc -b`).
import * as path from 'path';
import { runBundle } from '@tsrt/libc/dist/src/cached-bundle';

/** unpack has a code cache of its own: V8 reads a whole cache, and unpack is what runs most. */
const CACHES: Record<string, string> = { unpack: 'unpack' };

const cmd = process.argv.slice(2).find((a) => !a.startsWith('-'));
runBundle(path.join(__dirname, 'bundle.js'), (cmd && CACHES[cmd]) ?? 'other', () => require('./entry'));
