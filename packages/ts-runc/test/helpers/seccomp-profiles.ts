import * as fs from 'fs';

/** podman's default profile (containers-common), reduced to what applies to amd64 without extra caps. */
export function podmanProfile(): any | null {
  const file = '/usr/share/containers/seccomp.json';
  if (!fs.existsSync(file)) return null;
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const m = (p.archMap ?? []).find((a: any) => a.architecture === 'SCMP_ARCH_X86_64');
  const syscalls = p.syscalls
    .filter((s: any) => {
      const inc = s.includes ?? {}, exc = s.excludes ?? {};
      if (inc.caps?.length || inc.minKernel || (inc.arches && !inc.arches.includes('amd64'))) return false;
      return !(exc.arches ?? []).includes('amd64');
    })
    .map((s: any) => ({ names: s.names, action: s.action, ...(s.errnoRet !== undefined ? { errnoRet: s.errnoRet } : {}), ...(s.args?.length ? { args: s.args } : {}) }));
  return { defaultAction: p.defaultAction, ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}), architectures: m ? [m.architecture, ...m.subArchitectures] : [], syscalls };
}

/** `prof` with `names` taken out of its rules (a rule left without names goes) and `rules` added. */
export function replaceRules(prof: any, names: string[], ...rules: any[]): any {
  for (const r of prof.syscalls) r.names = r.names.filter((n: string) => !names.includes(n));
  prof.syscalls = prof.syscalls.filter((r: any) => r.names.length);
  prof.syscalls.push(...rules);
  return prof;
}

/** podman's default profile with mkdir denied (EPERM), so that the filter shows. */
export function podmanDenyingMkdir(): any {
  const prof = podmanProfile();
  if (!prof) throw new Error('no /usr/share/containers/seccomp.json (containers-common comes with podman: scripts/setup)');
  return replaceRules(prof, ['mkdir', 'mkdirat'], { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
}
