// Variants: the config tests rerun with something added to every config.json they write. The
// variant's name is appended to each section so the output says which variant ran.
import { Config, withConfigOverlay } from './container';
import { TestDef } from './harness';
import { denyByDefaultSeccomp } from './seccomp-profile';

/**
 * Every config test under a deny-by-default seccomp profile (tests with their own linux.seccomp
 * keep theirs), twice: with noNewPrivileges as each test sets it (the filter is loaded last,
 * just before the program), and with it unset, where a runtime without CAP_SYS_ADMIN left for
 * later must load the filter before changing credentials and entering the cwd, and every step
 * after that runs under it (tests about noNewPrivileges itself keep their setting).
 */
export function seccompDenyDefault(tests: TestDef[]): TestDef[] {
  const profile = denyByDefaultSeccomp();
  const withProfile = (c: Config): Config => (c.linux?.seccomp !== undefined ? c : { ...c, linux: { ...c.linux, seccomp: profile } });
  const early = (c: Config): Config => {
    const p = withProfile(c);
    return p === c ? c : { ...p, process: { ...p.process, noNewPrivileges: false } };
  };
  const variant = (t: TestDef, label: string, overlay: (c: Config) => Config): TestDef => ({
    ...t,
    section: `${t.section} (${label})`,
    fn: (ctx) => withConfigOverlay(overlay, () => t.fn(ctx)),
  });
  const config = tests.filter((t) => t.config);
  return [
    ...config.map((t) => variant(t, 'deny-by-default seccomp', withProfile)),
    ...config.filter((t) => !/noNewPrivileges/.test(t.name)).map((t) => variant(t, 'deny-by-default seccomp, noNewPrivileges unset', early)),
  ];
}
