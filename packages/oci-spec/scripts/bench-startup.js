#!/usr/bin/env node
// Start-up cost of validation as ts-runc create pays it: in a fresh node process, time
// require('@tsrt/oci-spec') + JSON.parse + validate('config', doc) of a `runc spec` config.json.
// Runs N fresh processes (default 30) and prints the median and p90 in milliseconds, of wall time
// and of CPU time (user+sys; steadier when the machine is busy).
// usage: node packages/oci-spec/scripts/bench-startup.js [config.json] [N]
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');
const fs = require('fs');
const os = require('os');

const pkg = path.resolve(__dirname, '..');
let configPath = process.argv[2];
if (!configPath) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oci-spec-bench-'));
  execFileSync('runc', ['spec'], { cwd: dir });
  configPath = path.join(dir, 'config.json');
}
const n = Number(process.argv[3] || 30);
const child = `
const h = () => Number(process.hrtime.bigint()) / 1e6;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
const c0 = cpu();
const t0 = h();
const { validate } = require(${JSON.stringify(pkg)});
const t1 = h();
const doc = JSON.parse(require('fs').readFileSync(${JSON.stringify(configPath)}, 'utf8'));
const r = validate('config', doc);
const t2 = h();
const c2 = cpu();
if (!r.ok) { console.error(r.errors.join('\\n')); process.exit(1); }
process.stdout.write(JSON.stringify({ require: t1 - t0, validate: t2 - t1, total: t2 - t0, cpu: c2 - c0 }));
`;
const runs = [];
for (let i = 0; i < n; i++) runs.push(JSON.parse(execFileSync(process.execPath, ['-e', child], { encoding: 'utf8' })));
const stat = (k) => {
  const v = runs.map((r) => r[k]).sort((a, b) => a - b);
  return { median: +v[Math.floor(v.length / 2)].toFixed(2), p90: +v[Math.floor(v.length * 0.9)].toFixed(2) };
};
console.log(JSON.stringify({ runs: n, config: configPath, require: stat('require'), validate: stat('validate'), total: stat('total'), cpuTotal: stat('cpu') }));
