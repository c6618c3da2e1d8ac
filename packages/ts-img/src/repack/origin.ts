/**
 * BUNDLE/ts-img-origin.json: the image a bundle was unpacked (or repacked) from, repack's base.
 * Apart from repack.ts: every `unpack REF` writes it, and loading repack's writers for that
 * cost ~6 ms of its start (zlib, child_process; measured).
 */
import fs from 'node:fs';
import path from 'node:path';

export const ORIGIN_FILE = 'ts-img-origin.json';

export interface Origin {
  /** Layout (or store) directory holding the image. */
  layout: string;
  manifestDigest: string;
  name?: string;
}

export function readOrigin(bundle: string): Origin | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(bundle, ORIGIN_FILE), 'utf8')) as Origin;
    if (typeof o.layout === 'string' && typeof o.manifestDigest === 'string') return o;
  } catch {
    /* none */
  }
  return undefined;
}

export function writeOrigin(bundle: string, o: Origin): void {
  fs.writeFileSync(path.join(bundle, ORIGIN_FILE), `${JSON.stringify(o, null, 2)}\n`, { mode: 0o644 });
}
