import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { containerSuite } from '../helpers/runtime';

jest.setTimeout(60000);

const suite = containerSuite('mo');
const { runIn, bundle } = suite;
let src: string;

beforeAll(() => {
  // A bind source with a submount: only a recursive option reaches the submount.
  src = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-rro-'));
  fs.mkdirSync(path.join(src, 'sub'));
  execFileSync('mount', ['-t', 'tmpfs', 'tsrunc-rro-test', path.join(src, 'sub')]);
});
afterAll(() => {
  spawnSync('umount', ['-l', path.join(src, 'sub')]);
  fs.rmSync(src, { recursive: true, force: true });
});

test('rro makes every submount of a bind read-only; ro alone does not', () => {
  const probe = ['sh', '-c', 'touch /m/sub/x 2>/dev/null && echo sub-rw || echo sub-ro; touch /m/y 2>/dev/null && echo top-rw || echo top-ro'];
  const rro = runIn(probe, (c) => c.mounts.push({ destination: '/m', type: 'bind', source: src, options: ['rbind', 'rro'] }));
  expect(rro.stdout.trim().split('\n')).toEqual(['sub-ro', 'top-ro']);
  const ro = runIn(probe, (c) => c.mounts.push({ destination: '/m', type: 'bind', source: src, options: ['rbind', 'ro'] }));
  expect(ro.stdout.trim().split('\n')).toEqual(['sub-rw', 'top-ro']);
});

test('rnoexec and rnosuid reach submounts', () => {
  const r = runIn(['sh', '-c', 'grep " /m/sub " /proc/self/mountinfo'], (c) => c.mounts.push({ destination: '/m', type: 'bind', source: src, options: ['rbind', 'rnoexec', 'rnosuid'] }));
  expect(r.stdout).toMatch(/ \/m\/sub \S*(nosuid|noexec)\S*(nosuid|noexec)/);
});

test('tmpcopyup seeds the tmpfs with what the directory held', () => {
  const b = bundle(['sh', '-c', 'cat /opt/seed/sub/f; stat -c "%u %a" /opt/seed/sub/f; grep " /opt/seed " /proc/self/mountinfo | grep -c tmpfs'], (c) =>
    c.mounts.push({ destination: '/opt/seed', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'nosuid'] }),
  );
  const seed = path.join(b.dir, 'rootfs/opt/seed/sub');
  fs.mkdirSync(seed, { recursive: true });
  fs.writeFileSync(path.join(seed, 'f'), 'seeded\n', { mode: 0o604 });
  fs.chownSync(path.join(seed, 'f'), 1000, 1000);
  const out = suite.rt.run(['run', '-b', b.dir, `tmpcopy-${process.pid}`]).stdout;
  expect(out.trim().split('\n')).toEqual(['seeded', '1000 604', '1']);
});

test('an idmapped bind mount shows on-disk owners through its mappings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-idmap-'));
  try {
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    fs.chownSync(path.join(dir, 'f'), 0, 0);
    const map = [{ containerID: 0, hostID: 1234, size: 1 }];
    const r = runIn(['sh', '-c', 'stat -c "%u %g" /mnt/id/f; grep " /mnt/id " /proc/self/mountinfo | grep -c idmapped'], (c) =>
      c.mounts.push({ destination: '/mnt/id', type: 'bind', source: dir, options: ['bind'], uidMappings: map, gidMappings: map }),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['1234 1234', '1']);
    expect(fs.statSync(path.join(dir, 'f')).uid).toBe(0); // nothing chowned on disk
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an idmapped mount that is not a bind is refused, naming the mount', () => {
  const map = [{ containerID: 0, hostID: 1234, size: 1 }];
  const r = runIn(['true'], (c) => c.mounts.push({ destination: '/t', type: 'tmpfs', source: 'tmpfs', uidMappings: map, gidMappings: map }));
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/mounts\[\d+\]: idmapped mounts are supported for bind mounts only/);
});
