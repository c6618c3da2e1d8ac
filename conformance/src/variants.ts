// Variants: the config tests rerun with something added to every config.json they write. The
// variant's name is appended to each section so the output says which variant ran.
import { Config, withConfigOverlay } from './container';
import { TestDef } from './harness';
import { denyByDefaultSeccomp } from './seccomp-profile';

/** Every config test under a deny-by-default seccomp profile (tests with their own linux.seccomp
 *  keep theirs; noNewPrivileges stays as each test sets it). */
export function seccompDenyDefault(tests: TestDef[]): TestDef[] {
  const profile = denyByDefaultSeccomp();
  const overlay = (c: Config): Config =>
    c.linux?.seccomp !== undefined ? c : { ...c, linux: { ...c.linux, seccomp: profile } };
  return tests
    .filter((t) => t.config)
    .map((t) => ({ ...t, section: `${t.section} (deny-by-default seccomp)`, fn: (ctx) => withConfigOverlay(overlay, () => t.fn(ctx)) }));
}
