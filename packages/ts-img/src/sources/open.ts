import * as fs from 'fs';
import type { ImageSource } from './types';
import { LayoutSource } from './layout';

export interface SourceSpec {
  transport: 'oci' | 'oci-archive' | 'docker-archive' | 'auto';
  path: string;
  ref?: string;
}

/**
 * Parse "[transport:]PATH[:tag|@digest]". PATH may itself contain ':' or '@': the longest prefix
 * that exists on disk is the path.
 */
export function parseSource(arg: string): SourceSpec {
  let transport: SourceSpec['transport'] = 'auto';
  let rest = arg;
  const m = /^(oci|oci-archive|docker-archive):(.*)$/.exec(arg);
  if (m && !fs.existsSync(arg)) {
    transport = m[1] as SourceSpec['transport'];
    rest = m[2];
  }
  if (fs.existsSync(rest)) return { transport, path: rest };
  // split candidates, longest path first
  for (let i = rest.length - 1; i > 0; i--) {
    const c = rest[i];
    if (c !== ':' && c !== '@') continue;
    const p = rest.slice(0, i);
    if (fs.existsSync(p)) {
      const ref = rest.slice(i + 1);
      if (ref === '') throw new Error(`${arg}: empty tag or digest`);
      return { transport, path: p, ref: c === '@' ? ref : ref };
    }
  }
  throw new Error(`${arg}: no such file or directory`);
}

export function openSource(arg: string): ImageSource {
  const s = parseSource(arg);
  const st = fs.statSync(s.path);
  if (st.isDirectory()) {
    if (s.transport !== 'auto' && s.transport !== 'oci') throw new Error(`${s.path}: is a directory, not a ${s.transport}`);
    return new LayoutSource(s.path, s.ref);
  }
  if (!st.isFile()) throw new Error(`${s.path}: not a directory or regular file`);
  if (s.transport === 'oci') throw new Error(`${s.path}: not a directory`);
  // loaded only for archives: a layout (the store) is the common case of a fast unpack --overlay
  const { ArchiveSource } = require('./docker-archive') as typeof import('./docker-archive');
  return new ArchiveSource(s.path, s.ref);
}
