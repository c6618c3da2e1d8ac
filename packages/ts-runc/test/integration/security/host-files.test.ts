// Attacks on the host files the runtime writes (pid file, state dir) and on exec --cap.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { TS_RUNC, makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../../helpers/runtime';

jest.setTimeout(60000);

let rt: Runtime;
let b: Bundle;
let work: string;
const id = uniqueId('sec');

beforeAll(() => {
  rt = runtime();
  b = makeBundle(['sleep', '1000']);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-sec-'));
  const r = rt.run(['run', '-d', '-b', b.dir, id]);
  if (r.status !== 0) throw new Error(r.stderr);
});
afterAll(() => {
  rt.cleanup();
  removeBundle(b);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('--pid-file', () => {
  // A user who can write the pid file's directory plants ".F.tmp" -> a root-owned file.
  for (const cmd of ['create', 'exec'] as const) {
    test(`${cmd}: a symlink planted at the temporary name is not followed; nothing is left half-made`, () => {
      const victim = path.join(work, `victim-${cmd}`);
      fs.writeFileSync(victim, 'precious\n');
      const pidFile = path.join(work, `${cmd}.pid`);
      fs.symlinkSync(victim, path.join(work, `.${cmd}.pid.tmp`));
      const cid = uniqueId('secpid');
      const r = cmd === 'create' ? rt.run(['create', '-b', b.dir, '--pid-file', pidFile, cid]) : rt.run(['exec', '-d', '--pid-file', pidFile, id, 'true']);
      expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`write pid file ${pidFile}`);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      if (cmd === 'create') expect(rt.ids()).not.toContain(cid); // the failed create left no container
      expect(fs.existsSync(pidFile)).toBe(false);
    });
  }

  test('the pid file itself may be replaced atomically (a stale link at the name is replaced, not followed)', () => {
    const victim = path.join(work, 'victim-final');
    fs.writeFileSync(victim, 'precious\n');
    const pidFile = path.join(work, 'final.pid');
    fs.symlinkSync(victim, pidFile);
    const r = rt.run(['exec', '-d', '--pid-file', pidFile, id, 'true']);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.lstatSync(pidFile).isFile()).toBe(true);
    expect(fs.readFileSync(pidFile, 'utf8')).toMatch(/^\d+$/);
  });
});

/** create with another --root; stderr through a file: the container keeps pipes open. */
function createAt(root: string, cid: string): string {
  const errFile = path.join(work, `${cid}.err`);
  const fd = fs.openSync(errFile, 'w');
  try {
    spawnSync(TS_RUNC, ['--root', root, 'create', '-b', b.dir, cid], { stdio: ['ignore', 'ignore', fd], timeout: 30000 });
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(errFile, 'utf8');
}

describe('state directory', () => {
  test('a new --root is 0700, so no other host user can reach exec.fifo or state.json', () => {
    const root = path.join(work, 'fresh-root', 'state');
    const cid = uniqueId('secroot');
    try {
      expect(createAt(root, cid)).toBe('');
      expect(fs.statSync(root).mode & 0o777).toBe(0o700);
      // As a user without rights (nobody): the fifo cannot be opened, the state cannot be read.
      const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `echo x > ${root}/${cid}/exec.fifo; cat ${root}/${cid}/state.json`], { encoding: 'utf8', timeout: 10000 });
      expect(probe.stderr).toMatch(/Permission denied/);
      expect(probe.stdout).toBe('');
    } finally {
      spawnSync(TS_RUNC, ['--root', root, 'delete', '-f', cid]);
    }
  });

  test('an existing root left 0711 by an older version is tightened by the next create', () => {
    const root = path.join(work, 'old-root');
    fs.mkdirSync(root, { mode: 0o711 });
    fs.chmodSync(root, 0o711);
    const cid = uniqueId('secold');
    try {
      expect(createAt(root, cid)).toBe('');
      expect(fs.statSync(root).mode & 0o777).toBe(0o700);
    } finally {
      spawnSync(TS_RUNC, ['--root', root, 'delete', '-f', cid]);
    }
  });
});

describe('exec --cap', () => {
  test('the capability is effective, permitted and bounding, but neither inheritable nor ambient (CVE-2022-29162)', () => {
    const r = rt.run(['exec', '--cap', 'CAP_NET_RAW', id, 'grep', '^Cap', '/proc/self/status']);
    expect(r.stderr).toBe('');
    const caps = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)).map(([k, v]) => [k, BigInt('0x' + v)]));
    const NET_RAW = 1n << 13n;
    expect(caps.CapEff & NET_RAW).toBe(NET_RAW);
    expect(caps.CapPrm & NET_RAW).toBe(NET_RAW);
    expect(caps.CapBnd & NET_RAW).toBe(NET_RAW);
    expect(caps.CapInh).toBe(0n);
    expect(caps.CapAmb).toBe(0n);
  });
});
