/**
 * Where blobs came from: registry -> repository list per digest, kept in .ts-img/sources.json.
 * Push uses it to try a cross-repository mount instead of uploading.
 */
import fs from 'node:fs';
import path from 'node:path';
import { withLock } from './lock';
import { Layout } from './layout';
import { mkdirAll } from '@tsrt/libc';

type Sources = Record<string, Record<string, string[]>>; // digest -> registry -> repos

function file(layout: Layout): string {
  const d = path.join(layout.dir, '.ts-img');
  mkdirAll(d);
  return path.join(d, 'sources.json');
}

function read(layout: Layout): Sources {
  try {
    return JSON.parse(fs.readFileSync(file(layout), 'utf8')) as Sources;
  } catch {
    return {};
  }
}

export async function recordSources(layout: Layout, registry: string, repository: string, digests: Iterable<string>): Promise<void> {
  const f = file(layout);
  await withLock(`${f}.lock`, true, () => {
    const s = read(layout);
    for (const d of digests) {
      const byReg = (s[d] ??= {});
      const repos = (byReg[registry] ??= []);
      if (!repos.includes(repository)) repos.push(repository);
      if (repos.length > 8) repos.shift();
    }
    const tmp = `${f}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(s));
    fs.renameSync(tmp, f);
  });
}

export function knownSources(layout: Layout, registry: string, digest: string): string[] {
  return read(layout)[digest]?.[registry] ?? [];
}
