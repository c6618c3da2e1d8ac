// process.terminal on the in-process create and exec (the spawned process takes the slave as its
// controlling terminal by opening it again through the host's /proc, SpawnRequest.ctty): each
// case runs both ways, the second with TS_RUNC_IN_PROCESS=0 (stage 2, TIOCSCTTY), and what the
// container sees of its terminal must be the same.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn, spawnSync } from 'child_process';
import { TS_RUNC, containerSuite, uniqueId } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';
import { podmanDenyingMkdir, replaceRules } from '../helpers/seccomp-profiles';

jest.setTimeout(60000);

const suite = containerSuite('intty');
const inProcessAvailable = process.env.TS_RUNC_IN_PROCESS !== '0' && fs.existsSync('/usr/local/lib/ts-runc/node');
const WAYS: Array<{ way: string; env: Record<string, string> }> = [{ way: 'in process', env: {} }, { way: 'stage 2', env: { TS_RUNC_IN_PROCESS: '0' } }];

/**
 * What the shell sees of its terminal: its name, size, owner and mode, its stdio, whether it
 * leads its session, its controlling terminal (tty_nr) and what ps shows for it.
 */
const PROBE = [
  'tty',
  'stty size',
  'stat -c "%u:%g %a" $(tty)',
  'for fd in 0 1 2; do readlink /proc/$$/fd/$fd; done',
  'ls /proc/$$/fd | tr "\\n" " "; echo',
  '[ "$(cut -d" " -f6 /proc/$$/stat)" = $$ ] && echo session-leader',
  'echo tty_nr=$(cut -d" " -f7 /proc/$$/stat)',
  'echo ps=$(ps -o pid,tty | awk -v me=$$ \'$1 == me { print $2 }\')',
].join('; ');

/** tty_nr of /dev/pts/0: major 136, minor 0. */
const PTS0 = String(136 << 8);

function expectProbe(out: string, size: unknown, owner: string): void {
  const lines = out.replace(/\r/g, '').trim().split('\n');
  expect(lines).toEqual(['/dev/pts/0', size, `${owner} 620`, '/dev/pts/0', '/dev/pts/0', '/dev/pts/0', expect.stringMatching(/^0 1 2 /), 'session-leader', `tty_nr=${PTS0}`, 'ps=136,0']);
}

/**
 * The probe's lines in what script(1) shows: up to the answer to the input read next, without its
 * echo. The terminal echoes the input when it arrives, which can be in the middle of a probe line
 * ("0 1 2 hello\n3 \n"), so the echo is cut out of the text, not dropped as a line.
 */
function probeOf(out: string): string {
  const text = out.replace(/(?<!got )hello\n/g, '');
  const start = text.indexOf('/dev/pts/0');
  return text.slice(start, text.indexOf('got hello', start));
}

/** A --console-socket server (test/helpers/console-socket.py): what it read from the master, once the other side closed. */
async function consoleServer(): Promise<{ sock: string; output: Promise<string>; stop: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-'));
  const sock = path.join(dir, 'sock');
  const srv = spawn('python3', [path.join(__dirname, '../../../test/helpers/console-socket.py'), sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  srv.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => srv.on('exit', r));
  const stop = () => {
    if (srv.exitCode === null) srv.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  await waitFor('the console socket server to listen', () => out.includes('ready\n') || srv.exitCode !== null);
  const output = exited.then(() => out.slice(out.indexOf('ready\n') + 6));
  return { sock, output, stop };
}

function ts(env: Record<string, string>, args: string[], input?: string) {
  // Not through process.env: Jest gives the test a copy, which child_process never sees.
  return spawnSync(TS_RUNC, ['--root', suite.rt.root, '--debug', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', input, timeout: 30000 });
}

/** `cmd` run under script(1), which gives it a terminal 91x17 fed with `input`. */
function underScript(env: Record<string, string>, cmd: string, input: string) {
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v} `).join('');
  return spawnSync('script', ['-qec', `stty cols 91 rows 17; ${vars}${cmd} 2>${suite.rt.root}/.script-err; echo "rc=$?"; grep -o 'msg="[a-z ]* in process"' ${suite.rt.root}/.script-err`, '/dev/null'], { input, encoding: 'utf8', timeout: 30000 });
}

(inProcessAvailable ? describe : describe.skip)('process.terminal in process, as through stage 2', () => {
  test.each(WAYS)('create --console-socket, then start ($way): the held init already leads its session on the slave', async ({ way, env }) => {
    const b = suite.bundle(['sh', '-c', PROBE], (c) => {
      c.process.terminal = true;
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.consoleSize = { height: 33, width: 77 };
    });
    const id = uniqueId('intty');
    const con = await consoleServer();
    try {
      const r = ts(env, ['create', '--console-socket', con.sock, '-b', b.dir, id]);
      expect(r.status).toBe(0);
      expect(r.stderr.includes('msg="create in process"')).toBe(way === 'in process');
      const pid = JSON.parse(ts({}, ['state', id]).stdout).pid;
      // pid (comm) state ppid pgrp session tty_nr: the held init leads its session, on the pty.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      expect([stat[3], stat[4]]).toEqual([String(pid), PTS0]);
      expect(ts({}, ['start', id]).status).toBe(0);
      expectProbe(await con.output, '33 77', '1000:1000');
    } finally {
      con.stop();
      ts({}, ['delete', '-f', id]);
    }
  });

  test.each(WAYS)('foreground run proxies the pty ($way)', ({ way, env }) => {
    const b = suite.bundle(['sh', '-c', `${PROBE}; read x; echo "got $x"; exit 3`], (c) => (c.process.terminal = true));
    const r = underScript(env, `${TS_RUNC} --root ${suite.rt.root} --debug run -b ${b.dir} ${uniqueId('intty')}`, 'hello\n');
    const out = r.stdout.replace(/\r/g, '');
    expect(out).toContain('got hello\nrc=3\n');
    expect(out.includes('msg="create in process"')).toBe(way === 'in process');
    expectProbe(probeOf(out), '17 91', '0:0');
  });

  describe('exec -t into a running container', () => {
    const id = uniqueId('intty');
    beforeAll(() => {
      const b = suite.bundle(['sleep', '1000']);
      expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
    });
    afterAll(() => suite.rt.run(['delete', '-f', id]));

    test.each(WAYS)('with --console-socket ($way)', async ({ way, env }) => {
      const con = await consoleServer();
      try {
        // consoleSize comes only with a process file.
        const file = path.join(suite.rt.root, `.process-${process.pid}.json`);
        const proc = { terminal: true, user: { uid: 1000, gid: 1000 }, args: ['sh', '-c', PROBE], cwd: '/', env: ['PATH=/bin:/usr/bin'], consoleSize: { height: 33, width: 77 } };
        fs.writeFileSync(file, JSON.stringify(proc));
        const r = ts(env, ['exec', '--console-socket', con.sock, '-p', file, id]);
        expect(r.status).toBe(0);
        expect(r.stderr.includes('msg="exec in process"')).toBe(way === 'in process');
        expectProbe(await con.output, '33 77', '1000:1000');
      } finally {
        con.stop();
      }
    });

    test.each(WAYS)('in the foreground, proxied ($way)', ({ way, env }) => {
      const r = underScript(env, `${TS_RUNC} --root ${suite.rt.root} --debug exec -t ${id} sh -c '${PROBE.replace(/'/g, "'\\''")}; read x; echo "got $x"; exit 4'`, 'hello\n');
      const out = r.stdout.replace(/\r/g, '');
      expect(out).toContain('got hello\nrc=4\n');
      expect(out.includes('msg="exec in process"')).toBe(way === 'in process');
      // The proxy passes our size on once exec returns, which is after the command started
      // (as runc, either way): the command may or may not have seen it.
      expectProbe(probeOf(out), expect.any(String), '0:0');
    });
  });
});

/** The probe, then whether the filter is there and binds (mkdir is EPERM). */
const FILTERED = `${PROBE}; grep "^Seccomp:" /proc/$$/status; mkdir /tmp/d 2>/dev/null; echo mkdir=$?`;

/**
 * The same output both ways, but for the shell's fd list: it may show the pipe the shell holds
 * for an instant while it starts `ls | tr` (expectProbe checks that it starts with 0 1 2).
 */
function expectSame(inProcess: string, stage2: string): void {
  const lines = (out: string) => out.replace(/\r/g, '').split('\n').filter((l) => !/^0 1 2 /.test(l));
  expect(lines(inProcess)).toEqual(lines(stage2));
}

function expectFiltered(out: string, size: unknown, owner: string): void {
  const lines = out.replace(/\r/g, '').trim().split('\n');
  expectProbe(lines.slice(0, -2).join('\n'), size, owner);
  expect(lines.slice(-2)).toEqual([expect.stringMatching(/^Seccomp:\s+2$/), 'mkdir=1']);
}

(inProcessAvailable ? describe : describe.skip)('process.terminal with podman\'s seccomp profile: in process, as through stage 2', () => {
  test('create --console-socket, then start; the filter loaded before the credentials (no no_new_privs, uid 1000)', async () => {
    const b = suite.bundle(['sh', '-c', FILTERED], (c) => {
      c.process.terminal = true;
      c.process.user = { uid: 1000, gid: 1000 };
      c.process.noNewPrivileges = false;
      c.process.consoleSize = { height: 33, width: 77 };
      c.linux.seccomp = podmanDenyingMkdir();
    });
    const outs: string[] = [];
    for (const { way, env } of WAYS) {
      const id = uniqueId('intty');
      const con = await consoleServer();
      try {
        const r = ts(env, ['create', '--console-socket', con.sock, '-b', b.dir, id]);
        expect(r.status).toBe(0);
        expect([way, r.stderr.includes('msg="create in process"')]).toEqual([way, way === 'in process']);
        expect(ts({}, ['start', id]).status).toBe(0);
        outs.push(await con.output);
      } finally {
        con.stop();
        ts({}, ['delete', '-f', id]);
      }
    }
    expectFiltered(outs[0], '33 77', '1000:1000');
    expectSame(outs[0], outs[1]);
  });

  test('foreground run proxies the pty', () => {
    const b = suite.bundle(['sh', '-c', `${FILTERED}; read x; echo "got $x"; exit 3`], (c) => {
      c.process.terminal = true;
      c.linux.seccomp = podmanDenyingMkdir();
    });
    const outs = WAYS.map(({ way, env }) => {
      const out = underScript(env, `${TS_RUNC} --root ${suite.rt.root} --debug run -b ${b.dir} ${uniqueId('intty')}`, 'hello\n').stdout.replace(/\r/g, '');
      expect([way, out]).toEqual([way, expect.stringContaining('got hello\nrc=3\n')]);
      expect([way, out.includes('msg="create in process"')]).toEqual([way, way === 'in process']);
      return probeOf(out);
    });
    expectFiltered(outs[0], '17 91', '0:0');
    expectSame(outs[0], outs[1]);
  });

  test('exec -t with --console-socket into a container with the profile', async () => {
    const id = uniqueId('intty');
    const b = suite.bundle(['sleep', '1000'], (c) => (c.linux.seccomp = podmanDenyingMkdir()));
    expect(suite.rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
    try {
      const file = path.join(suite.rt.root, `.process-seccomp-${process.pid}.json`);
      const proc = { terminal: true, user: { uid: 1000, gid: 1000 }, args: ['sh', '-c', FILTERED], cwd: '/', env: ['PATH=/bin:/usr/bin'], consoleSize: { height: 33, width: 77 } };
      fs.writeFileSync(file, JSON.stringify(proc));
      const outs: string[] = [];
      for (const { way, env } of WAYS) {
        const con = await consoleServer();
        try {
          const r = ts(env, ['exec', '--console-socket', con.sock, '-p', file, id]);
          expect(r.status).toBe(0);
          expect([way, r.stderr.includes('msg="exec in process"')]).toEqual([way, way === 'in process']);
          outs.push(await con.output);
        } finally {
          con.stop();
        }
      }
      expectFiltered(outs[0], '33 77', '1000:1000');
      expectSame(outs[0], outs[1]);
    } finally {
      suite.rt.run(['delete', '-f', id]);
    }
  });

  test('a profile that refuses the re-open of the terminal (openat O_RDWR) keeps stage 2, where the terminal works as ever', () => {
    // openat allowed only for O_RDONLY and O_WRONLY: podman's default (EPERM) answers O_RDWR
    const openat = (mode: number) => ({ names: ['openat'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 3, valueTwo: mode, op: 'SCMP_CMP_MASKED_EQ' }] });
    const prof = replaceRules(podmanDenyingMkdir(), ['openat'], openat(0), openat(1));
    const withTty = suite.bundle(['sh', '-c', `tty; grep "^Seccomp:" /proc/$$/status; read x; echo "got $x"`], (c) => {
      c.process.terminal = true;
      c.linux.seccomp = prof;
    });
    const r = underScript({}, `${TS_RUNC} --root ${suite.rt.root} --debug run -b ${withTty.dir} ${uniqueId('intty')}`, 'hello\n');
    const out = r.stdout.replace(/\r/g, '');
    expect(out).toMatch(/^\/dev\/pts\/0\nSeccomp:\s+2\n/m);
    expect(out).toContain('got hello\nrc=0\n');
    expect(out).not.toContain('in process');
    expect(fs.readFileSync(`${suite.rt.root}/.script-err`, 'utf8')).toContain('create through stage 2: seccomp: the profile does not allow openat, which the in-process spawn makes under it');
    // Without a terminal nothing is opened O_RDWR before the execve: in process.
    const noTty = suite.bundle(['true'], (c) => (c.linux.seccomp = prof));
    const plain = ts({}, ['run', '-b', noTty.dir, uniqueId('intty')]);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toContain('msg="create in process"');
  });
});
