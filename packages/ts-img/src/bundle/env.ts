/**
 * process.env from Config.Env. Verbatim per conversion.md, except that a name given twice keeps
 * its last value (runtimes apply environ entries in order, so the last one is what the image
 * meant; glibc's getenv would return the first) in the place of its first entry, as umoci does.
 */
export function dedupeEnv(env: readonly string[]): string[] {
  const name = (e: string): string => {
    const i = e.indexOf('=');
    return i < 0 ? e : e.slice(0, i);
  };
  const last = new Map<string, string>();
  for (const e of env) last.set(name(e), e);
  const out: string[] = [];
  const seen = new Set<string>();
  for (const e of env) {
    const n = name(e);
    if (seen.has(n)) continue;
    seen.add(n);
    out.push(last.get(n)!);
  }
  return out;
}

export function hasVar(env: readonly string[], name: string): boolean {
  return env.some((e) => e.startsWith(`${name}=`));
}
