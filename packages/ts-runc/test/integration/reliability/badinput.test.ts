/**
 * Bad input: config.json files generated from schemas/config.schema.json and mutated (wrong
 * types, missing required fields, out-of-range and huge values, unicode, deep nesting, broken
 * JSON), and random command lines (commands, flags, orders, values). Each must end with exit 0
 * (a valid one) or a one-line error and a non-zero exit: never a stack trace, a hang or a
 * leftover (state dir, cgroup dir, process, mount). Seeded: FUZZ_SEED=N reproduces a run;
 * FUZZ_DUMP=DIR keeps the offending configs.
 * CI: 60 configs + 80 command lines; SOAK=1: 1,000 each.
 */
import * as fs from 'fs';
import * as path from 'path';
import { REPO } from '../../helpers/runtime';
import { SOAK, TS_RUNC, becomeSubreaper, reapOrphans, startReaper, snapshot, descendants, workDir, bundleIn, rtAsync, cleanAll, oneLineError, type Result } from './probe';

const CONFIGS = Number(process.env.FUZZ_CONFIGS ?? (SOAK ? 1000 : 60));
const ARGVS = Number(process.env.FUZZ_ARGVS ?? (SOAK ? 1000 : 80));
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
jest.setTimeout(SOAK ? 6 * 3600_000 : 20 * 60_000);

function mulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let rand = mulberry32(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const chance = (p: number) => rand() < p;

// ---- the schema, with its $refs across files --------------------------------------------------
const SCHEMAS: Record<string, any> = {};
for (const f of fs.readdirSync(path.join(REPO, 'schemas'))) SCHEMAS[f] = JSON.parse(fs.readFileSync(path.join(REPO, 'schemas', f), 'utf8'));

interface Sub {
  s: any;
  file: string;
}
function resolve(sub: Sub): Sub {
  let { s, file } = sub;
  for (let i = 0; i < 20 && s && s.$ref; i++) {
    const [f, frag] = String(s.$ref).split('#');
    if (f) file = f;
    s = SCHEMAS[file];
    for (const part of (frag ?? '').split('/').filter(Boolean)) s = s?.[part];
  }
  return { s: s ?? {}, file };
}
/** The sub-schema for one step into an object key or array index (first matching branch). */
function step(sub: Sub, key: string | number): Sub | null {
  const r = resolve(sub);
  const branches = [r.s, ...(r.s.allOf ?? []), ...(r.s.oneOf ?? []), ...(r.s.anyOf ?? [])];
  for (const b of branches) {
    const rb = resolve({ s: b, file: r.file });
    if (typeof key === 'number' && rb.s.items) return { s: rb.s.items, file: rb.file };
    if (typeof key === 'string' && rb.s.properties?.[key]) return { s: rb.s.properties[key], file: rb.file };
    if (typeof key === 'string' && rb.s.patternProperties) return { s: Object.values(rb.s.patternProperties)[0], file: rb.file };
    if (typeof key === 'string' && typeof rb.s.additionalProperties === 'object') return { s: rb.s.additionalProperties, file: rb.file };
  }
  return null;
}
function typesOf(sub: Sub): string[] {
  const { s, file } = resolve(sub);
  if (s.type) return Array.isArray(s.type) ? s.type : [s.type];
  for (const b of [...(s.oneOf ?? []), ...(s.anyOf ?? []), ...(s.allOf ?? [])]) {
    const t = typesOf({ s: b, file });
    if (t.length) return t;
  }
  return [];
}

const UNICODE = ['💥', '\u0000', '\ud800', '\u202e', 'ﬀ', 'é\u0301', '\n', '..', '/', '../../../../etc', '%s%n', '${HOME}', ' '];
function randomString(): string {
  switch (Math.floor(rand() * 5)) {
    case 0:
      return '';
    case 1:
      return 'x'.repeat(pick([255, 4096, 65536, 1 << 20]));
    case 2:
      return Array.from({ length: 1 + Math.floor(rand() * 6) }, () => pick(UNICODE)).join('');
    case 3:
      return '/' + Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(['a', 'proc', '..', 'dev', '💥', 'x'.repeat(300)])).join('/');
    default:
      return Math.random().toString(36).slice(2);
  }
}
const HUGE = [-1, 0, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 0.5, 1e-300];
function valueOfType(t: string): unknown {
  switch (t) {
    case 'string':
      return randomString();
    case 'integer':
    case 'number':
      return pick(HUGE);
    case 'boolean':
      return chance(0.5);
    case 'array':
      return chance(0.5) ? [] : [randomString(), pick(HUGE)];
    case 'object':
      return chance(0.5) ? {} : { [randomString()]: randomString() };
    default:
      return null;
  }
}
const ALL_TYPES = ['string', 'integer', 'boolean', 'array', 'object', 'null'];
/** A placeholder replaced in the text (JSON.stringify itself would overflow at this depth). */
function deep(depth: number): string {
  return `__DEEP_${chance(0.5) ? 'A' : 'O'}_${depth}__`;
}
function expandDeep(text: string): string {
  return text.replace(/"__DEEP_([AO])_(\d+)__"/g, (_, k: string, n: string) => (k === 'A' ? '['.repeat(+n) + '1' + ']'.repeat(+n) : '{"a":'.repeat(+n) + '1' + '}'.repeat(+n)));
}

type Path = Array<string | number>;
function paths(v: unknown, p: Path = [], out: Path[] = []): Path[] {
  out.push(p);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...p, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths((v as any)[k], [...p, k], out);
  return out;
}
function schemaAt(p: Path): Sub | null {
  let sub: Sub | null = { s: SCHEMAS['config.schema.json'], file: 'config.schema.json' };
  for (const k of p) {
    sub = sub && step(sub, k);
    if (!sub) return null;
  }
  return sub;
}
function getAt(o: any, p: Path): any {
  return p.reduce((a, k) => a?.[k], o);
}
function setAt(o: any, p: Path, v: unknown): void {
  const parent = getAt(o, p.slice(0, -1));
  parent[p[p.length - 1]] = v;
}
function deleteAt(o: any, p: Path): void {
  const parent = getAt(o, p.slice(0, -1));
  if (Array.isArray(parent)) parent.splice(Number(p[p.length - 1]), 1);
  else delete parent[p[p.length - 1]];
}

/** Fields where a *valid* random value could touch the host: only ever broken, never changed. */
const HOST_SENSITIVE = /^(linux\.(namespaces|cgroupsPath|resources|sysctl|devices|uidMappings|gidMappings|seccomp|personality)|root\.path|hooks|mounts\.\d+\.(source|type|options))/;

/** One mutation, chosen by what the schema says the field is. Returns a label for the table. */
function mutate(c: any): string {
  const all = paths(c).filter((p) => p.length > 0);
  const p = pick(all);
  const key = p.join('.');
  const sub = schemaAt(p);
  const types = sub ? typesOf(sub) : [];
  const sensitive = HOST_SENSITIVE.test(key);
  const r = rand();
  if (r < 0.3 && types.length) {
    setAt(c, p, valueOfType(pick(ALL_TYPES.filter((t) => !types.includes(t) && !(t === 'integer' && types.includes('number'))))));
    return 'wrong type';
  }
  if (r < 0.45) {
    // Required fields per the schema (at the parent): drop one, or drop this field.
    const parent = schemaAt(p.slice(0, -1));
    const req: string[] = parent ? resolve(parent).s.required ?? [] : [];
    const obj = getAt(c, p.slice(0, -1));
    const target = req.length && obj && !Array.isArray(obj) ? [...p.slice(0, -1), pick(req)] : p;
    if (sensitive || HOST_SENSITIVE.test(target.join('.')) || target.join('.') === 'linux') {
      setAt(c, p, valueOfType(pick(ALL_TYPES.filter((t) => !types.includes(t)))));
      return 'wrong type';
    }
    deleteAt(c, target);
    return req.length ? 'missing required' : 'missing field';
  }
  if (r < 0.6 && sub) {
    const s = resolve(sub).s;
    if (s.enum) {
      setAt(c, p, pick(['💥', '', s.enum[0] + 'x', 'RW', String(s.enum[0]).toUpperCase()]));
      return 'not in enum';
    }
    if (s.pattern || s.minimum !== undefined || s.maximum !== undefined) {
      setAt(c, p, s.pattern ? pick(['', '!', 'relative/path', '💥']) : s.minimum !== undefined ? s.minimum - 1 : s.maximum + 1);
      return 'out of range / pattern';
    }
  }
  if (r < 0.75 && !sensitive && types.length) {
    setAt(c, p, valueOfType(pick(types)));
    return 'random value of the right type';
  }
  if (r < 0.85) {
    setAt(c, p, deep(pick([100, 1000, 10000, 100000])));
    return 'deep nesting';
  }
  if (r < 0.93) {
    const obj = getAt(c, p.slice(0, -1));
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) obj[randomString() || 'k'] = valueOfType(pick(ALL_TYPES));
    return 'unknown field';
  }
  setAt(c, p, valueOfType(pick(['integer', 'string'])));
  return 'huge/unicode value';
}

/** Text-level damage after serialisation: the file must still be rejected cleanly. */
function damage(text: string): [string, string] {
  switch (Math.floor(rand() * 6)) {
    case 0:
      return [text.slice(0, Math.floor(rand() * text.length)), 'truncated JSON'];
    case 1:
      return ['\ufeff' + text, 'BOM'];
    case 2:
      return ['', 'empty file'];
    case 3:
      return [text.replace(/"/, "'"), 'broken quote'];
    case 4:
      return ['['.repeat(200000), 'deep unterminated'];
    default:
      return [Buffer.from(Array.from({ length: 512 }, () => Math.floor(rand() * 256))).toString('latin1'), 'binary garbage'];
  }
}

// ---- harness --------------------------------------------------------------------------------
let base: string;
let root: string;
let trueBundle: string;
let baseConfig: any;
let stopReaper: () => void;
const prefix = `rel-fuzz-${process.pid}`;

beforeAll(() => {
  becomeSubreaper();
  stopReaper = startReaper();
  base = workDir('fuzz');
  root = path.join(base, 'root');
  trueBundle = bundleIn(base, 'true', ['/bin/true']);
  baseConfig = JSON.parse(fs.readFileSync(path.join(trueBundle, 'config.json'), 'utf8'));
  baseConfig.root.path = path.join(trueBundle, 'rootfs');
  console.log(`bad input: FUZZ_SEED=${SEED}`);
});
afterAll(() => {
  stopReaper();
  cleanAll(TS_RUNC, root, base);
  reapOrphans();
});

/** Keep the namespaces that protect the host (a config without them is valid, and runs on the host). */
function hostSafe(c: any): boolean {
  const ns = c?.linux?.namespaces;
  if (c?.linux !== undefined && (typeof c.linux !== 'object' || c.linux === null || Array.isArray(c.linux))) return true; // invalid: rejected
  if (ns !== undefined && !Array.isArray(ns)) return true;
  if (!Array.isArray(ns)) return false;
  const types = ns.map((n: any) => n?.type);
  return ['mount', 'uts', 'pid', 'ipc', 'network'].every((t) => types.includes(t)) && ns.every((n: any) => !n?.path);
}

interface Verdict {
  label: string;
  r: Result;
}

async function leftovers(ids: string[]): Promise<string[]> {
  const out: string[] = [];
  // Bounded generously: only a real leftover waits this long.
  const deadline = Date.now() + 30_000;
  let alive = descendants().filter((p) => p.state !== 'Z');
  while (alive.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    alive = descendants().filter((p) => p.state !== 'Z');
  }
  if (alive.length) out.push(`processes ${alive.map((p) => `${p.pid}:${p.comm}`).join(',')}`);
  for (const id of ids) if (fs.existsSync(path.join(root, id))) out.push(`state dir ${id}`);
  const s = snapshot(prefix, base, root);
  if (s.cgroupDirs) out.push(`${s.cgroupDirs} cgroup dirs`);
  if (s.mounts) out.push(`${s.mounts} mounts`);
  return out;
}

function judge(v: Verdict): string | null {
  const { r } = v;
  if (r.signal) return `hang/killed (${r.signal}) after ${r.ms} ms`;
  if (/^\s+at /m.test(r.stderr) || /\.js:\d+:\d+/.test(r.stderr)) return `stack trace: ${r.stderr.slice(0, 300)}`;
  if (r.status !== 0 && !oneLineError(r.stderr)) return `not a one-line error (exit ${r.status}): ${JSON.stringify(r.stderr.slice(0, 300))}`;
  if (r.status !== 0 && /undefined|null|\[object Object\]|NaN/.test(r.stderr) && !/"(null|undefined)"/.test(r.stderr)) return `unhelpful error: ${r.stderr.trim().slice(0, 200)}`;
  return null;
}

test(`${CONFIGS} fuzzed config.json files: exit 0 or a one-line error, never a stack trace or a leftover`, async () => {
  const tally: Record<string, { ok: number; rejected: number }> = {};
  const problems: string[] = [];
  const bundle = path.join(base, 'fuzzed');
  fs.mkdirSync(bundle);
  for (let i = 0; i < CONFIGS; i++) {
    let c: any;
    let labels: string[];
    let text: string;
    for (;;) {
      c = structuredClone(baseConfig);
      labels = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => mutate(c));
      text = expandDeep(JSON.stringify(c));
      if (chance(0.1)) {
        const [t, l] = damage(text);
        text = t;
        labels = [l];
        break;
      }
      if (hostSafe(c)) break;
    }
    fs.writeFileSync(path.join(bundle, 'config.json'), text);
    const id = `${prefix}-c${i}`;
    const r = await rtAsync(TS_RUNC, root, ['run', '-b', bundle, id], { timeout: 30000 });
    const label = labels.join(' + ');
    const bad = judge({ label, r });
    const left = await leftovers([id]);
    if (bad || left.length) {
      problems.push(`#${i} [${label}] ${bad ?? ''} ${left.length ? 'left: ' + left.join('; ') : ''} :: ${text.slice(0, 300)}`);
      // FUZZ_DUMP=DIR keeps each offending config whole, to reproduce it by hand.
      if (process.env.FUZZ_DUMP) fs.writeFileSync(path.join(process.env.FUZZ_DUMP, `seed${SEED}-c${i}.json`), text);
      rtAsync(TS_RUNC, root, ['delete', '-f', id]);
    }
    for (const l of labels) {
      tally[l] ??= { ok: 0, rejected: 0 };
      tally[l][r.status === 0 ? 'ok' : 'rejected']++;
    }
  }
  console.log(
    [`bad input: ${CONFIGS} fuzzed configs (seed ${SEED}); mutation -> ran ok / rejected`, ...Object.entries(tally).map(([k, v]) => `  ${k.padEnd(32)} ${v.ok} / ${v.rejected}`), `  problems: ${problems.length}`, ...problems.map((p) => '  ' + p)].join('\n'),
  );
  expect(problems).toEqual([]);
});

test(`${ARGVS} random command lines: exit 0 or a one-line error, never a stack trace, hang or leftover`, async () => {
  // A live container and a created one for the commands to act on, re-made when consumed.
  const live = `${prefix}-live`;
  const made = `${prefix}-made`;
  const sleeper = bundleIn(base, 'sleeper', ['/bin/sleep', '1000']);
  const ensure = async () => {
    if (!fs.existsSync(path.join(root, live))) await rtAsync(TS_RUNC, root, ['run', '-d', '-b', sleeper, live]);
    if (!fs.existsSync(path.join(root, made))) await rtAsync(TS_RUNC, root, ['create', '-b', sleeper, made]);
  };
  const cmds = ['create', 'start', 'run', 'state', 'kill', 'delete', 'list', 'spec', 'features', 'pause', 'resume', 'ps', 'exec', 'update', 'events', 'bogus', '', '-', '--', 'help'];
  const ids = () => [live, made, `${prefix}-new${Math.floor(rand() * 5)}`, 'nope', '', '..', 'a/b', '💥', '-f', 'x'.repeat(1024), '--all'];
  const flagVals = [
    ['-b', trueBundle], ['--bundle', '/nonexistent'], ['-b', ''], ['--pid-file', path.join(base, 'pid')], ['--pid-file', '/proc/nope/x'], ['--console-socket', '/nonexistent.sock'],
    ['--preserve-fds', 'abc'], ['--preserve-fds', '-1'], ['--preserve-fds', '99999'], ['--no-pivot'], ['-d'], ['--detach'], ['-f'], ['--force'], ['-a'], ['--format', 'json'], ['--format', 'yaml'],
    ['-q'], ['--stats'], ['--interval', 'x'], ['-t'], ['-e', 'A=B'], ['-e'], ['-u', 'root:nope'], ['-u', '99999999999'], ['--cwd', 'rel'], ['-p', '/nonexistent.json'], ['-p', '-'], ['--cap', 'CAP_NOPE'],
    ['--memory', '-5'], ['--memory', '1x'], ['--memory', '9999999999999999999999'], ['--pids-limit', 'abc'], ['--cpu-quota', '1e400'], ['-r', '/nonexistent'], ['--unknown-flag'], ['-Z'], ['--', '-x'], ['--help'], ['-h'],
    ['--log-format', 'xml'], ['--debug'], ['--keep'], ['--rootless', 'maybe'], ['--systemd-cgroup'],
  ];
  const tails = ['KILL', 'SIGTERM', '0', '99', 'SIGNOPE', '/bin/true', 'sh', '-c', 'true', '💥'];
  const problems: string[] = [];
  const codes: Record<string, number> = {};
  for (let i = 0; i < ARGVS; i++) {
    await ensure();
    const argv: string[] = [];
    if (chance(0.2)) argv.push(...pick(flagVals.filter((f) => ['--log-format', '--debug', '--systemd-cgroup', '--rootless', '--help', '-h'].includes(f[0]))));
    const cmd = pick(cmds);
    if (cmd) argv.push(cmd);
    const n = Math.floor(rand() * 5);
    for (let k = 0; k < n; k++) {
      const r = rand();
      if (r < 0.45) argv.push(...pick(flagVals));
      else if (r < 0.8) argv.push(pick(ids()));
      else argv.push(pick(tails));
    }
    // Never stream forever, never run a foreground sleeper (both wait by design, not by bug).
    if (cmd === 'events' && !argv.includes('--stats')) argv.push('--stats');
    if (argv.includes('-p') && argv[argv.indexOf('-p') + 1] === '-') argv.splice(argv.indexOf('-p'), 2);
    const cwd = path.join(base, 'cwd');
    fs.rmSync(cwd, { recursive: true, force: true });
    fs.mkdirSync(cwd);
    const r = await rtAsync(TS_RUNC, root, argv, { timeout: 30000, cwd });
    codes[String(r.status ?? r.signal)] = (codes[String(r.status ?? r.signal)] ?? 0) + 1;
    const bad = judge({ label: argv.join(' '), r });
    // Leftovers: anything our fixed containers are not, once every new container is deleted.
    const extra = fs.existsSync(root) ? fs.readdirSync(root).filter((n) => !n.startsWith('.') && n !== live && n !== made) : [];
    for (const id of extra) await rtAsync(TS_RUNC, root, ['delete', '-f', id]);
    if (bad) problems.push(`[${JSON.stringify(argv).slice(0, 300)}] ${bad}`);
  }
  for (const id of [live, made]) await rtAsync(TS_RUNC, root, ['delete', '-f', id]);
  const left = await leftovers([live, made]);
  console.log([`bad input: ${ARGVS} random command lines (seed ${SEED}); exit codes ${JSON.stringify(codes)}; problems: ${problems.length}`, ...problems.map((p) => '  ' + p)].join('\n'));
  expect(problems).toEqual([]);
  expect(left).toEqual([]);
});
