import { parseArgs, type FlagSpec } from '../../src/cli/args';

const flags: FlagSpec[] = [
  { name: 'bundle', alias: ['b'], kind: 'string' },
  { name: 'detach', alias: ['d'], kind: 'bool' },
  { name: 'preserve-fds', kind: 'int' },
  { name: 'env', alias: ['e'], kind: 'list' },
];

describe('runc-style argument parsing', () => {
  test('long, short, = and separate values', () => {
    const p = parseArgs(['--bundle=/b', '-d', '--preserve-fds', '2', '-e', 'A=1', '--env=B=2', 'id'], flags);
    expect(p).toEqual({ flags: { bundle: '/b', detach: true, 'preserve-fds': 2, env: ['A=1', 'B=2'] }, positionals: ['id'] });
  });
  test('single-dash long flags as Go accepts them', () => {
    expect(parseArgs(['-bundle', 'x', 'id'], flags).flags.bundle).toBe('x');
  });
  test('bool with explicit value', () => {
    expect(parseArgs(['--detach=false'], flags).flags.detach).toBe(false);
  });
  test('flags after positionals unless stopping at the first one', () => {
    expect(parseArgs(['id', '-d'], flags).flags.detach).toBe(true);
    const p = parseArgs(['id', 'sh', '-d'], flags, { stopAtPositional: true, positionalsBeforeRest: 1 });
    expect(p).toEqual({ flags: {}, positionals: ['id', 'sh', '-d'] });
  });
  test('-- ends flags', () => {
    expect(parseArgs(['--', '-d'], flags).positionals).toEqual(['-d']);
  });
  test("errors use Go's flag texts", () => {
    expect(() => parseArgs(['--nope'], flags)).toThrow('flag provided but not defined: -nope');
    expect(() => parseArgs(['--bundle'], flags)).toThrow('flag needs an argument: -bundle');
    expect(() => parseArgs(['--preserve-fds', 'x'], flags)).toThrow('invalid value "x" for flag -preserve-fds');
  });
});
