// config.md: each field observed from inside the container with busybox commands.
import * as fs from 'fs';
import * as path from 'path';
import { Container, describe, mustRunWithout, rt, runIn, withoutMarker } from '../container';
import { env, runtimePredates, sh } from '../env';
import { configTest as test, configTestSince as testSince, eq, ok, skip, TestContext } from '../harness';

const ROOT = 'config.md#root';
const MNT = 'config.md#mounts';
const PROC = 'config.md#process';
const LPROC = 'config.md#linux-process';
const USER = 'config.md#user';
const HOST = 'config.md#hostname';
const DOM = 'config.md#domainname';
const EXT = 'config.md#extensibility';
const VALID = 'config.md#valid-values';

type Mut = (c: Container) => void;
function inside(t: TestContext, script: string, mutate?: Mut): string {
  return runIn(t, script, mutate).out;
}

/** The /proc/self/mountinfo line (fields) for a mount point, as seen in the container. */
function mountLine(out: string, mp: string): string | undefined {
  return out.split('\n').find((l) => l.split(' ')[4] === mp);
}

// ---- root ---------------------------------------------------------------------------------

test(ROOT, 'root.readonly true: the root filesystem is read-only', (t) => {
  const out = inside(t, 'touch /newfile 2>&1 && echo writable', (c) => (c.config.root.readonly = true));
  eq(out.trim(), 'touch: /newfile: Read-only file system', 'writing to /');
});

test(ROOT, 'root.readonly false: the root filesystem is writable', (t) => {
  const { out, c } = runIn(t, 'echo data > /newfile && echo writable');
  eq(out.trim(), 'writable', 'writing to /');
  ok(fs.existsSync(path.join(c.rootfs, 'newfile')), 'the write did not reach the rootfs directory');
});

test(ROOT, 'root.path may be absolute', (t) => {
  const out = inside(t, 'cat /marker', (c) => {
    fs.writeFileSync(path.join(c.rootfs, 'marker'), 'absolute-root\n');
    c.config.root.path = c.rootfs;
  });
  eq(out.trim(), 'absolute-root', 'marker from the rootfs');
});

test(ROOT, 'root.path relative to the bundle', (t) => {
  const out = inside(t, 'cat /marker', (c) => {
    fs.renameSync(c.rootfs, path.join(c.bundle, 'other-root'));
    fs.writeFileSync(path.join(c.bundle, 'other-root', 'marker'), 'relative-root\n');
    c.config.root.path = 'other-root';
  });
  eq(out.trim(), 'relative-root', 'marker from the rootfs');
});

// ---- mounts -------------------------------------------------------------------------------

test(MNT, 'tmpfs mount with options (nosuid, noexec, nodev, mode, size)', (t) => {
  const out = inside(t, 'grep " /scratch " /proc/self/mountinfo; stat -c "%a" /scratch; cat /proc/mounts | grep " /scratch "', (c) =>
    c.config.mounts.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'nodev', 'mode=1750', 'size=2m'] }),
  );
  const mi = mountLine(out, '/scratch');
  ok(mi, `no /scratch mount: ${out}`);
  const perMount = mi.split(' ')[5].split(',');
  for (const o of ['nosuid', 'noexec', 'nodev']) ok(perMount.includes(o), `mount option ${o} missing: ${mi}`);
  ok(/ - tmpfs /.test(mi), `not a tmpfs: ${mi}`);
  ok(/size=2048k/.test(mi), `size=2m not applied: ${mi}`);
  ok(out.split('\n').includes('1750'), `mode=1750 not applied (stat): ${out}`);
});

test(MNT, 'bind mount with ro is read-only and shows the source', (t) => {
  const out = inside(t, 'cat /ro/file; touch /ro/new 2>&1 && echo writable', (c) => {
    const src = path.join(c.dir, 'rosrc');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'file'), 'from-host\n');
    c.config.mounts.push({ destination: '/ro', type: 'none', source: src, options: ['bind', 'ro'] });
  });
  eq(out.trim().split('\n'), ['from-host', 'touch: /ro/new: Read-only file system'], 'output');
});

test(MNT, 'bind mount rw: writes reach the source', (t) => {
  const { c } = runIn(t, 'echo from-container > /rw/out', (c) => {
    const src = path.join(c.dir, 'rwsrc');
    fs.mkdirSync(src);
    c.config.mounts.push({ destination: '/rw', type: 'none', source: src, options: ['rbind', 'rw'] });
  });
  eq(fs.readFileSync(path.join(c.dir, 'rwsrc', 'out'), 'utf8'), 'from-container\n', 'file written through the bind mount');
});

test(MNT, 'bind mount source relative to the bundle', (t) => {
  const out = inside(t, 'cat /rel/file', (c) => {
    fs.mkdirSync(path.join(c.bundle, 'relsrc'));
    fs.writeFileSync(path.join(c.bundle, 'relsrc', 'file'), 'relative-source\n');
    c.config.mounts.push({ destination: '/rel', type: 'none', source: 'relsrc', options: ['bind'] });
  });
  eq(out.trim(), 'relative-source', 'content');
});

test(MNT, 'bind mount of a single file', (t) => {
  const out = inside(t, 'cat /etc/conformance-file', (c) => {
    const f = path.join(c.dir, 'single');
    fs.writeFileSync(f, 'single-file\n');
    fs.writeFileSync(path.join(c.rootfs, 'etc/conformance-file'), 'original\n');
    c.config.mounts.push({ destination: '/etc/conformance-file', type: 'none', source: f, options: ['bind', 'ro'] });
  });
  eq(out.trim(), 'single-file', 'content');
});

test(MNT, 'tmpfs noexec: programs on it cannot be executed; ro: it cannot be written', (t) => {
  const out = inside(t, 'cp /bin/busybox /x/bb && chmod 755 /x/bb && (/x/bb true 2>&1 && echo exec-ok); ' +
    'touch /y/f 2>&1 && echo y-writable', (c) => {
    c.config.mounts.push({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'size=8m'] });
    c.config.mounts.push({ destination: '/y', type: 'tmpfs', source: 'tmpfs', options: ['ro'] });
  });
  ok(/^(\/bin\/)?sh: \/x\/bb: Permission denied\ntouch: \/y\/f: Read-only file system$/.test(out.trim()), `output: ${JSON.stringify(out)}`);
});

/** A host directory with a tmpfs mounted on its subdirectory `sub` (for bind vs rbind). */
function dirWithSubmount(t: TestContext, c: Container): string {
  const src = path.join(c.dir, 'withsub');
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
  const r = sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'conformance', path.join(src, 'sub')]);
  if (r.code !== 0) skip(`cannot mount a tmpfs on the host: ${r.stderr.trim()}`);
  t.defer(() => sh('umount', ['-l', path.join(src, 'sub')]));
  fs.writeFileSync(path.join(src, 'sub', 'in-submount'), 'x');
  return src;
}

test(MNT, 'rbind is recursive: a submount of the source is visible', (t) => {
  const out = inside(t, 'ls /r/sub', (c) => {
    c.config.mounts.push({ destination: '/r', type: 'none', source: dirWithSubmount(t, c), options: ['rbind'] });
  });
  eq(out.trim(), 'in-submount', 'contents of /r/sub');
});

test(MNT, 'bind is not recursive: a submount of the source is not visible', (t) => {
  const out = inside(t, 'entries=$(ls -A /b/sub) && echo "entries=[$entries]"', (c) => {
    c.config.mounts.push({ destination: '/b', type: 'none', source: dirWithSubmount(t, c), options: ['bind'] });
  });
  eq(out.trim(), 'entries=[]', 'entries in /b/sub');
});

test(MNT, 'mounts are made in the listed order', (t) => {
  const out = inside(t, 'cat /proc/self/mountinfo', (c) => {
    c.config.mounts.push({ destination: '/stack', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] });
    c.config.mounts.push({ destination: '/stack/inner', type: 'tmpfs', source: 'tmpfs', options: ['size=2m'] });
  });
  const lines = out.split('\n');
  const a = lines.findIndex((l) => l.split(' ')[4] === '/stack');
  const b = lines.findIndex((l) => l.split(' ')[4] === '/stack/inner');
  ok(a >= 0 && b >= 0, `mounts missing: /stack ${a}, /stack/inner ${b}`);
  ok(a < b, '/stack/inner was mounted before /stack (it would be hidden)');
});

test(MNT, 'proc mount: /proc is a procfs of the container', (t) => {
  const out = inside(t, 'grep " /proc " /proc/self/mountinfo; ls /proc/self/ >/dev/null && echo self-ok');
  const mi = mountLine(out, '/proc');
  ok(mi && / - proc /.test(mi), `/proc is not a proc mount: ${out}`);
  ok(out.includes('self-ok'), '/proc/self not usable');
});

test(MNT, 'sysfs mount: /sys is a sysfs (ro as configured)', (t) => {
  const out = inside(t, 'grep " /sys " /proc/self/mountinfo; ls /sys/kernel >/dev/null && echo kernel-ok');
  const mi = mountLine(out, '/sys');
  ok(mi && / - sysfs /.test(mi), `/sys is not a sysfs mount: ${out}`);
  ok(mi.split(' ')[5].split(',').includes('ro'), `ro option not applied to /sys: ${mi}`);
  ok(out.includes('kernel-ok'), '/sys/kernel missing');
});

test(MNT, 'mount destination that does not exist in the rootfs is created', (t) => {
  const out = inside(t, 'grep -c " /new/deep/dir " /proc/self/mountinfo', (c) =>
    c.config.mounts.push({ destination: '/new/deep/dir', type: 'tmpfs', source: 'tmpfs' }),
  );
  eq(out.trim(), '1', 'mount count at /new/deep/dir');
});

test('config-linux.md#default-filesystems', '/proc, /sys, /dev/pts and /dev/shm are available', (t) => {
  const out = inside(t, 'cat /proc/self/mountinfo');
  for (const [mp, fstype] of [['/proc', 'proc'], ['/sys', 'sysfs'], ['/dev/pts', 'devpts'], ['/dev/shm', 'tmpfs']]) {
    const mi = mountLine(out, mp);
    ok(mi && mi.includes(` - ${fstype} `), `${mp} is not ${fstype}`);
  }
});

// ---- process ------------------------------------------------------------------------------

test(PROC, 'args: argv is passed exactly (spaces, empty strings)', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'for a in "$0" "$@"; do echo "[$a]"; done', 'zero', 'one two', '', 'three']);
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  eq(c.stdout().trim().split('\n'), ['[zero]', '[one two]', '[]', '[three]'], 'argv');
});

test(PROC, 'args[0] is looked up like execvp (PATH search)', (t) => {
  const c = new Container(t, ['echo', 'found-in-path']);
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  eq(c.stdout().trim(), 'found-in-path', 'output');
});

test(PROC, 'env: configured variables are in the environment', (t) => {
  const { out } = runIn(t, 'env', (c) => c.config.process.env.push('CONF_A=alpha', 'CONF_B=with space=and equals', 'CONF_EMPTY='));
  const lines = out.split('\n');
  for (const v of ['CONF_A=alpha', 'CONF_B=with space=and equals', 'CONF_EMPTY=']) ok(lines.includes(v), `${v} missing from env: ${out}`);
});

test(PROC, 'env: the runtime\'s own environment does not leak into the container', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'env && echo CONFORMANCE-OK']);
  c.mustCreate([], { preamble: 'export CONFORMANCE_LEAK=leaked' });
  c.mustStart();
  c.mustWaitStopped();
  const out = withoutMarker(c.stdout());
  ok(out.split('\n').includes(c.config.process.env[0]), `env did not list the configured ${c.config.process.env[0]}: ${out}`);
  ok(!out.includes('CONFORMANCE_LEAK'), 'a variable of the runtime process appeared in the container');
  const extra = out.split('\n').filter((l) => l && !/^(PATH|TERM)=/.test(l) && !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_='));
  if (extra.length) t.note(`variables not in config.json: ${extra.join(' ')}`);
});

test(PROC, 'cwd: the process starts in the configured directory', (t) => {
  eq(inside(t, 'pwd', (c) => (c.config.process.cwd = '/home/user')).trim(), '/home/user', 'pwd');
});

test(PROC, 'terminal false: stdio are the streams given to the runtime, not a tty', (t) => {
  const out = withoutMarker(inside(t, '[ -t 0 ] && echo in-tty; [ -t 1 ] && echo out-tty; [ -e /dev/console ] && [ -c /dev/console ] && echo console; readlink /proc/self/fd/1; echo CONFORMANCE-OK'));
  ok(!out.includes('out-tty') && !out.includes('in-tty'), `stdio is a terminal: ${out}`);
  const fd1 = out.trim().split('\n').pop();
  ok(fd1 && !fd1.includes('/dev/pts/'), `stdout is a pty or unreadable (readlink /proc/self/fd/1): ${out}`);
});

test('config.md#posix-process', 'rlimits: RLIMIT_NOFILE soft and hard values', (t) => {
  const out = inside(t, 'grep "Max open files" /proc/self/limits', (c) => (c.config.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 777, hard: 888 }]));
  const f = out.trim().split(/\s+/);
  eq([f[3], f[4]], ['777', '888'], 'soft/hard');
});

test('config.md#posix-process', 'rlimits: several types at once (RLIMIT_CORE, RLIMIT_NPROC)', (t) => {
  const out = inside(t, 'grep -E "Max (core file size|processes)" /proc/self/limits', (c) =>
    (c.config.process.rlimits = [{ type: 'RLIMIT_CORE', soft: 0, hard: 4096 }, { type: 'RLIMIT_NPROC', soft: 500, hard: 600 }]),
  );
  ok(/Max core file size\s+0\s+4096\s/.test(out), `RLIMIT_CORE: ${out}`);
  ok(/Max processes\s+500\s+600\s/.test(out), `RLIMIT_NPROC: ${out}`);
});

test('config.md#posix-process', 'rlimits: an unknown type is an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.process.rlimits = [{ type: 'RLIMIT_CONFORMANCE', soft: 1, hard: 1 }];
  const r = c.create();
  ok(r.code !== 0 || c.start().code !== 0, 'an unmappable rlimit type was accepted');
  mustRunWithout(t, 'the unknown rlimit');
});

test('config.md#posix-process', 'rlimits: duplicated types are an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 100 }, { type: 'RLIMIT_NOFILE', soft: 200, hard: 200 }];
  const r = c.create();
  ok(r.code !== 0 || c.start().code !== 0, 'duplicated RLIMIT_NOFILE entries were accepted');
  mustRunWithout(t, 'the duplicated rlimit');
});

// ---- user ---------------------------------------------------------------------------------

test(USER, 'uid and gid', (t) => {
  eq(inside(t, 'id -u; id -g', (c) => (c.config.process.user = { uid: 1000, gid: 1000 })).trim().split('\n'), ['1000', '1000'], 'uid/gid');
});

test(USER, 'uid/gid need not exist in /etc/passwd', (t) => {
  eq(inside(t, 'id -u; id -g', (c) => (c.config.process.user = { uid: 4321, gid: 8765 })).trim().split('\n'), ['4321', '8765'], 'uid/gid');
});

test(USER, 'real, effective, saved and fs ids are all set', (t) => {
  const out = inside(t, 'grep -E "^(Uid|Gid):" /proc/self/status', (c) => (c.config.process.user = { uid: 1000, gid: 1001 }));
  ok(/Uid:\s+1000\s+1000\s+1000\s+1000/.test(out), `Uid line: ${out}`);
  ok(/Gid:\s+1001\s+1001\s+1001\s+1001/.test(out), `Gid line: ${out}`);
});

test(USER, 'additionalGids are the supplementary groups', (t) => {
  const out = inside(t, 'grep "^Groups:" /proc/self/status', (c) => (c.config.process.user = { uid: 1000, gid: 1000, additionalGids: [5, 100, 4000] }));
  const groups = out.replace('Groups:', '').trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  for (const g of [5, 100, 4000]) ok(groups.includes(g), `group ${g} missing: ${out.trim()}`);
});

test(USER, 'no additionalGids: no supplementary groups from the runtime leak in', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'grep "^Groups:" /proc/self/status']);
  c.config.process.user = { uid: 1000, gid: 1000 };
  c.mustCreate();
  c.mustStart();
  c.mustWaitStopped();
  ok(/^Groups:/.test(c.stdout()), `no Groups: line from the container: ${JSON.stringify(c.stdout())}`);
  const groups = c.stdout().replace('Groups:', '').trim().split(/\s+/).filter(Boolean);
  ok(groups.every((g) => g === '1000'), `unexpected supplementary groups: ${groups.join(' ')}`);
});

test(USER, 'umask is applied', (t) => {
  const out = inside(t, 'umask; touch /tmp/f; stat -c %a /tmp/f', (c) => (c.config.process.user = { uid: 0, gid: 0, umask: 0o027 }));
  eq(out.trim().split('\n'), ['0027', '640'], 'umask and mode of a new file');
});

test(USER, 'umask unset: the calling process\' umask is kept (should)', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'umask']);
  c.mustCreate([], { preamble: 'umask 0077' });
  c.mustStart();
  c.mustWaitStopped();
  eq(c.stdout().trim(), '0077', 'umask in the container when the runtime ran with umask 0077');
});

// ---- Linux process ------------------------------------------------------------------------

function capMask(names: string[]): bigint {
  const nums: Record<string, number> = {
    CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_DAC_READ_SEARCH: 2, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6,
    CAP_SETUID: 7, CAP_SETPCAP: 8, CAP_LINUX_IMMUTABLE: 9, CAP_NET_BIND_SERVICE: 10, CAP_NET_BROADCAST: 11, CAP_NET_ADMIN: 12,
    CAP_NET_RAW: 13, CAP_IPC_LOCK: 14, CAP_IPC_OWNER: 15, CAP_SYS_MODULE: 16, CAP_SYS_RAWIO: 17, CAP_SYS_CHROOT: 18,
    CAP_SYS_PTRACE: 19, CAP_SYS_PACCT: 20, CAP_SYS_ADMIN: 21, CAP_SYS_BOOT: 22, CAP_SYS_NICE: 23, CAP_SYS_RESOURCE: 24,
    CAP_SYS_TIME: 25, CAP_SYS_TTY_CONFIG: 26, CAP_MKNOD: 27, CAP_LEASE: 28, CAP_AUDIT_WRITE: 29, CAP_AUDIT_CONTROL: 30,
    CAP_SETFCAP: 31,
  };
  return names.reduce((m, n) => m | (1n << BigInt(nums[n])), 0n);
}

function capField(status: string, field: string): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(status);
  if (!m) throw new Error(`${field} missing from /proc/self/status`);
  return BigInt('0x' + m[1]);
}

test(LPROC, 'capabilities: bounding, permitted, effective for a root process; inheritable empty', (t) => {
  const set = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID'];
  const out = inside(t, 'cat /proc/self/status', (c) => {
    c.config.process.capabilities = { bounding: set, permitted: set, effective: set, inheritable: [] };
  });
  const fields: [string, string[]][] = [['CapBnd', set], ['CapPrm', set], ['CapEff', set], ['CapInh', []], ['CapAmb', []]];
  const bad = fields.filter(([f, names]) => capField(out, f) !== capMask(names)).map(([f, names]) => `${f}=${capField(out, f).toString(16)} want ${capMask(names).toString(16)}`);
  ok(bad.length === 0, bad.join('; '));
});

test(LPROC, 'capabilities: ambient and inheritable for a non-root process', (t) => {
  const set = ['CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  const amb = ['CAP_NET_BIND_SERVICE'];
  const out = inside(t, 'cat /proc/self/status', (c) => {
    c.config.process.capabilities = { bounding: set, permitted: set, effective: set, inheritable: amb, ambient: amb };
    c.config.process.user = { uid: 1000, gid: 1000 };
  });
  // After execve by a non-root user only ambient capabilities remain permitted/effective (capabilities(7)).
  const fields: [string, string[]][] = [['CapBnd', set], ['CapInh', amb], ['CapAmb', amb], ['CapEff', amb], ['CapPrm', amb]];
  const bad = fields.filter(([f, names]) => capField(out, f) !== capMask(names)).map(([f, names]) => `${f}=${capField(out, f).toString(16)} want ${capMask(names).toString(16)}`);
  ok(bad.length === 0, bad.join('; '));
});

test(LPROC, 'capabilities: root with a reduced set cannot use a dropped capability', (t) => {
  const { out, c } = runIn(t, 'chown 1000 /tmp/x 2>&1 && echo chown-ok', (c) => {
    fs.writeFileSync(path.join(c.rootfs, 'tmp/x'), '');
    c.config.process.capabilities = { bounding: ['CAP_KILL'], permitted: ['CAP_KILL'], effective: ['CAP_KILL'] };
  });
  eq(out.trim(), 'chown: /tmp/x: Operation not permitted', 'chown without CAP_CHOWN');
  eq(fs.statSync(path.join(c.rootfs, 'tmp/x')).uid, 0, 'owner of the file');
});

test(LPROC, 'noNewPrivileges true sets NoNewPrivs', (t) => {
  eq(inside(t, 'grep NoNewPrivs /proc/self/status', (c) => (c.config.process.noNewPrivileges = true)).trim(), 'NoNewPrivs:\t1', 'status line');
});

test(LPROC, 'noNewPrivileges false leaves NoNewPrivs clear', (t) => {
  eq(inside(t, 'grep NoNewPrivs /proc/self/status', (c) => (c.config.process.noNewPrivileges = false)).trim(), 'NoNewPrivs:\t0', 'status line');
});

test(LPROC, 'oomScoreAdj is set', (t) => {
  eq(inside(t, 'cat /proc/self/oom_score_adj', (c) => (c.config.process.oomScoreAdj = 123)).trim(), '123', 'oom_score_adj');
});

test(LPROC, 'oomScoreAdj unset: oom_score_adj is not changed', (t) => {
  const c = new Container(t, ['/bin/sh', '-c', 'cat /proc/self/oom_score_adj']);
  delete c.config.process.oomScoreAdj;
  c.mustCreate([], { preamble: 'echo 17 > /proc/self/oom_score_adj' });
  c.mustStart();
  c.mustWaitStopped();
  eq(c.stdout().trim(), '17', 'oom_score_adj (the runtime ran with 17)');
});

// ---- hostname / domainname ----------------------------------------------------------------

test(HOST, 'hostname is set in the container UTS namespace', (t) => {
  eq(inside(t, 'hostname', (c) => (c.config.hostname = 'conformance-host')).trim(), 'conformance-host', 'hostname');
});

test(HOST, 'the host hostname is not changed', (t) => {
  const before = fs.readFileSync('/proc/sys/kernel/hostname', 'utf8');
  eq(inside(t, 'hostname', (c) => (c.config.hostname = 'must-not-leak')).trim(), 'must-not-leak', 'hostname in the container');
  eq(fs.readFileSync('/proc/sys/kernel/hostname', 'utf8'), before, 'host hostname');
});

testSince(1, 1, runtimePredates, DOM, 'domainname is set in the container UTS namespace', (t) => {
  eq(inside(t, 'cat /proc/sys/kernel/domainname', (c) => (c.config.domainname = 'conformance.test')).trim(), 'conformance.test', 'domainname');
});

// ---- extensibility / valid values ---------------------------------------------------------

test(EXT, 'unknown properties are ignored', (t) => {
  const out = inside(t, 'echo fine', (c) => {
    c.config['org.example.unknownTop'] = { nested: [1, 2] };
    c.config.process['org.example.unknownProcess'] = true;
    c.config.linux['org.example.unknownLinux'] = 'x';
  });
  eq(out.trim(), 'fine', 'output');
});

test(VALID, 'an unsupported mount type is an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.mounts.push({ destination: '/bad', type: 'no-such-filesystem-type', source: 'none' });
  const r = c.create();
  ok(r.code !== 0, 'create accepted a mount of an unknown filesystem type');
  ok(c.stateCmd().code !== 0, 'container exists after the failed create');
  mustRunWithout(t, 'the mount');
});

test(VALID, 'an unknown namespace type is an error', (t) => {
  const c = new Container(t, ['true']);
  c.config.linux.namespaces.push({ type: 'no-such-namespace' });
  const r = c.create();
  ok(r.code !== 0, 'create accepted an unknown namespace type');
  mustRunWithout(t, 'the unknown namespace');
});

test('config.md#configuration (annotations)', 'annotations: keys and values are passed unchanged to state', (t) => {
  const c = new Container(t, ['sleep', '100']);
  c.config.annotations = { 'com.example.gpu-cores': '2', 'org.opencontainers.image.os': 'linux' };
  c.mustCreate();
  const s = c.mustState();
  eq(s.annotations, c.config.annotations, 'annotations');
});

void describe;
void rt;
void env;
