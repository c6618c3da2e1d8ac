import * as fs from 'fs';
import * as path from 'path';
import { validate, SchemaKind } from '../src';

/** test/fixtures, from both test/ (ts) and dist/test/ (compiled js). */
export const FIXTURES = fs.existsSync(path.resolve(__dirname, 'fixtures'))
  ? path.resolve(__dirname, 'fixtures')
  : path.resolve(__dirname, '../../test/fixtures');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export function fixture(rel: string): Json {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), 'utf8'));
}

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function errorsOf(kind: SchemaKind, doc: unknown): string[] {
  const r = validate(kind, doc);
  return r.ok ? [] : r.errors;
}

export interface InvalidCase {
  name: string;
  mutate: (d: Json) => void;
  /** A line that must appear verbatim among the errors. */
  error: string;
}

export function runInvalidCases(kind: SchemaKind, base: () => Json, cases: InvalidCase[]): void {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const doc = base();
    c.mutate(doc);
    const r = validate(kind, doc);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toContain(c.error);
  });
}
