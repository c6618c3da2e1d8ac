import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrt/oci-spec';
import { RuntimeError } from '../errors';
import { findNulByte } from '../plan/nul-byte';

/** Read BUNDLE/config.json as JSON (no schema check yet: see validateConfig). */
export function readConfig(bundle: string): unknown {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    if (!fs.statSync(bundle).isDirectory()) throw new RuntimeError(`bundle ${bundle}: not a directory`);
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RuntimeError(`open ${file}: no such file or directory`);
    throw new RuntimeError(`open ${file}: ${code ?? e}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new RuntimeError('config.json: must be a JSON object');
  return doc;
}

/**
 * The generated config validator, required by its path so that scripts/bundle.js puts it inside
 * the CLI's bundle (and its bytecode in the code cache); undefined when it was not generated.
 */
function bundledConfigValidator(): ((data: unknown) => boolean) | undefined {
  try {
    return require('@tsrt/oci-spec/dist/src/generated/config.js');
  } catch {
    return undefined;
  }
}

/** Validate against schemas/ (ajv, generated at build time); the error names the JSON path. */
export function validateConfig(doc: unknown): Spec {
  const { validate, provideValidator } = require('@tsrt/oci-spec') as typeof import('@tsrt/oci-spec');
  provideValidator('config', bundledConfigValidator());
  const r = validate('config', doc);
  if (!r.ok) throw new RuntimeError(`config.json: ${r.errors[0]}`);
  const nul = findNulByte(doc);
  if (nul) throw new RuntimeError(`config.json: ${nul}: must not contain a NUL byte`);
  return doc as Spec;
}

export function loadConfig(bundle: string): Spec {
  return validateConfig(readConfig(bundle));
}
