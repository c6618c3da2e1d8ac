/**
 * validate(kind, doc): JSON Schema validation of OCI documents against the schemas in <repo>/schemas.
 *
 * The validators are ajv *standalone* modules generated at build time by
 * scripts/gen-validators.js into dist/src/generated/<kind>.js, and loaded lazily per kind, so no
 * schema is compiled at run time and validating a config.json does not load the image schemas.
 * If the generated module is missing (e.g. someone ran plain `tsc -b` without the generator),
 * the schema is compiled with ajv at run time instead (slower, same result).
 */
import * as path from 'path';

export type SchemaKind =
  | 'config'
  | 'state'
  | 'image-manifest'
  | 'image-index'
  | 'image-config'
  | 'image-layout'
  | 'content-descriptor'
  | 'features';

export const SCHEMA_KINDS: readonly SchemaKind[] = [
  'config',
  'state',
  'image-manifest',
  'image-index',
  'image-config',
  'image-layout',
  'content-descriptor',
  'features',
];

export type ValidationResult = { ok: true } | { ok: false; errors: string[] };

/** Subset of ajv's ErrorObject that the formatter uses. */
interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  propertyName?: string;
  message?: string;
}

type CompiledValidator = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

const loaded = new Map<SchemaKind, CompiledValidator>();

/**
 * This package's dist/src, found by resolution rather than __dirname: the CLIs run from a
 * one-file bundle (scripts/bundle.js) whose __dirname is their own.
 */
const DIST_SRC = path.dirname(require.resolve('@tsrt/oci-spec'));

/** Directory holding the *.schema.json files (the repository's schemas/). */
export const SCHEMA_DIR = path.resolve(DIST_SRC, '../../../../schemas');

function isKind(kind: string): kind is SchemaKind {
  return (SCHEMA_KINDS as readonly string[]).includes(kind);
}

function loadValidator(kind: SchemaKind): CompiledValidator {
  const cached = loaded.get(kind);
  if (cached) return cached;
  const fn = (process.env.OCI_SPEC_RUNTIME_COMPILE === '1' ? undefined : loadGenerated(kind)) ?? compileAtRunTime(kind);
  loaded.set(kind, fn);
  return fn;
}

/**
 * A validator the caller carries itself: a CLI bundle that includes generated/<kind>.js has its
 * bytecode in the bundle's own code cache, so nothing more is read, compiled or deserialized for
 * it (a second file and its cache: ~4 ms of every create, measured). OCI_SPEC_RUNTIME_COMPILE=1 still
 * compiles the schema instead.
 */
export function provideValidator(kind: SchemaKind, fn: ((data: unknown) => boolean) | undefined): void {
  if (fn && process.env.OCI_SPEC_RUNTIME_COMPILE !== '1' && !loaded.has(kind)) loaded.set(kind, fn as CompiledValidator);
}

/** Kinds whose validator is loaded in this process (tests use it to check lazy loading). */
export function loadedKinds(): SchemaKind[] {
  return [...loaded.keys()];
}

/**
 * Load dist/src/generated/<kind>.js. With its V8 code cache (<kind>.js.cache, written by the
 * generator after a warm-up run) the module is neither parsed nor lazily compiled again; V8 checks
 * the cache itself and silently compiles from source when it does not match this node binary.
 * Returns undefined when the module was not generated.
 */
function loadGenerated(kind: SchemaKind): CompiledValidator | undefined {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const fs = require('fs') as typeof import('fs');
  const file = path.join(DIST_SRC, 'generated', `${kind}.js`);
  let source: string;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (process.env.OCI_SPEC_NO_CODE_CACHE === '1') return require(file) as CompiledValidator;
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(`${file}.cache`);
  } catch {
    cachedData = undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const vm = require('vm') as typeof import('vm');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const Module = require('module') as { wrap(code: string): string };
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(mod.exports, require, mod, file, path.dirname(file));
  return mod.exports as CompiledValidator;
}

/** Fallback when the build step did not generate the standalone module. */
function compileAtRunTime(kind: SchemaKind): CompiledValidator {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const fs = require('fs') as typeof import('fs');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const AjvMod = require('ajv');
  const Ajv = AjvMod.default ?? AjvMod;
  const schemas = fs
    .readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8')) as { $id: string });
  const ajv = new Ajv({ allErrors: true, messages: false, strict: true, strictTypes: false, strictRequired: false, schemas });
  const id = schemas.map((s) => s.$id).find((i) => i.endsWith(`/${kind}.schema.json`));
  if (!id) throw new Error(`oci-spec: no schema for ${kind} in ${SCHEMA_DIR}`);
  return ajv.getSchema(id) as CompiledValidator;
}

/**
 * Validate `doc` (already parsed JSON) as a document of the given kind.
 * Errors are one line each: `<json path>: <problem>`, e.g.
 * `linux.namespaces[2].type: must be one of pid, network, mount, ipc, uts, user, cgroup, time`.
 */
export function validate(kind: SchemaKind, doc: unknown): ValidationResult {
  if (!isKind(kind)) throw new Error(`oci-spec: unknown document kind '${String(kind)}' (one of ${SCHEMA_KINDS.join(', ')})`);
  const fn = loadValidator(kind);
  const schemaOk = fn(doc);
  const errors = schemaOk ? [] : formatErrors(fn.errors ?? []);
  const extra = SEMANTIC_CHECKS[kind]?.(doc) ?? [];
  errors.push(...extra);
  if (errors.length === 0) return { ok: true };
  return { ok: false, errors: dedupe(errors) };
}

/** Like validate() but throws an Error listing every problem. */
export function assertValid(kind: SchemaKind, doc: unknown, what: string = kind): void {
  const r = validate(kind, doc);
  if (!r.ok) throw new ValidationError(what, r.errors);
}

export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly errors: string[],
  ) {
    super(`invalid ${what}: ${errors.join('; ')}`);
    this.name = 'ValidationError';
  }
}

// ---------------------------------------------------------------------------------------------
// Checks JSON Schema cannot express (uniqueness by a field).
// ---------------------------------------------------------------------------------------------

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function duplicates(arr: unknown, field: string, at: string, what: string): string[] {
  if (!Array.isArray(arr)) return [];
  const seen = new Map<unknown, number>();
  const out: string[] = [];
  arr.forEach((item, i) => {
    if (!isObj(item) || typeof item[field] !== 'string') return;
    const prev = seen.get(item[field]);
    if (prev !== undefined) out.push(`${at}[${i}].${field}: duplicate ${what} '${item[field] as string}' (also at ${at}[${prev}])`);
    else seen.set(item[field], i);
  });
  return out;
}

const SEMANTIC_CHECKS: Partial<Record<SchemaKind, (doc: unknown) => string[]>> = {
  config(doc) {
    if (!isObj(doc)) return [];
    const out: string[] = [];
    // runtime-spec: duplicated rlimit types / namespace types MUST be an error.
    if (isObj(doc.process)) out.push(...duplicates(doc.process.rlimits, 'type', 'process.rlimits', 'rlimit'));
    if (isObj(doc.linux)) out.push(...duplicates(doc.linux.namespaces, 'type', 'linux.namespaces', 'namespace'));
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Error formatting
// ---------------------------------------------------------------------------------------------

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** "/linux/namespaces/2/type" -> "linux.namespaces[2].type"; odd keys -> ["org.opencontainers.x"]. */
export function jsonPointerToPath(pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = joinPath(out, seg, /^(0|[1-9][0-9]*)$/.test(seg));
  }
  return out;
}

function joinPath(base: string, key: string, index = false): string {
  if (index) return `${base}[${key}]`;
  if (IDENT.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

/** Readable descriptions of the regular expressions used in schemas/ (tests check all are covered). */
export const PATTERN_MESSAGES: Record<string, string> = {
  '^/': 'must be an absolute path',
  '^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$': 'must be a digest algorithm:encoded, e.g. sha256:<64 hex digits>',
  '^sha256:[a-f0-9]{64}$': 'must be sha256: followed by 64 lowercase hex digits',
  '^sha512:[a-f0-9]{128}$': 'must be sha512: followed by 128 lowercase hex digits',
  '^blake3:[a-f0-9]{64}$': 'must be blake3: followed by 64 lowercase hex digits',
  '^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?(\\+[0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*)?$':
    'must be a SemVer 2.0.0 version such as 1.0.2',
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$':
    'must be an RFC 3339 date-time such as 2024-01-02T03:04:05Z',
  '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$':
    'must be a media type type/subtype (RFC 6838)',
  '^RLIMIT_[A-Z]+$': 'must be an RLIMIT_* resource name such as RLIMIT_NOFILE',
  '^CAP_[A-Z0-9_]+$': 'must be a capability name such as CAP_CHOWN',
  '^[rwm]{0,3}$': 'must be a combination of r, w and m',
  '^[1-9][0-9]*[KMGTPE]B$': 'must be a page size such as 64KB, 2MB or 1GB',
  '^$|^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$': 'must be a CPU list such as 0-3,7',
  '^MB:[^\\n]*$': 'must start with MB: and be a single line',
  '^[a-z]+$': 'must be a lowercase status word (creating, created, running, stopped, ...)',
  '^[A-Za-z][A-Za-z0-9+.-]*:[^\\s]*$': 'must be a URL',
  '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$': 'must be base64 (standard alphabet, padded)',
  '^[0-9]+(-[0-9]+)?(/(tcp|udp|sctp|TCP|UDP|SCTP))?$': 'must be a port such as 80/tcp, 53/udp or 8080',
  '^SCMP_ACT_[A-Z0-9_]+$': 'must be a seccomp action name SCMP_ACT_*',
  '^SCMP_CMP_[A-Z0-9_]+$': 'must be a seccomp operator name SCMP_CMP_*',
  '^SCMP_ARCH_[A-Z0-9_]+$': 'must be a seccomp architecture name SCMP_ARCH_*',
  '^SECCOMP_FILTER_FLAG_[A-Z0-9_]+$': 'must be a seccomp flag name SECCOMP_FILTER_FLAG_*',
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function messageFor(e: SchemaError): string {
  const p = e.params;
  switch (e.keyword) {
    case 'type': {
      const t = Array.isArray(p.type) ? p.type : String(p.type).split(',');
      return `must be ${t.join(' or ')}`;
    }
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p.allowedValue)}`;
    case 'pattern':
      return PATTERN_MESSAGES[String(p.pattern)] ?? `must match pattern ${String(p.pattern)}`;
    case 'minItems':
      return `must have at least ${plural(Number(p.limit), 'item')}`;
    case 'maxItems':
      return `must have at most ${plural(Number(p.limit), 'item')}`;
    case 'minLength':
      return Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${plural(Number(p.limit), 'character')} long`;
    case 'maxLength':
      return `must be at most ${plural(Number(p.limit), 'character')} long`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${String(p.comparison)} ${String(p.limit)}`;
    case 'additionalProperties':
      return `unknown property '${String(p.additionalProperty)}'`;
    default:
      return e.message ?? `fails ${e.keyword}`;
  }
}

/** Turn ajv errors into one line per problem, dropping noise from if/then and anyOf wrappers. */
export function formatErrors(errors: readonly SchemaError[]): string[] {
  const out: string[] = [];
  // anyOf whose branches are only `required`: "must have at least one of a, b".
  const anyOfRequired = new Map<string, string[]>();
  const consumed = new Set<SchemaError>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const base = e.schemaPath.replace(/\/anyOf$/, '/anyOf/');
    const subs = errors.filter((s) => s !== e && s.schemaPath.startsWith(base) && s.instancePath === e.instancePath);
    if (subs.length > 0 && subs.every((s) => s.keyword === 'required')) {
      anyOfRequired.set(e.schemaPath + '|' + e.instancePath, subs.map((s) => String(s.params.missingProperty)));
      subs.forEach((s) => consumed.add(s));
    }
  }
  for (const e of errors) {
    if (consumed.has(e)) continue;
    const at = jsonPointerToPath(e.instancePath);
    switch (e.keyword) {
      case 'if':
        continue; // the failing "then"/"else" keyword is reported on its own
      case 'anyOf': {
        const names = anyOfRequired.get(e.schemaPath + '|' + e.instancePath);
        if (names) out.push(`${at || '(root)'}: must have at least one of ${names.join(', ')}`);
        else if (errors.length === 1) out.push(`${at || '(root)'}: must match one of the allowed forms`);
        continue;
      }
      case 'oneOf':
        if (errors.length === 1) out.push(`${at || '(root)'}: must match exactly one of the allowed forms`);
        continue;
      case 'required':
        out.push(`${joinPath(at, String(e.params.missingProperty))}: is required`);
        continue;
      case 'dependencies':
        out.push(
          `${joinPath(at, String(e.params.missingProperty))}: is required when ${String(e.params.property)} is set`,
        );
        continue;
      case 'propertyNames':
        continue; // reported through the failing name's own error below
      default:
        if (e.propertyName !== undefined) {
          out.push(`${joinPath(at, e.propertyName)}: key ${messageFor(e)}`);
        } else {
          out.push(`${at || '(root)'}: ${messageFor(e)}`);
        }
    }
  }
  return out;
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}
