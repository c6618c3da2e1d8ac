import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { containerSuite, uniqueId } from '../helpers/runtime';
import { waitForSync } from '../helpers/wait';

jest.setTimeout(60000);

const suite = containerSuite('h');
const { bundle } = suite;
let logDir: string;
beforeAll(() => {
  logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-hooks-'));
});
afterAll(() => {
  fs.rmSync(logDir, { recursive: true, force: true });
});

const HOST_UTS = fs.readlinkSync('/proc/self/ns/uts');

/** A hook that appends "<name> <uts ns> <env X> <argv0>" and its stdin (one JSON line) to `log`. */
function recorder(name: string, log: string, argv0 = 'hook-' + name): any {
  return {
    path: '/bin/sh',
    args: [argv0, '-c', `echo "${name} $(readlink /proc/self/ns/uts) $X $0" >> ${log}; cat >> ${log}; echo >> ${log}`],
    env: ['X=x-' + name],
  };
}

/** stderr with the log format's \" escapes undone. */
function err(r: { stderr: string }): string {
  return r.stderr.replace(/\\"/g, '"');
}

function readLog(log: string): Array<{ line: string[]; state: any }> {
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  const out = [];
  for (let i = 0; i + 1 < lines.length; i += 2) out.push({ line: lines[i].split(' '), state: JSON.parse(lines[i + 1]) });
  return out;
}

describe('hooks in real containers', () => {
  test('all six run at their point, in order, with the state on stdin, in the right namespaces', () => {
    const log = path.join(logDir, 'order.log');
    const id = uniqueId('hooks');
    const b = bundle(['sh', '-c', 'cat /start.log | head -1 | cut -d" " -f1; echo user-process'], (c) => {
      c.hooks = {
        prestart: [recorder('prestart', log)],
        createRuntime: [recorder('createRuntime', log)],
        createContainer: [recorder('createContainer', log)],
        // startContainer runs in the container: its path and its log are inside the rootfs.
        // (busybox picks the applet from argv0: keep it "sh")
        startContainer: [recorder('startContainer', '/start.log', 'sh')],
        poststart: [recorder('poststart', log)],
        poststop: [recorder('poststop', log)],
      };
    });
    const cr = suite.rt.run(['create', '-b', b.dir, id]);
    expect(cr.stderr).toBe('');
    expect(cr.status).toBe(0);
    expect(readLog(log).map((e) => e.line[0])).toEqual(['prestart', 'createRuntime', 'createContainer']);
    expect(fs.existsSync(path.join(b.dir, 'rootfs/start.log'))).toBe(false);
    const pid = Number(JSON.parse(suite.rt.run(['state', id]).stdout).pid);
    const st = suite.rt.run(['start', id]);
    expect(st.status).toBe(0);
    waitForSync(`container ${id} to be stopped`, () => JSON.parse(suite.rt.run(['state', id]).stdout).status === 'stopped');
    const del = suite.rt.run(['delete', id]);
    expect(del.status).toBe(0);

    const entries = readLog(log);
    expect(entries.map((e) => e.line[0])).toEqual(['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']);
    const byName = Object.fromEntries(entries.map((e) => [e.line[0], e]));
    // runtime namespace for prestart/createRuntime/poststart/poststop, container's for createContainer
    for (const n of ['prestart', 'createRuntime', 'poststart', 'poststop']) expect(byName[n].line[1]).toBe(HOST_UTS);
    expect(byName.createContainer.line[1]).not.toBe(HOST_UTS);
    // env exactly as configured, argv0 from args[0]
    expect(byName.prestart.line.slice(2)).toEqual(['x-prestart', 'hook-prestart']);
    // state on stdin
    expect(byName.createRuntime.state).toMatchObject({ id, status: 'creating', pid, bundle: b.dir });
    expect(byName.createContainer.state).toMatchObject({ id, status: 'creating', pid });
    expect(byName.poststart.state).toMatchObject({ id, status: 'running', pid });
    expect(byName.poststop.state).toMatchObject({ id, status: 'stopped' });
    // startContainer ran inside the container before the user process read its log
    const start = readLog(path.join(b.dir, 'rootfs/start.log'));
    expect(start[0].line[0]).toBe('startContainer');
    expect(start[0].line[1]).toBe(byName.createContainer.line[1]);
    expect(start[0].state).toMatchObject({ id, status: 'created', pid });
  });

  test('a failing createRuntime hook aborts create with its output, and cleans up', () => {
    const id = uniqueId('hookfail');
    const b = bundle(['true'], (c) => {
      c.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo nope >&2; exit 7'] }] };
    });
    const r = suite.rt.run(['create', '-b', b.dir, id]);
    expect(r.status).not.toBe(0);
    expect(err(r)).toContain('error running createRuntime hook #0: exit status 7, stdout: "", stderr: "nope"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(suite.rt.ids()).toEqual([]);
    for (const ctl of ['memory', 'pids', 'cpu', 'unified']) expect(fs.existsSync(`/sys/fs/cgroup/${ctl}/${id}`)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(b.dir);
    // the init was killed: no process of ours still has the bundle's rootfs as its root
    const left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.readlinkSync(`/proc/${p}/cwd`).startsWith(b.dir);
      } catch {
        return false;
      }
    });
    expect(left).toEqual([]);
  });

  test('createContainer failure and a missing prestart binary abort create; a timeout too', () => {
    const cases: Array<[any, string]> = [
      [{ createContainer: [{ path: '/bin/false' }] }, 'error running createContainer hook #0: exit status 1'],
      [{ prestart: [{ path: '/nonexistent/hook' }] }, 'error running prestart hook #0: exec /nonexistent/hook: no such file or directory'],
      [{ createRuntime: [{ path: '/bin/sleep', args: ['sleep', '5'], timeout: 1 }] }, 'error running createRuntime hook #0: hook ran past specified timeout of 1s'],
    ];
    for (const [hooks, msg] of cases) {
      const b = bundle(['true'], (c) => (c.hooks = hooks));
      const r = suite.rt.run(['create', '-b', b.dir, uniqueId('hookfail')]);
      expect(r.status).not.toBe(0);
      expect(err(r)).toContain(msg);
      expect(suite.rt.ids()).toEqual([]);
    }
  });

  test('a failing startContainer hook fails start; the user process never runs', () => {
    const id = uniqueId('startfail');
    const b = bundle(['sh', '-c', 'touch /ran'], (c) => {
      c.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo bad-start; exit 2'] }] };
    });
    expect(suite.rt.run(['create', '-b', b.dir, id]).status).toBe(0);
    const r = suite.rt.run(['start', id]);
    expect(r.status).not.toBe(0);
    expect(err(r)).toContain('error running startContainer hook #0: exit status 2, stdout: "bad-start"');
    expect(fs.existsSync(path.join(b.dir, 'rootfs/ran'))).toBe(false);
    expect(suite.rt.run(['delete', '-f', id]).status).toBe(0);
    expect(suite.rt.ids()).toEqual([]);
  });

  test('poststart and poststop failures are warnings: start, run and delete still succeed', () => {
    const log = path.join(logDir, 'warn.log');
    const b = bundle(['true'], (c) => {
      c.hooks = {
        poststart: [{ path: '/bin/false' }, recorder('poststart-2', log)],
        poststop: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }, recorder('poststop-2', log)],
      };
    });
    const r = suite.rt.run(['run', '-b', b.dir, uniqueId('warn')]);
    expect(r.status).toBe(0);
    expect(err(r)).toContain('error running poststart hook #0: exit status 1');
    expect(err(r)).toContain('error running poststop hook #0: exit status 4');
    // the remaining hooks of each phase still ran
    expect(readLog(log).map((e) => e.line[0])).toEqual(['poststart-2', 'poststop-2']);
    expect(suite.rt.ids()).toEqual([]);
  });

  test('a bad hook path is a config error naming the hook', () => {
    const b = bundle(['true'], (c) => (c.hooks = { poststop: [{ path: 'relative/hook' }] }));
    const r = suite.rt.run(['create', '-b', b.dir, uniqueId('hookbad')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/hooks\.poststop\[0\]\.path/);
    expect(suite.rt.ids()).toEqual([]);
  });
});
