import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync, spawnSync } from 'child_process';
import { TS_RUNC, baseRootfs } from '../helpers/runtime';

jest.setTimeout(60000);

// A throw-away unprivileged user, removed afterwards.
const USER = 'tsrootless';
let dir: string;
let uid: number;

beforeAll(() => {
  spawnSync('userdel', [USER]);
  execFileSync('useradd', ['-M', '-N', '-s', '/bin/sh', USER]);
  uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-runc-rootless-'));
  fs.chmodSync(dir, 0o755);
  execFileSync('cp', ['-a', baseRootfs(), path.join(dir, 'rootfs')]);
  execFileSync('chown', ['-R', `${uid}:${uid}`, dir]);
});
afterAll(() => {
  spawnSync('pkill', ['-KILL', '-u', USER]);
  fs.rmSync(dir, { recursive: true, force: true });
  spawnSync('userdel', [USER]);
});

function asUser(cmd: string) {
  return spawnSync('su', [USER, '-s', '/bin/sh', '-c', cmd], { encoding: 'utf8', timeout: 30000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
}

test('spec --rootless bundle runs as an unprivileged user, root inside', () => {
  let r = asUser(`cd ${dir} && ${TS_RUNC} spec --rootless`);
  expect(r.status).toBe(0);
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  expect(config.linux.uidMappings).toEqual([{ containerID: 0, hostID: uid, size: 1 }]);
  config.process.terminal = false;
  config.process.args = ['sh', '-c', 'id -u; cat /proc/self/uid_map | tr -s " "; echo $$; [ -c /dev/null ] && echo dev-ok'];
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  r = asUser(`cd ${dir} && ${TS_RUNC} --root ${dir}/state run rl-${process.pid}`);
  expect(r.stderr).toBe('');
  expect(r.stdout.trim().split('\n').map((l) => l.trim())).toEqual(['0', `0 ${uid} 1`, '1', 'dev-ok']);
  expect(r.status).toBe(0);
  expect(fs.readdirSync(path.join(dir, 'state'))).toEqual([]);
});
