/**
 * buildah 1.28 `bud --isolation oci --runtime <wrapper>` building from the local demo image with
 * ts-runc running the RUN steps, and runc as the baseline with the same Containerfiles
 * (E2E_RUNTIMES). Private storage; the assertions state what bud does with runc.
 */
import { runtimes, ok, removeDemoImage } from './helpers';
import { Buildah, IMAGE, buildahUnavailable } from './buildah-harness';

jest.setTimeout(120000);

const RUNTIMES = runtimes();
const unavailable = buildahUnavailable();
if (unavailable) console.log(`buildah e2e tests skipped: ${unavailable}`);
const d = unavailable ? describe.skip : describe;

let bh: Buildah;
beforeAll(() => {
  if (unavailable) return;
  bh = new Buildah(RUNTIMES);
  bh.loadImage();
}, 120000);
afterAll(() => {
  if (unavailable || !bh) return;
  let problems: string[];
  try {
    problems = bh.cleanup();
  } finally {
    removeDemoImage();
  }
  if (problems.length) throw new Error(`clean-up found leftovers:\n${problems.join('\n')}`);
}, 120000);

d.each(RUNTIMES.map((r) => [r.name]))('buildah bud --isolation oci --runtime (%s)', (rt) => {
  /** The bundles the runtime was asked to create since `from` calls (one per RUN step). */
  const creates = (from: number) => bh.wrappers[rt].calls().slice(from).filter((l) => / create --bundle /.test(` ${l}`));

  test('RUN steps run in the runtime: their output, ENV/WORKDIR/USER, the files they make are in the image', () => {
    const before = bh.wrappers[rt].calls().length;
    const tag = `localhost/e2e-built-${rt}`;
    const r = bh.bud(rt, [
      `FROM ${IMAGE}`,
      'ENV E2E_VAR=v1',
      'WORKDIR /work',
      'RUN echo "built-$((6*7)) $E2E_VAR $(pwd) $(id -u)" | tee /work/built',
      'USER 1000:1000',
      'RUN echo "as $(id -u):$(id -g)"',
      'USER root',
      'RUN ["/bin/sh", "-c", "echo exec-form pid1=$(cat /proc/1/comm)"]',
      '',
    ].join('\n'), ['-t', tag]);
    if (r.status !== 0) throw new Error(r.text);
    expect(r.stdout).toContain('built-42 v1 /work 0\n');
    expect(r.stdout).toContain('as 1000:1000\n');
    expect(r.stdout).toContain('exec-form pid1=sh\n');
    const runs = creates(before);
    expect(runs).toHaveLength(3);
    for (const l of runs) expect(l).toMatch(new RegExp(`^create --bundle ${bh.dir}/tmp/buildah\\d+ --pid-file \\S+ buildah-buildah\\d+$`));
    expect(bh.wrappers[rt].calls().slice(before).filter((l) => l.startsWith('delete '))).toHaveLength(3);

    // The image holds what the RUN step wrote; `buildah run` reads it (through the runtime too).
    const ctr = ok(bh.buildah(['from', '--pull=never', tag])).trim();
    try {
      expect(ok(bh.buildah(['run', ...bh.runtimeArgs(rt), '--network', 'none', ctr, 'cat', '/work/built']))).toBe('built-42 v1 /work 0\n');
    } finally {
      bh.buildah(['rm', ctr]);
      bh.buildah(['rmi', '-f', tag]);
    }
  });

  test('a failing RUN fails bud with its exit code; a missing command 127; a RUN that cannot start 1', () => {
    const fail = bh.bud(rt, [`FROM ${IMAGE}`, 'RUN echo before-fail', 'RUN echo failing; exit 7', 'RUN echo never', ''].join('\n'));
    expect(fail.stdout).toMatch(/^before-fail$/m);
    expect(fail.stdout).toMatch(/^failing$/m);
    expect(fail.stdout).not.toMatch(/^never$/m);
    expect(fail.stderr).toContain('building at STEP "RUN echo failing; exit 7": while running runtime: exit status 7');
    expect(fail.status).toBe(7);

    const missing = bh.bud(rt, [`FROM ${IMAGE}`, 'RUN no-such-command', ''].join('\n'));
    expect(missing.stdout + missing.stderr).toContain('/bin/sh: no-such-command: not found');
    expect(missing.stderr).toContain('while running runtime: exit status 127');
    expect(missing.status).toBe(127);

    // exec form, not executable: the runtime's create fails, and bud says what the runtime said
    const noExec = bh.bud(rt, [`FROM ${IMAGE}`, 'RUN ["/etc/passwd"]', ''].join('\n'));
    expect(noExec.stderr).toMatch(/creating container for \[\/etc\/passwd\]: .*create failed: unable to start container process: exec: \\"\/etc\/passwd\\": permission denied/);
    expect(noExec.stderr).toContain('building at STEP "RUN /etc/passwd": while running runtime: exit status 1');
    expect(noExec.status).toBe(1);
  });

  test('RUN with --network none: a network namespace of its own whose loopback is up, as runc sets it', () => {
    const r = bh.bud(rt, [`FROM ${IMAGE}`, 'RUN ip -o link show lo | cut -d" " -f2,3; ip -o addr show lo | grep -o "inet [0-9./]*"; true', ''].join('\n'));
    if (r.status !== 0) throw new Error(r.text);
    expect(r.stdout).toContain('lo: <LOOPBACK,UP,LOWER_UP>\ninet 127.0.0.1/8\n');
  });
});
