// The CLI runs from its bundle with a V8 code cache per kind of command (cli/launch.ts), made by
// scripts/train-code-cache (run by scripts/setup). V8 refuses a cache silently (another node, other
// flags, another source), and each command then compiles what it runs.
import * as path from 'path';
import { spawnSync } from 'child_process';

const REPO = path.resolve(__dirname, '../../../../..');
const BUNDLE = path.join(REPO, 'packages/ts-img/dist/src/cli/bundle.js');
const LOADER = path.join(REPO, 'packages/libc/dist/src/cached-bundle.js');
const CACHES = ['unpack', 'overlay', 'other'];

test('every command kind\'s code cache is one V8 takes (made by scripts/train-code-cache)', () => {
  const code = `const { cacheUse } = require(${JSON.stringify(LOADER)});
process.stdout.write(JSON.stringify(Object.fromEntries(${JSON.stringify(CACHES)}.map((c) => [c, cacheUse(${JSON.stringify(BUNDLE)}, c)]))));`;
  // bin/ts-img runs the node on PATH, without NODE_OPTIONS' flags (a V8 flag makes V8 refuse every cache).
  const r = spawnSync('node', ['-e', code], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual(Object.fromEntries(CACHES.map((c) => [c, 'cache used'])));
});
