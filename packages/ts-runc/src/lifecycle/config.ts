import * as fs from 'fs';
import * as path from 'path';
import type { Spec } from '@tsrt/oci-spec';
import { RuntimeError } from '../errors';

type Validate = (kind: string, doc: unknown) => { ok: true } | { ok: false; errors: string[] };

/** Read and validate BUNDLE/config.json against schemas/ (ajv); the error names the JSON path. */
export function loadConfig(bundle: string): Spec {
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
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  const validate = (require('@tsrt/oci-spec') as { validate?: Validate }).validate;
  if (validate) {
    const r = validate('config', spec);
    if (!r.ok) throw new RuntimeError(`config.json: ${r.errors[0]}`);
  } else if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new RuntimeError('config.json: must be a JSON object');
  }
  return spec as Spec;
}
