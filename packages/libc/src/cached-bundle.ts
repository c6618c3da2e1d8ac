/**
 * Start a CLI from its one-file bundle (scripts/bundle.js) with a V8 code cache.
 *
 * Every ts-runc and ts-img command is a new Node process, and loading ~80 CommonJS modules one by
 * one (resolution, reads, compilation) was a third of a `ts-runc run` (measured). From one file
 * with the bytecode of the functions a command runs, most of that is gone.
 *
 * The cache is made by running commands with TSRT_CODE_CACHE=write (scripts/train-code-cache):
 * each such process writes, at exit, the bytecode of every function compiled so far, including
 * what it read from the previous cache, so a series of commands adds up. V8 checks the cache
 * against its own version and flags, and only the source's length: the cache therefore starts with
 * the bundle's build id (its first line, written by the bundler) and is ignored when the id differs.
 * Nothing writes the cache unless asked: a stale or missing one only costs compile time.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import Module from 'module';

const ID_LINE = /^\/\/ tsrt-bundle ([0-9a-f]{16,64})\n/;
/**
 * How scripts/bundle.js wraps the code, as Module.wrap would: such a bundle is compiled as it was
 * read, and its value is the module function. Wrapping at run time made a second string of the
 * whole source, which V8 copied again to compile it: ~3 ms of every start (measured on 371 KiB).
 */
const WRAPPER = '(function (exports, require, module, __filename, __dirname) { ';

/**
 * The cache's first line: the build id, padded with spaces to a multiple of 8 bytes. V8 takes
 * cached data only at a pointer-aligned address and copies it otherwise (~2 ms for the 480 KiB of
 * create's cache); a file this size is read into a buffer of its own, which starts aligned, so the
 * data after the header stays so.
 */
function headerOf(id: string): Buffer {
  return Buffer.from(`${id.padEnd(Math.ceil((id.length + 1) / 8) * 8 - 1)}\n`, 'latin1');
}

function readCache(file: string, id: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  const header = headerOf(id);
  return data.subarray(0, header.length).equals(header) ? data.subarray(header.length) : undefined;
}

/** Write the cache next to the bundle, whole or not at all (a concurrent reader never sees half). */
function writeCache(file: string, id: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, Buffer.concat([headerOf(id), data]));
  fs.renameSync(tmp, file);
}

/** What runBundle ran (for tests: V8 rejects a cache silently). */
export type CacheUse = 'no bundle' | 'no cache' | 'cache rejected' | 'cache used';

interface Compiled {
  script: vm.Script;
  id: string;
  cacheFile: string;
  cachedData: Buffer | undefined;
}

/** The bundle compiled with its cache, or null when there is no bundle or it has no build id. */
function compile(bundle: string, cache: string): Compiled | null {
  let source: string;
  try {
    // The bundler emits ASCII only: read as latin1, the one-byte string V8 takes without decoding.
    source = fs.readFileSync(bundle, 'latin1');
  } catch {
    return null;
  }
  const idLine = ID_LINE.exec(source);
  if (!idLine) return null;
  const id = idLine[1];
  const cacheFile = `${bundle}.${cache}.cache`;
  const cachedData = readCache(cacheFile, id);
  const wrapped = source.startsWith(WRAPPER, idLine[0].length);
  const script = new vm.Script(wrapped ? source : Module.wrap(source), { filename: bundle, cachedData });
  return { script, id, cacheFile, cachedData };
}

const useOf = (c: Compiled): CacheUse => (!c.cachedData ? 'no cache' : c.script.cachedDataRejected ? 'cache rejected' : 'cache used');

/**
 * What runBundle would do with `bundle` and `cache`, without running it: a cache V8 refuses
 * only costs time, silently (tests check the trained caches with this).
 */
export function cacheUse(bundle: string, cache: string): CacheUse {
  const c = compile(bundle, cache);
  return c ? useOf(c) : 'no bundle';
}

/**
 * Run `bundle` as the main module with the code cache `<bundle>.<cache>.cache`, or call `fallback`
 * (loading the unbundled modules) when there is no bundle, it has no build id, or TSRT_BUNDLE=0.
 * A CLI keeps one cache per kind of command: V8 reads a whole cache, and a `state` that
 * deserialized the bytecode of `run` would pay for it (measured: 1.37x against 1.23x of `node -e 0`).
 */
export function runBundle(bundle: string, cache: string, fallback: () => void): CacheUse {
  // The plain modules, for readable stack traces (the bundle is minified).
  const c = process.env.TSRT_BUNDLE === '0' ? null : compile(bundle, cache);
  if (!c) {
    fallback();
    return 'no bundle';
  }
  if (process.env.TSRT_CODE_CACHE === 'write') {
    delete process.env.TSRT_CODE_CACHE; // not inherited by the helpers and containers it starts
    process.on('exit', () => writeCache(c.cacheFile, c.id, c.script.createCachedData()));
  }
  const mod = new Module(bundle, require.main);
  mod.filename = bundle;
  // The bundle's require resolves from its own place (its externals: koffi, ajv).
  const req = Module.createRequire(bundle);
  const fn = c.script.runInThisContext() as (...args: unknown[]) => void;
  fn.call(mod.exports, mod.exports, req, mod, bundle, path.dirname(bundle));
  return useOf(c);
}
