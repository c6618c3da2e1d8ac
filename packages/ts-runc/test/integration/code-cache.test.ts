// The CLI runs from its bundle with a V8 code cache per kind of command (cli/launch.ts), made by
// scripts/train-code-cache (run by scripts/setup). V8 refuses a cache silently (another node, other
// flags, another source), and each command then compiles what it runs: ~30 ms more per start.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { REPO } from '../helpers/runtime';

const BUNDLE = path.join(REPO, 'packages/ts-runc/dist/src/cli/bundle.js');
const LOADER = path.join(REPO, 'packages/libc/dist/src/cached-bundle.js');
/** The node bin/ts-runc runs. */
const NODE = fs.existsSync('/usr/local/lib/ts-runc/node') ? '/usr/local/lib/ts-runc/node' : 'node';
const CACHES = ['create', 'exec', 'start', 'state', 'kill', 'delete', 'other'];

test('every command kind\'s code cache is one V8 takes (made by scripts/train-code-cache)', () => {
  const code = `const { cacheUse } = require(${JSON.stringify(LOADER)});
process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(CACHES)}.map((c) => [c, cacheUse(${JSON.stringify(BUNDLE)}, c)]))));`;
  // No NODE_OPTIONS: the launcher unsets them, and a V8 flag would make V8 refuse every cache.
  const r = spawnSync(NODE, ['-e', code], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual(Object.fromEntries(CACHES.map((c) => [c, 'cache used'])));
});
