// runBundle (src/cached-bundle.ts): a bundle runs as a main module, with a code cache that only
// its own build can use, written only when asked. Each case is a fresh node process, as the CLIs are.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const LOADER = path.resolve(__dirname, '../../src/cached-bundle.js');
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cached-bundle-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A bundle that reports how it was run, and does enough work for a cache to matter. */
function writeBundle(id: string | null, extra = '', wrapped = false): string {
  const file = path.join(dir, 'bundle.js');
  const body = `
const helper = require('./helper');
function work(n) { let s = 0; for (let i = 0; i < n; i++) s += helper.twice(i); return s; }
process.stdout.write(JSON.stringify({ work: work(10), dirname: __dirname, filename: __filename,
  isMain: typeof module === 'object' && module.filename === __filename, env: process.env.TSRT_CODE_CACHE ?? null, extra: ${JSON.stringify(extra)} }) + '\\n');
`;
  fs.writeFileSync(path.join(dir, 'helper.js'), 'exports.twice = (x) => 2 * x;\n');
  // As scripts/bundle.js writes them: already wrapped as a CommonJS module.
  const code = wrapped ? `(function (exports, require, module, __filename, __dirname) { ${body}\n});\n` : body;
  fs.writeFileSync(file, (id ? `// tsrt-bundle ${id}\n` : '') + code);
  return file;
}

function run(bundle: string, env: Record<string, string> = {}): { out: Record<string, unknown>; use: string } {
  const code = `const use = require(${JSON.stringify(LOADER)}).runBundle(${JSON.stringify(bundle)}, 'test', () => process.stdout.write(JSON.stringify({ fallback: true }) + '\\n'));
process.on('exit', () => process.stderr.write(use));`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return { out: JSON.parse(r.stdout.trim()), use: r.stderr };
}

const ID = '0123456789abcdef0123456789abcdef';
const cacheOf = (bundle: string) => `${bundle}.test.cache`;

test('a bundle runs as a main module: its own __dirname, a require relative to it, its output', () => {
  for (const wrapped of [false, true]) {
    const b = writeBundle(ID, '', wrapped);
    const { out, use } = run(b);
    expect(out).toEqual({ work: 90, dirname: dir, filename: b, isMain: true, env: null, extra: '' });
    expect(use).toBe('no cache');
  }
});

test('a bundle wrapped by the bundler uses its cache as one wrapped at run time does', () => {
  const b = writeBundle(ID, 'w', true);
  run(b, { TSRT_CODE_CACHE: 'write' });
  expect(run(b)).toEqual({ out: expect.objectContaining({ work: 90, extra: 'w' }), use: 'cache used' });
});

test('no bundle, one without a build id, or TSRT_BUNDLE=0 runs the fallback (the unbundled modules)', () => {
  expect(run(path.join(dir, 'missing.js'))).toEqual({ out: { fallback: true }, use: 'no bundle' });
  expect(run(writeBundle(null))).toEqual({ out: { fallback: true }, use: 'no bundle' });
  expect(run(writeBundle(ID), { TSRT_BUNDLE: '0' })).toEqual({ out: { fallback: true }, use: 'no bundle' });
});

test('TSRT_CODE_CACHE=write writes a cache at exit that the next run uses; the children do not inherit the switch', () => {
  const b = writeBundle(ID);
  const first = run(b, { TSRT_CODE_CACHE: 'write' });
  expect(first.out.env).toBeNull();
  const cache = fs.readFileSync(cacheOf(b));
  // The id, padded so that the data after it stays 8-byte aligned (V8 copies unaligned data).
  expect(cache.subarray(0, 40).toString()).toBe(`${ID}${" ".repeat(7)}\n`);
  expect(cache.length).toBeGreaterThan(ID.length + 100);
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  expect(run(b).use).toBe('cache used');
});

test('without the switch nothing writes a cache', () => {
  const b = writeBundle(ID);
  run(b);
  expect(fs.existsSync(cacheOf(b))).toBe(false);
});

test("a cache made for another build is never used, even for a source of the same length (V8 checks only the length)", () => {
  const b = writeBundle(ID, 'aaaa');
  run(b, { TSRT_CODE_CACHE: 'write' });
  const other = 'fedcba9876543210fedcba9876543210';
  // Same length, other code, other id: V8 would take the old bytecode; the id check refuses it.
  writeBundle(other, 'bbbb');
  const { out, use } = run(b);
  expect(out.extra).toBe('bbbb');
  expect(use).toBe('no cache');
});
