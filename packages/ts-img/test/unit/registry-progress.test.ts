import { PassThrough } from 'node:stream';
import { Progress, fmtBytes, parallel } from '../../src/registry/progress';

function fakeStream(tty: boolean) {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { out: string };
  (s as any).isTTY = tty;
  (s as any).columns = 100;
  s.out = '';
  s.on('data', (c: Buffer) => (s.out += c.toString()));
  return s;
}

test('progress bars: one line per layer on a terminal, redrawn in place', async () => {
  const s = fakeStream(true);
  const p = new Progress(s);
  const a = p.bar('layer-a', 1000);
  const b = p.bar('layer-b', 2000);
  a.update(500);
  b.update(2000);
  // Redraws are throttled (a timer): wait for the first drawing of both lines, not a guessed time.
  for (const until = Date.now() + 10_000; !/layer-b.*\n/.test(s.out); ) {
    if (Date.now() > until) throw new Error(`no progress drawn within 10 s: ${JSON.stringify(s.out)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(s.out).not.toContain('\x1b[2A'); // the first drawing moves nothing
  a.finish();
  p.stop();
  expect(s.out).toContain('layer-a');
  expect(s.out).toContain('layer-b');
  expect(s.out).toContain('\x1b[2A'); // cursor back up over both lines
  expect(s.out).toMatch(/layer-a.*1000B\/1000B done/);
});

test('progress is silent when not a terminal, or quiet', () => {
  for (const [tty, quiet] of [[false, false], [true, true]] as const) {
    const s = fakeStream(tty);
    const p = new Progress(s, quiet);
    p.bar('x', 10).update(5);
    p.stop();
    expect(s.out).toBe('');
  }
});

test('fmtBytes and bounded parallelism', async () => {
  expect(fmtBytes(512)).toBe('512B');
  expect(fmtBytes(3 << 20)).toBe('3.0MiB');
  let inFlight = 0;
  let peak = 0;
  await parallel([1, 2, 3, 4, 5, 6], 2, async () => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
  });
  expect(peak).toBe(2);
  await expect(parallel([1, 2, 3], 3, async (x) => { if (x === 2) throw new Error('boom'); })).rejects.toThrow('boom');
});
