import { parseMountOptions } from '../../src/plan/mount-options';
import { MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE } from '@tsrt/libc';

test('flags set and cleared in order, data and propagation kept apart', () => {
  const p = parseMountOptions(['ro', 'nosuid', 'rw', 'nodev', 'mode=755', 'size=64k', 'rprivate', 'slave', 'tmpcopyup']);
  expect(p.flags).toBe(MS_NOSUID | MS_NODEV);
  expect(p.data).toEqual(['mode=755', 'size=64k']);
  expect(p.propagation).toEqual([MS_PRIVATE | MS_REC, MS_SLAVE]);
  expect(p.extensions).toEqual(['tmpcopyup']);
});

test('rbind is bind + rec', () => {
  expect(parseMountOptions(['rbind', 'ro']).flags).toBe(MS_BIND | MS_REC | MS_RDONLY);
});

test('recursive options become mount_setattr masks; later ones win', () => {
  const { recursiveAttrs } = require('../../src/plan/mount-options');
  expect(recursiveAttrs(['rro', 'rnosuid'])).toEqual({ set: 0x1 | 0x2, clr: 0 });
  expect(recursiveAttrs(['rro', 'rrw'])).toEqual({ set: 0, clr: 0x1 });
  expect(recursiveAttrs(['rnoatime'])).toEqual({ set: 0x10, clr: 0x70 });
  expect(recursiveAttrs(['tmpcopyup'])).toBeNull();
});
