import { parseProcStat } from '../../src/state/liveness';
import { Logger } from '../../src/log/logger';

test('stat with spaces and parentheses in the command', () => {
  const line = '123 (a b) c)) S 1 123 123 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615';
  expect(parseProcStat(line)).toEqual({ state: 'S', startTime: '987654', flags: 4194560 });
});

test('flags: PF_EXITING (0x4) marks an init that is in exit(), waiting for its namespace to be reaped', () => {
  const line = '77 (sleep) S 1 77 77 0 -1 4194564 100 0 0 0 1 2 0 0 20 0 1 0 555 1000 10 18446744073709551615';
  expect(parseProcStat(line).flags & 0x4).toBe(4);
});

test('log lines in json and text as runc writes them', () => {
  const json = new Logger({ format: 'json', debug: false }).line('error', 'container does not exist');
  expect(JSON.parse(json)).toEqual({ level: 'error', msg: 'container does not exist', time: expect.stringMatching(/Z$/) });
  expect(Object.keys(JSON.parse(json))).toEqual(['level', 'msg', 'time']);
  const text = new Logger({ format: 'text', debug: false }).line('warning', 'a "b"');
  expect(text).toMatch(/^time="[^"]+" level=warning msg="a \\"b\\""\n$/);
});
