// The suite's own tiny test runner: synchronous tests, a per-test cleanup stack that always runs,
// skips, and TAP / table output grouped by spec section.

export class SkipError extends Error {}
export class AssertionError extends Error {}

export interface TestContext {
  /** Register a cleanup action; actions run in reverse order after the test, even when it fails. */
  defer(fn: () => void): void;
  /** Diagnostic line printed with the result (TAP comment). */
  note(msg: string): void;
  /** A diagnostic computed only when the test fails, before the cleanups (e.g. a container's stderr). */
  onFailure(fn: () => string | undefined): void;
}

export interface TestDef {
  /** Spec document and section, e.g. "runtime.md#state". */
  section: string;
  name: string;
  fn: (t: TestContext) => void;
  /** A config.md / config-linux.md test (builds a bundle, runs a container): variants rerun it. */
  config?: boolean;
}

const registry: TestDef[] = [];
let verbose = false;
export function setVerbose(v: boolean): void {
  verbose = v;
}

export function test(section: string, name: string, fn: (t: TestContext) => void, opts: { config?: boolean } = {}): void {
  registry.push({ section, name, fn, ...opts });
}

/** A test of config.md / config-linux.md: rerun by the variants (e.g. --seccomp-deny-default). */
export function configTest(section: string, name: string, fn: (t: TestContext) => void): void {
  test(section, name, fn, { config: true });
}

/**
 * A test of a field added in runtime-spec major.minor. To a runtime that declares an older spec
 * version (`--version` "spec:" line) the field is an unknown property, which config.md
 * (Extensibility) says it MUST ignore: a failure then becomes a skip that shows the failure.
 */
export function testSince(major: number, minor: number, predates: (major: number, minor: number) => boolean, section: string, name: string, fn: (t: TestContext) => void, opts: { config?: boolean } = {}): void {
  test(section, `${name} [spec ${major}.${minor}]`, (t) => {
    try {
      fn(t);
    } catch (e) {
      if (e instanceof AssertionError && predates(major, minor)) {
        throw new SkipError(`field added in runtime-spec ${major}.${minor}, newer than the runtime's declared spec version; would fail: ${e.message}`);
      }
      throw e;
    }
  }, opts);
}

export function configTestSince(major: number, minor: number, predates: (major: number, minor: number) => boolean, section: string, name: string, fn: (t: TestContext) => void): void {
  testSince(major, minor, predates, section, name, fn, { config: true });
}

export function allTests(): TestDef[] {
  return registry;
}

export function skip(reason: string): never {
  throw new SkipError(reason);
}

export function fail(msg: string): never {
  throw new AssertionError(msg);
}

export function ok(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

export function eq<T>(actual: T, expected: T, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new AssertionError(`${what}: expected ${e}, got ${a}`);
}

export type Outcome = 'pass' | 'fail' | 'skip';

export interface Result {
  def: TestDef;
  outcome: Outcome;
  message: string;
  notes: string[];
  ms: number;
}

export function runOne(def: TestDef): Result {
  const cleanups: (() => void)[] = [];
  const notes: string[] = [];
  const onFailure: (() => string | undefined)[] = [];
  const ctx: TestContext = {
    defer: (fn) => cleanups.push(fn),
    note: (m) => notes.push(m),
    onFailure: (fn) => onFailure.push(fn),
  };
  const t0 = Date.now();
  let outcome: Outcome = 'pass';
  let message = '';
  try {
    def.fn(ctx);
  } catch (e) {
    if (e instanceof SkipError) {
      outcome = 'skip';
      message = e.message;
    } else {
      outcome = 'fail';
      message =
        e instanceof AssertionError
          ? e.message
          : `exception: ${e instanceof Error ? (verbose ? e.stack ?? e.message : e.message) : String(e)}`;
      for (const fn of onFailure) {
        try {
          const m = fn();
          if (m) notes.push(m);
        } catch {
          /* a diagnostic only */
        }
      }
    }
  }
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      fn();
    } catch (e) {
      notes.push(`cleanup failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { def, outcome, message, notes, ms: Date.now() - t0 };
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export class Reporter {
  private n = 0;
  private lastSection = '';
  readonly results: Result[] = [];
  constructor(private readonly format: 'tap' | 'table', private readonly total: number) {}

  begin(): void {
    if (this.format === 'tap') {
      process.stdout.write('TAP version 13\n');
      process.stdout.write(`1..${this.total}\n`);
    }
  }

  report(r: Result): void {
    this.n++;
    this.results.push(r);
    const title = `[${r.def.section}] ${r.def.name}`;
    if (this.format === 'tap') {
      if (r.def.section !== this.lastSection) process.stdout.write(`# ${r.def.section}\n`);
      let line = `${r.outcome === 'fail' ? 'not ok' : 'ok'} ${this.n} - ${title}`;
      if (r.outcome === 'skip') line += ` # SKIP ${oneLine(r.message)}`;
      process.stdout.write(line + '\n');
      if (r.outcome === 'fail') process.stdout.write(`  ---\n  message: ${JSON.stringify(r.message)}\n  ...\n`);
      for (const note of r.notes) process.stdout.write(`# ${oneLine(note)}\n`);
    } else {
      if (r.def.section !== this.lastSection) process.stdout.write(`\n${r.def.section}\n${'-'.repeat(r.def.section.length)}\n`);
      const mark = r.outcome === 'pass' ? 'PASS' : r.outcome === 'fail' ? 'FAIL' : 'SKIP';
      let line = `  ${mark}  ${r.def.name}`;
      if (r.outcome !== 'pass') line += `\n        ${oneLine(r.message)}`;
      process.stdout.write(line + '\n');
      for (const note of r.notes) process.stdout.write(`        note: ${oneLine(note)}\n`);
    }
    this.lastSection = r.def.section;
  }

  end(): void {
    const count = (o: Outcome) => this.results.filter((r) => r.outcome === o).length;
    const passed = count('pass');
    const failed = count('fail');
    const skipped = count('skip');
    if (this.format === 'table') {
      // Per-section summary.
      const sections = new Map<string, [number, number, number]>();
      for (const r of this.results) {
        const s = sections.get(r.def.section) ?? [0, 0, 0];
        s[r.outcome === 'pass' ? 0 : r.outcome === 'fail' ? 1 : 2]++;
        sections.set(r.def.section, s);
      }
      const w = Math.max(7, ...[...sections.keys()].map((k) => k.length));
      process.stdout.write(`\n${'section'.padEnd(w)}  pass  fail  skip\n`);
      for (const [k, [p, f, s]] of sections) {
        process.stdout.write(`${k.padEnd(w)}  ${String(p).padStart(4)}  ${String(f).padStart(4)}  ${String(s).padStart(4)}\n`);
      }
    }
    process.stdout.write(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  }
}
