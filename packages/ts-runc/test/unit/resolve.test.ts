import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { resolveInRoot } from '../../src/init/resolve';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'resolve-'));
  fs.mkdirSync(path.join(root, 'etc'));
  fs.symlinkSync('/etc', path.join(root, 'abs'));
  fs.symlinkSync('../../../../..', path.join(root, 'etc', 'up'));
  fs.symlinkSync('/../../outside', path.join(root, 'escape'));
  fs.symlinkSync('loop', path.join(root, 'loop'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

test.each([
  ['/etc/passwd', 'etc/passwd'],
  ['abs/hosts', 'etc/hosts'],
  ['/etc/up/etc', 'etc'],
  ['../../etc', 'etc'],
  ['escape/x', 'outside/x'],
  ['/new/dir/../file', 'new/file'],
])('%s stays inside as %s', (p, expected) => {
  expect(resolveInRoot(root, p)).toBe(path.join(root, expected));
});

test('symlink loops are an error', () => {
  expect(() => resolveInRoot(root, '/loop/x')).toThrow('too many levels of symbolic links');
});
