#!/usr/bin/env node
// Start-up cost of validation as `ts-runc create` pays it: in a fresh node process, time
// require('@tsrt/oci-spec') + JSON.parse + validate('config', doc) of a config.json (default: a
// fresh `runc spec`). The same harness with a one-line module instead of oci-spec is run
// interleaved as the baseline (the fixed cost of any first require + reading the file), so
// "extra" is what oci-spec itself adds. N fresh processes each (default 30); milliseconds;
// wall time and CPU time (user+sys of all threads, steadier when the machine is busy).
// usage: node packages/oci-spec/scripts/bench-startup.js [config.json] [N]
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const os = require('os');

const pkg = path.resolve(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-spec-bench-'));
let configPath = process.argv[2] && path.resolve(process.argv[2]);
if (!configPath) {
  execFileSync('runc', ['spec'], { cwd: tmp });
  configPath = path.join(tmp, 'config.json');
}
const n = Number(process.argv[3] || 30);
const tiny = path.join(tmp, 'tiny.js');
fs.writeFileSync(tiny, 'exports.validate = () => ({ ok: true });\n');

const child = (mod) => `
const h = () => Number(process.hrtime.bigint()) / 1e6;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
const c0 = cpu(), t0 = h();
const { validate } = require(${JSON.stringify(mod)});
const t1 = h();
const doc = JSON.parse(require('fs').readFileSync(${JSON.stringify(configPath)}, 'utf8'));
const r = validate('config', doc);
const t2 = h(), c2 = cpu();
if (!r.ok) { console.error(r.errors.join('\\n')); process.exit(1); }
process.stdout.write(JSON.stringify({ require: t1 - t0, validate: t2 - t1, total: t2 - t0, cpu: c2 - c0 }));
`;
const runs = { ociSpec: [], baseline: [] };
for (let i = 0; i < n; i++) {
  runs.ociSpec.push(JSON.parse(execFileSync(process.execPath, ['-e', child(pkg)], { encoding: 'utf8' })));
  runs.baseline.push(JSON.parse(execFileSync(process.execPath, ['-e', child(tiny)], { encoding: 'utf8' })));
}
fs.rmSync(tmp, { recursive: true, force: true });
const stat = (which, k) => {
  const v = runs[which].map((r) => r[k]).sort((a, b) => a - b);
  return { min: +v[0].toFixed(2), median: +v[Math.floor(v.length / 2)].toFixed(2), p90: +v[Math.floor(v.length * 0.9)].toFixed(2) };
};
const out = {
  runs: n,
  config: configPath,
  ociSpec: { require: stat('ociSpec', 'require'), validate: stat('ociSpec', 'validate'), wall: stat('ociSpec', 'total'), cpu: stat('ociSpec', 'cpu') },
  baseline: { wall: stat('baseline', 'total'), cpu: stat('baseline', 'cpu') },
};
out.extra = {
  wallMedian: +(out.ociSpec.wall.median - out.baseline.wall.median).toFixed(2),
  wallMin: +(out.ociSpec.wall.min - out.baseline.wall.min).toFixed(2),
  cpuMedian: +(out.ociSpec.cpu.median - out.baseline.cpu.median).toFixed(2),
};
console.log(JSON.stringify(out, null, 1));
