import * as fs from 'fs';
import * as tty from 'tty';
import { AF_UNIX, SOCK_STREAM, SOCK_CLOEXEC, TIOCSWINSZ, type Sys } from '@tsrt/libc';
import { exitThroughNode } from './process-exit';

/** How long input waits before it tries a full pty again. */
const RETRY_MS = 10;

/**
 * Foreground `run`/`exec` with process.terminal and no --console-socket: like runc, we are the
 * console. The runtime's side sends the pty master over a socketpair; we copy stdin to it and
 * it to stdout, with our terminal in raw mode and its size passed on (also on SIGWINCH).
 *
 * Nothing here waits on libuv's pool: the in-process create and exec leave it one thread (see
 * cli/main.ts), and a read of the master would hold it for good. So the master is non-blocking:
 * read on the event loop (a tty handle), written at once, and input that finds it full waits
 * for a timer with stdin paused.
 */
export class TerminalProxy {
  readonly childEnd: number;
  private ourEnd: number;
  private master = -1;
  /** Owns the master once started: destroying it closes the fd. */
  private output: tty.ReadStream | null = null;
  /** A second fd of the master, to read what the stream left when it ended (drainTail). */
  private tail = -1;
  private pending: Buffer[] = [];
  private retry: NodeJS.Timeout | null = null;
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
    sys.setNonblock(this.master, true);
    this.tail = sys.dup(this.master);
    sys.setCloexec(this.tail, true);
    const output = new tty.ReadStream(this.master);
    this.output = output;
    output.on('close', () => (this.master = -1));
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
    const onInput = (d: Buffer) => {
      this.pending.push(d);
      this.flush();
    };
    process.stdin.on('data', onInput);
    this.cleanup.push(() => process.stdin.off('data', onInput));
    this.cleanup.push(() => process.stdin.pause());
    return new Promise((resolve) => {
      output.on('data', (d) => process.stdout.write(d));
      // The end (EIO, or POLLHUP after a short read): every slave is closed, the container side is gone.
      const ended = () => {
        this.drainTail();
        resolve();
      };
      output.on('error', ended);
      output.on('end', ended);
    });
  }

  /** Write what input is pending; on a full pty, pause stdin and try again later. */
  private flush(): void {
    this.retry = null;
    while (this.pending.length > 0 && this.master >= 0) {
      const chunk = this.pending[0];
      let n: number;
      try {
        n = fs.writeSync(this.master, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') {
          this.pending = []; // the container side is gone
          return;
        }
        process.stdin.pause();
        this.retry = setTimeout(() => this.flush(), RETRY_MS);
        return;
      }
      if (n < chunk.length) this.pending[0] = chunk.subarray(n);
      else this.pending.shift();
    }
    if (this.master >= 0) process.stdin.resume();
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

  /**
   * What the process wrote last, which the stream may not have read. libuv ends a stream on
   * POLLHUP when its last read was short, without reading again: right for a pipe, but a pty
   * master reports POLLHUP once every slave is closed while the kernel still moves the slave's
   * last writes into it (its line discipline takes 4 KiB at a time). The whole tail of a burst
   * written just before exit was lost so. Every slave is closed by now: reads return what is
   * left, then EIO.
   */
  private drainTail(): void {
    if (this.tail < 0) return;
    readRest(this.tail, (b) => process.stdout.write(b));
    fs.closeSync(this.tail);
    this.tail = -1;
  }

  stop(): void {
    for (const c of this.cleanup.splice(0)) c();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.pending = [];
    this.master = -1;
    this.output?.destroy();
    this.output = null;
    if (this.tail >= 0) fs.closeSync(this.tail);
    this.tail = -1;
  }
}

/**
 * At the end, the kernel holds at most its tty buffers: the master's flip buffer (640 KiB in
 * current kernels, 64 KiB in older ones) and 4 KiB of line discipline. Past that, a process of the
 * container opened the slave again and writes on: the synchronous read stops there, or it would
 * hold the command (and its signal forwarding) for good.
 */
export const TAIL_LIMIT = 4 << 20;

/** Read `fd` (non-blocking) until EOF, an error (EIO, EAGAIN) or `limit` bytes; each chunk to `write`. */
export function readRest(fd: number, write: (chunk: Buffer) => void, limit = TAIL_LIMIT): number {
  const buf = Buffer.alloc(65536);
  let total = 0;
  try {
    while (total < limit) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, limit - total), null);
      if (n <= 0) break;
      write(Buffer.from(buf.subarray(0, n)));
      total += n;
    }
  } catch {
    /* EIO once all is read (EAGAIN only if a slave was opened again meanwhile) */
  }
  return total;
}
