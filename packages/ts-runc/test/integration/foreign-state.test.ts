// A --root shared with runc (Docker points every runtime at one) and entries that are not whole
// containers: list and state read runc's containers, skip broken entries with one line each,
// and no command crashes or touches a container that is not ours.
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../helpers/runtime';

jest.setTimeout(60000);

const RUNC = '/usr/sbin/runc';
let rt: Runtime;
let b: Bundle;
const runcId = uniqueId('runc');
const oursId = uniqueId('ours');

function runc(...args: string[]) {
  return spawnSync(RUNC, ['--root', rt.root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
}

beforeAll(() => {
  rt = runtime();
  b = makeBundle(['sleep', '1000']);
  // runc keeps the container's stdio: files, not pipes, so spawnSync does not wait for it.
  const out = fs.openSync(path.join(b.dir, 'runc.out'), 'w');
  const r = spawnSync(RUNC, ['--root', rt.root, 'run', '-d', '-b', b.dir, runcId], { stdio: ['ignore', out, out], timeout: 30000 });
  fs.closeSync(out);
  if (r.status !== 0) throw new Error(`runc run: ${fs.readFileSync(path.join(b.dir, 'runc.out'), 'utf8')}`);
  const ours = rt.run(['run', '-d', '-b', b.dir, oursId]);
  if (ours.status !== 0) throw new Error(ours.stderr);
  // Not containers: a directory without state (a create that died early), a state cut short.
  fs.mkdirSync(path.join(rt.root, 'empty-dir'));
  fs.mkdirSync(path.join(rt.root, 'half-written'));
  fs.writeFileSync(path.join(rt.root, 'half-written', 'state.json'), '{"ociVersion":"1.2.0","id":"half-written","pi');
});

afterAll(() => {
  // runc's container first, by runc: ts-runc refuses to delete it.
  if (rt) {
    runc('delete', '-f', runcId);
    rt.cleanup();
  }
  if (b) removeBundle(b);
});

function runcPid(): number {
  return JSON.parse(runc('state', runcId).stdout).pid;
}

test('list shows our container and runc\'s, and names an unreadable entry on stderr', () => {
  const r = rt.run(['list', '-f', 'json']);
  expect(r.status).toBe(0);
  const list = JSON.parse(r.stdout);
  expect(list.find((c: any) => c.id === runcId)).toEqual({
    ociVersion: expect.any(String),
    id: runcId,
    pid: runcPid(),
    status: 'running',
    bundle: b.dir,
    rootfs: path.join(b.dir, 'rootfs'),
    created: JSON.parse(runc('state', runcId).stdout).created,
    owner: 'root',
  });
  expect(list.find((c: any) => c.id === oursId)).toMatchObject({ status: 'running', bundle: b.dir });
  expect(list.map((c: any) => c.id).sort()).toEqual([oursId, runcId].sort());
  // runc's wording: "load container ID: reason", one line, no stack. A directory without state
  // (a create still starting) is skipped quietly.
  expect(r.stderr).toBe(`load container half-written: state of container half-written is corrupt: ${path.join(rt.root, 'half-written', 'state.json')}\n`);
  const table = rt.run(['list']);
  expect(table.status).toBe(0);
  expect(table.stdout).toMatch(new RegExp(`^${runcId}\\s+${runcPid()}\\s+running\\s+${b.dir}\\s`, 'm'));
  expect(rt.run(['list', '-q']).stdout.split('\n').filter(Boolean).sort()).toEqual([oursId, runcId].sort());
});

test('state of runc\'s container: its pid and status, paused as runc says', () => {
  const s = JSON.parse(rt.run(['state', runcId]).stdout);
  expect(s).toMatchObject({ id: runcId, pid: runcPid(), status: 'running', bundle: b.dir });
  expect(runc('pause', runcId).status).toBe(0);
  try {
    expect(JSON.parse(rt.run(['state', runcId]).stdout).status).toBe('paused');
  } finally {
    runc('resume', runcId);
  }
});

test('broken entries: state fails with one line; other commands refuse runc\'s container and leave it alone', () => {
  for (const [id, msg] of [
    ['empty-dir', 'container does not exist'],
    ['half-written', 'state of container half-written is corrupt'],
  ]) {
    const r = rt.run(['state', id]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(msg);
  }
  for (const args of [['kill', runcId, 'KILL'], ['delete', '-f', runcId], ['exec', runcId, 'true'], ['pause', runcId]]) {
    const r = rt.run(args);
    expect(r.status).toBe(args[0] === 'exec' ? 255 : 1); // runc's status for a failed exec
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`container ${runcId} was created by runc, not ts-runc`);
  }
  expect(JSON.parse(runc('state', runcId).stdout).status).toBe('running');
});

test('delete: an entry without state goes; a corrupt state is refused, as runc, and kept', () => {
  // A corrupt state names no process or cgroup: removing it would leave a running container
  // behind that nothing can find any more.
  const file = path.join(rt.root, 'half-written', 'state.json');
  for (const args of [['delete', 'half-written'], ['delete', '-f', 'half-written']]) {
    const r = rt.run(args);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`state of container half-written is corrupt: ${file}`);
    expect(fs.existsSync(file)).toBe(true);
  }
  fs.rmSync(path.join(rt.root, 'half-written'), { recursive: true });
  // A create killed before its first save leaves only the directory: delete -f removes it.
  expect(rt.run(['delete', 'empty-dir']).stderr).toContain('container does not exist');
  expect(rt.run(['delete', '-f', 'empty-dir']).status).toBe(0);
  expect(fs.existsSync(path.join(rt.root, 'empty-dir'))).toBe(false);
});
