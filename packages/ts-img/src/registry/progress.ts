/**
 * Per-item progress bars on a terminal (stderr), redrawn in place at most ~8 times a second.
 * When stderr is not a TTY, or quiet is set, nothing is drawn.
 */
export interface Bar {
  update(done: number): void;
  finish(note?: string): void;
}

export class Progress {
  private bars: { label: string; total: number; done: number; note?: string }[] = [];
  private drawn = 0;
  private timer?: NodeJS.Timeout;
  readonly enabled: boolean;

  constructor(private out: NodeJS.WriteStream = process.stderr, quiet = false) {
    this.enabled = !quiet && !!out.isTTY;
  }

  bar(label: string, total: number): Bar {
    const b = { label, total, done: 0, note: undefined as string | undefined };
    if (!this.enabled) return { update: () => undefined, finish: () => undefined };
    this.bars.push(b);
    this.schedule();
    return {
      update: (n) => {
        b.done = n;
        this.schedule();
      },
      finish: (note) => {
        b.done = b.total;
        b.note = note ?? 'done';
        this.schedule();
      },
    };
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, 120);
  }

  private draw(): void {
    if (!this.enabled) return;
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const b of this.bars) {
      const frac = b.total > 0 ? Math.min(1, b.done / b.total) : 1;
      const fill = Math.round(frac * width);
      const line = `${b.label.padEnd(20).slice(0, 20)} [${'='.repeat(fill)}${' '.repeat(width - fill)}] ${fmtBytes(b.done)}/${fmtBytes(b.total)}${b.note ? ` ${b.note}` : ''}`;
      s += `\x1b[2K${line}\n`;
    }
    this.drawn = this.bars.length;
    this.out.write(s);
  }

  /** Final redraw; call before printing anything else. */
  stop(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.bars.length) this.draw();
  }
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)}${u[i]}`;
}

/** Run async jobs with at most `limit` in flight; first error rejects after the others settle. */
export async function parallel<T>(items: T[], limit: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let firstErr: unknown;
  const worker = async () => {
    while (next < items.length && firstErr === undefined) {
      const i = next++;
      try {
        await fn(items[i], i);
      } catch (e) {
        if (firstErr === undefined) firstErr = e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstErr !== undefined) throw firstErr;
}
