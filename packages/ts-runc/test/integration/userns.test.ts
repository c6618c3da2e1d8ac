import * as fs from 'fs';
import * as path from 'path';
import { makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../helpers/runtime';

jest.setTimeout(60000);

let rt: Runtime;
const bundles: Bundle[] = [];
const MAP = [{ containerID: 0, hostID: 200000, size: 65536 }];
function usernsBundle(args: string[], edit?: (c: any) => void): Bundle {
  const b = makeBundle(args, (c) => {
    c.linux.namespaces.push({ type: 'user' });
    c.linux.uidMappings = MAP;
    c.linux.gidMappings = MAP;
    edit?.(c);
  });
  bundles.push(b);
  // The mapped root (a host non-root id) must be able to reach the rootfs, as with runc.
  fs.chmodSync(b.dir, 0o755);
  return b;
}

beforeAll(() => (rt = runtime()));
afterAll(() => {
  rt.cleanup();
  bundles.forEach(removeBundle);
});

test('root in the container is the mapped host id, with the maps written', () => {
  const b = usernsBundle(['sh', '-c', 'id -u; cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; echo $$']);
  const r = rt.run(['run', '-b', b.dir, uniqueId('u')]);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split('\n').map((l) => l.trim())).toEqual(['0', '0 200000 65536', '0 200000 65536', '1']);
});

test('seen from the host, the process runs as the mapped id; the rootfs is not chowned', () => {
  const b = usernsBundle(['sleep', '100']);
  const id = uniqueId('uh');
  const before = fs.statSync(path.join(b.dir, 'rootfs/bin/busybox')).uid;
  expect(rt.run(['run', '-d', '-b', b.dir, id]).status).toBe(0);
  const pid = JSON.parse(rt.run(['state', id]).stdout).pid;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  expect(status).toMatch(/^Uid:\s+200000\s+200000/m);
  expect(fs.readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
  expect(fs.statSync(path.join(b.dir, 'rootfs/bin/busybox')).uid).toBe(before);
  // exec joins the user namespace too
  const e = rt.run(['exec', '-u', '1000', id, 'sh', '-c', 'id -u; cat /proc/self/uid_map | tr -s " "']);
  expect(e.stdout.trim().split('\n').map((l) => l.trim())).toEqual(['1000', '0 200000 65536']);
  rt.run(['delete', '-f', id]);
});

test('devices are bound from the host and a readonly root still works', () => {
  const b = usernsBundle(['sh', '-c', 'echo x > /dev/null && head -c 4 /dev/zero | wc -c; touch /f 2>/dev/null || echo ro'], (c) => (c.root.readonly = true));
  const r = rt.run(['run', '-b', b.dir, uniqueId('ud')]);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split('\n')).toEqual(['4', 'ro']);
});

test('a user namespace without mappings is refused, naming the field', () => {
  const b = makeBundle(['true'], (c) => c.linux.namespaces.push({ type: 'user' }));
  bundles.push(b);
  const id = uniqueId('un');
  const r = rt.run(['create', '-b', b.dir, id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('linux.uidMappings');
  expect(rt.ids()).not.toContain(id);
});

test('a user namespace path that is no user namespace is refused by name, with nothing left', () => {
  const b = makeBundle(['true'], (c) => c.linux.namespaces.push({ type: 'user', path: '/proc/self/ns/net' }));
  bundles.push(b);
  const id = uniqueId('up');
  const r = rt.run(['create', '-b', b.dir, id]);
  expect(r.status).toBe(1);
  expect(r.stderr).toContain('linux.namespaces: cannot join user namespace /proc/self/ns/net: not a user namespace');
  expect(rt.ids()).not.toContain(id);
  expect(fs.existsSync(`/sys/fs/cgroup/pids/${id}`)).toBe(false);
});

test('many creates in a row: the clone spawn never hangs', () => {
  const b = usernsBundle(['true']);
  for (let i = 0; i < 15; i++) expect(rt.run(['run', '-b', b.dir, uniqueId('ul')], { timeout: 20000 }).status).toBe(0);
});
