/** A one-line progress display on a terminal; silent otherwise. */
export class Progress {
  private last = 0;
  private shown = false;
  // process.stderr is made on first use, and for a pipe that loads net and streams (~4 ms,
  // measured): a quiet run never touches it
  constructor(private readonly enabled: boolean, private readonly out?: NodeJS.WriteStream) {}

  static auto(quiet?: boolean): Progress {
    return new Progress(!quiet && !!process.stderr.isTTY);
  }

  update(label: string, done: number, total: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, ' ');
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    (this.out ?? process.stderr).write(`\r${label} [${bar}] ${mb(done)}/${mb(total)} MB\x1b[K`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) (this.out ?? process.stderr).write('\r\x1b[K');
    this.shown = false;
  }
}
