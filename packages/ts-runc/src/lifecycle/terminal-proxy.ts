import * as fs from 'fs';
import * as tty from 'tty';
import { AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC, TIOCSWINSZ, type Sys } from '@tsrt/libc';
import { exitThroughNode } from './process-exit';

/**
 * Foreground `run`/`exec` with process.terminal and no --console-socket: like runc, we are the
 * console. Stage 2 sends the pty master over a socketpair; we copy stdin to it and it to
 * stdout, with our terminal in raw mode and its size passed on (also on SIGWINCH).
 */
export class TerminalProxy {
  readonly childEnd: number;
  private ourEnd: number;
  private master = -1;
  private cleanup: Array<() => void> = [];

  constructor(private sys: Sys) {
    [this.ourEnd, this.childEnd] = sys.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC);
  }

  /** After create: take the master from the socket and start copying. */
  start(): Promise<void> {
    const { sys } = this;
    sys.close(this.childEnd);
    const { fds } = sys.recvFds(this.ourEnd, 256, 1);
    sys.close(this.ourEnd);
    if (fds.length !== 1) throw new Error('console: no pty master received from the container init');
    this.master = fds[0];
    this.resize();
    const onWinch = () => this.resize();
    process.on('SIGWINCH', onWinch);
    this.cleanup.push(() => process.off('SIGWINCH', onWinch));
    // Our stdin's modes (raw, non-blocking) change: Node's exit puts them back.
    exitThroughNode();
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      this.cleanup.push(() => process.stdin.setRawMode(false));
    }
    const input = fs.createWriteStream('', { fd: this.master, autoClose: false });
    process.stdin.pipe(input);
    this.cleanup.push(() => process.stdin.unpipe(input));
    this.cleanup.push(() => process.stdin.pause());
    const output = fs.createReadStream('', { fd: this.master, autoClose: false, highWaterMark: 16384 });
    return new Promise((resolve) => {
      output.on('data', (d) => process.stdout.write(d));
      // EIO: every slave is closed, the container side is gone.
      output.on('error', () => resolve());
      output.on('end', () => resolve());
    });
  }

  private resize(): void {
    const out = process.stdout as tty.WriteStream;
    if (!out.isTTY || this.master < 0) return;
    const ws = Buffer.alloc(8);
    ws.writeUInt16LE(out.rows, 0);
    ws.writeUInt16LE(out.columns, 2);
    try {
      this.sys.ioctlPtr(this.master, TIOCSWINSZ, ws);
    } catch {
      /* closed */
    }
  }

  stop(): void {
    for (const c of this.cleanup.splice(0)) c();
    if (this.master >= 0) {
      try {
        this.sys.close(this.master);
      } catch {
        /* already closed */
      }
      this.master = -1;
    }
  }
}
