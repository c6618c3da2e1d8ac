#!/usr/bin/env node
// bundle.js: after `tsc -b`, one CommonJS file per CLI (packages/<cli>/dist/src/cli/bundle.js),
// which packages/libc/src/cached-bundle.ts runs with a V8 code cache. esbuild, because it reads
// tsc's output as it is and takes ~0.1 s. The bundle sits next to the CLI's modules, so the
// paths the code builds from __dirname (stage 2's init/, ts-img's layers/worker.js) stay right.
// Its first line is a build id: a cache made for another build is never used. Native and
// run-time-only packages stay outside (koffi and its native module, and ajv, which only
// compiles schemas the build did not generate).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');

// tsc's `import * as fs from 'fs'` becomes __importStar(require("fs")): a copy of the module with
// a getter per property (~100 for fs), made again in every module that imports it (58 times in
// ts-runc's bundle), and the garbage of the scavenges at every start. A builtin is no ES module
// and nothing reads a namespace's `default`: the module itself serves.
const BUILTINS = new Set(require('module').builtinModules);
const STAR_BUILTIN = /__importStar\(require\("((?:node:)?[a-z_/]+)"\)\)/g;
const plainBuiltins = {
  name: 'plain-builtins',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, (args) => {
      const text = fs.readFileSync(args.path, 'utf8');
      const contents = text.replace(STAR_BUILTIN, (all, id) => (BUILTINS.has(id.replace(/^node:/, '')) ? `require("${id}")` : all));
      return { contents, loader: 'js' };
    });
  },
};
const CLIS = ['ts-runc', 'ts-img'];

async function main() {
  for (const cli of CLIS) {
    const dir = path.join(root, 'packages', cli, 'dist', 'src', 'cli');
    const out = path.join(dir, 'bundle.js');
    const t0 = Date.now();
    const r = await esbuild.build({
      entryPoints: [path.join(dir, 'entry.js')],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      charset: 'ascii',
      // Fewer bytes to read and decode at every start: 4-5 ms of a `state` (measured). Names of
      // locals only; properties stay. TSRT_BUNDLE=0 runs the plain modules (readable stacks);
      // TSRT_BUNDLE_MINIFY=0 keeps the names, for a CPU profile of the bundle as it runs.
      minify: process.env.TSRT_BUNDLE_MINIFY !== '0',
      external: ['koffi', '@koromix/*', 'ajv', 'ajv-formats'],
      write: false,
      logLevel: 'warning',
      // validate.ts resolves its own package at run time on purpose (see there).
      logOverride: { 'require-resolve-not-external': 'silent' },
      plugins: [plainBuiltins],
    });
    const code = r.outputFiles[0].contents;
    const id = crypto.createHash('sha256').update(code).digest('hex').slice(0, 32);
    for (const f of fs.readdirSync(dir)) if (/^bundle\.js\..*\.cache$/.test(f)) fs.rmSync(path.join(dir, f));
    // Wrapped as a CommonJS module already (the WRAPPER that cached-bundle.ts looks for): compiled
    // as read, with no second copy of the source at every start.
    const head = '(function (exports, require, module, __filename, __dirname) { ';
    fs.writeFileSync(`${out}.tmp`, Buffer.concat([Buffer.from(`// tsrt-bundle ${id}\n${head}`), code, Buffer.from('\n});\n')]));
    fs.renameSync(`${out}.tmp`, out);
    process.stdout.write(`bundle: ${path.relative(root, out)} ${(code.length / 1024).toFixed(0)} KiB (${Date.now() - t0} ms)\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bundle: ${e.message}\n`);
  process.exit(1);
});
