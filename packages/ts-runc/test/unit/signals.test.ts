import { parseSignal } from '../../src/lifecycle/signals';

test.each([
  ['TERM', 15], ['SIGTERM', 15], ['sigkill', 9], ['9', 9], ['usr1', 10], ['RTMIN', 34], ['SIGRTMIN+3', 37], ['RTMAX', 64], ['RTMAX-1', 63],
])('%s is signal %d', (s, n) => expect(parseSignal(s)).toBe(n));

test('default is SIGTERM, also for an empty argument (runc)', () => {
  expect(parseSignal(undefined)).toBe(15);
  expect(parseSignal('')).toBe(15);
});
test('0 only asks whether the process is there (kill(2), runc)', () => expect(parseSignal('0')).toBe(0));
test.each(['FOO', '65', 'SIGRTMIN+40', ' 9', '9 ', 'KILL\n'])('%s is refused', (s) => expect(() => parseSignal(s)).toThrow('unknown signal'));
