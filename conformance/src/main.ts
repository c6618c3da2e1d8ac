// conformance/run: an OCI runtime-spec / image-spec conformance suite for any runc-compatible
// runtime binary. See README.md.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { buildRootfsTemplate, env, isMountpoint, makeWorkDir, randomId, removeCgroupTree, setEnv, sh } from './env';
import { allTests, Reporter, runOne, setVerbose } from './harness';
import './tests/runtime';
import './tests/hooks';
import './tests/config';
import './tests/config-linux';
import './tests/image';
import { seccompDenyDefault } from './variants';

const REPO = path.resolve(__dirname, '..', '..');

function usage(code: number): never {
  (code === 0 ? process.stdout : process.stderr).write(
    'usage: conformance/run [--runtime PATH] [--hide-cgroup2] [--format tap|table] [--filter REGEX]\n' +
      '                       [--unpacker ts-img|umoci|PATH] [--seccomp-deny-default] [--list] [--verbose]\n' +
      '  --runtime PATH   runtime binary (default: $RUNTIME, else packages/ts-runc/bin/ts-runc)\n' +
      '  --hide-cgroup2   run in a private mount namespace with /sys/fs/cgroup/unified unmounted\n' +
      '                   (automatic for crun on a hybrid cgroup host)\n' +
      '  --unpacker X     image unpacker for the image-spec tests (default: $UNPACKER, else ts-img)\n' +
      '  --seccomp-deny-default  only the config tests, each under a deny-by-default seccomp profile\n',
  );
  process.exit(code);
}

interface Opts {
  runtime?: string;
  hide: boolean;
  format: 'tap' | 'table';
  filter?: RegExp;
  unpacker?: string;
  list: boolean;
  verbose: boolean;
  seccompDenyDefault: boolean;
}

function parse(argv: string[]): Opts {
  const o: Opts = { hide: false, format: 'tap', list: false, verbose: false, seccompDenyDefault: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const eqAt = a.indexOf('=');
      if (eqAt >= 0) return a.slice(eqAt + 1);
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    const name = a.split('=')[0];
    switch (name) {
      case '--runtime': o.runtime = val(); break;
      case '--hide-cgroup2': o.hide = true; break;
      case '--format': {
        const f = val();
        if (f !== 'tap' && f !== 'table') usage(2);
        o.format = f;
        break;
      }
      case '--filter': o.filter = new RegExp(val()); break;
      case '--unpacker': o.unpacker = val(); break;
      case '--list': o.list = true; break;
      case '--seccomp-deny-default': o.seccompDenyDefault = true; break;
      case '--verbose': case '-v': o.verbose = true; break;
      case '--help': case '-h': usage(0); break;
      default: process.stderr.write(`conformance: unknown argument ${a}\n`); usage(2);
    }
  }
  return o;
}

function resolveExe(p: string): string | null {
  if (p.includes('/')) return fs.existsSync(p) ? path.resolve(p) : null;
  const r = sh('/bin/sh', ['-c', 'command -v "$1"', 'sh', p]);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

function main(): number {
  const o = parse(process.argv.slice(2));
  const all = o.seccompDenyDefault ? seccompDenyDefault(allTests()) : allTests();
  const tests = all.filter((t) => !o.filter || o.filter.test(`[${t.section}] ${t.name}`));
  if (o.list) {
    for (const t of tests) process.stdout.write(`[${t.section}] ${t.name}\n`);
    return 0;
  }
  setVerbose(o.verbose);
  const runtimeArg = o.runtime ?? process.env.RUNTIME ?? path.join(REPO, 'packages/ts-runc/bin/ts-runc');
  const runtime = resolveExe(runtimeArg);
  if (!runtime) {
    process.stderr.write(`conformance: runtime ${runtimeArg} not found\n`);
    return 2;
  }
  if (process.getuid && process.getuid() !== 0) {
    process.stderr.write('conformance: must run as root\n');
    return 2;
  }
  const runtimeName = path.basename(runtime);
  const hide = o.hide || (runtimeName.includes('crun') && isMountpoint('/sys/fs/cgroup/unified'));
  if (hide && process.env.CONFORMANCE_CGROUP2_HIDDEN !== '1') {
    // Re-execute in a private mount namespace with the hybrid cgroup2 mount lazily detached.
    const r = spawnSync(
      'unshare',
      ['-m', '--propagation', 'private', '--', '/bin/sh', '-c',
        'if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified || exit 97; fi; exec "$@"',
        'sh', process.execPath, __filename, ...process.argv.slice(2), '--runtime', runtime],
      { stdio: 'inherit', env: { ...process.env, CONFORMANCE_CGROUP2_HIDDEN: '1' } },
    );
    if (r.error) {
      process.stderr.write(`conformance: unshare failed: ${r.error.message}\n`);
      return 2;
    }
    if (r.status === 97) process.stderr.write('conformance: could not unmount /sys/fs/cgroup/unified\n');
    return r.status ?? 2;
  }

  const unpackerArg = o.unpacker ?? process.env.UNPACKER ?? 'ts-img';
  let unpacker = unpackerArg;
  if (unpackerArg === 'ts-img') unpacker = path.join(REPO, 'packages/ts-img/bin/ts-img');
  else if (unpackerArg === 'umoci') unpacker = resolveExe('umoci') ?? 'umoci';
  const unpackerName = unpackerArg === 'umoci' || path.basename(unpacker) === 'umoci' ? 'umoci' : 'ts-img';

  const work = makeWorkDir();
  const runId = randomId('run');
  setEnv({
    runtime,
    runtimeName,
    runId,
    work,
    stateRoot: path.join(work, 'state'),
    rootfsTemplate: path.join(work, 'rootfs-template'),
    cgroupParent: `/oci-conformance-${runId}`,
    unpacker,
    unpackerName,
    verbose: o.verbose,
  });
  fs.mkdirSync(env.stateRoot, { mode: 0o700 });
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned) return;
    cleaned = true;
    // Anything a test failed to remove: containers under our --root, cgroups, scratch files.
    const l = sh(runtime, ['--root', env.stateRoot, 'list', '-q']);
    for (const id of l.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
      sh(runtime, ['--root', env.stateRoot, 'delete', '-f', id]);
    }
    removeCgroupTree(env.cgroupParent);
    sh('rm', ['-rf', '--one-file-system', work]);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  try {
    buildRootfsTemplate(env.rootfsTemplate);
  } catch (e) {
    process.stderr.write(`conformance: cannot build the rootfs: ${(e as Error).message}\n`);
    cleanup();
    return 2;
  }
  const version = sh(runtime, ['--version']).stdout.split('\n')[0] || '(no --version output)';
  const rep = new Reporter(o.format, tests.length);
  rep.begin();
  process.stdout.write(`# runtime: ${runtime} (${version.trim()})${hide ? ', cgroup2 hidden' : ''}; unpacker: ${unpacker}\n`);
  if (o.seccompDenyDefault) process.stdout.write('# variant: config tests under a deny-by-default seccomp profile (src/seccomp-profile.ts)\n');
  try {
    for (const t of tests) rep.report(runOne(t));
  } finally {
    cleanup();
  }
  rep.end();
  return 0;
}

process.exitCode = main();
