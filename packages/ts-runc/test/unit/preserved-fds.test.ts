import * as fs from 'fs';
import { checkPreservedFds, noteClosedFds } from '../../src/lifecycle/preserved-fds';

describe('--preserve-fds with fds the caller left closed (bin/ts-runc lists them)', () => {
  test('a listed fd within 3..3+N-1 is refused, in one line naming it', () => {
    expect(() => checkPreservedFds(2, { TS_RUNC_CLOSED_FDS: '4' })).toThrow('--preserve-fds 2: fd 4 is not open (bad file descriptor)');
    expect(() => checkPreservedFds(9, { TS_RUNC_CLOSED_FDS: '3,7' })).toThrow('--preserve-fds 9: fd 3, 7 are not open');
  });

  test('none listed, or only beyond N (another --preserve-fds on the command line): nothing to refuse', () => {
    expect(() => checkPreservedFds(0, { TS_RUNC_CLOSED_FDS: '3' })).not.toThrow();
    expect(() => checkPreservedFds(2, { TS_RUNC_CLOSED_FDS: '5,9' })).not.toThrow();
    expect(() => checkPreservedFds(4, {})).not.toThrow();
    expect(() => checkPreservedFds(4, { TS_RUNC_CLOSED_FDS: 'x,,2' })).not.toThrow();
  });
});

test('noteClosedFds adds the closed fds of the range (up to 8) to what bin/ts-runc listed', () => {
  const env: NodeJS.ProcessEnv = { TS_RUNC_CLOSED_FDS: '3' };
  noteClosedFds(4096, env);
  const listed = env.TS_RUNC_CLOSED_FDS!.split(',').map(Number);
  expect(listed[0]).toBe(3);
  expect(listed.length).toBe(8);
  for (const fd of listed.slice(1)) expect(() => fs.fstatSync(fd)).toThrow();
  const none: NodeJS.ProcessEnv = {};
  noteClosedFds(0, none);
  expect(none.TS_RUNC_CLOSED_FDS).toBeUndefined();
});
