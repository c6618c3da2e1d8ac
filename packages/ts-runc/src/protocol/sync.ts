import * as fs from 'fs';
import { POLLIN, POLLHUP, type Sys } from '@tsrt/libc';

/**
 * Newline-delimited JSON messages over the socketpair between the runtime and stage 2.
 * Both sides use blocking reads; the parent bounds every wait with poll() so a hung or dead
 * stage 2 turns into an error, never a command that waits forever.
 */
export class SyncChannel {
  private buf = '';
  constructor(private sys: Sys, readonly fd: number) {}

  send(msg: object): void {
    const data = Buffer.from(JSON.stringify(msg) + '\n');
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off);
  }

  /** Next message, or null on EOF. timeoutMs < 0 waits without limit. */
  recv(timeoutMs = -1, what = 'message'): Record<string, any> | null {
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return JSON.parse(line);
      }
      if (timeoutMs >= 0) {
        const ready = this.sys.poll([{ fd: this.fd, events: POLLIN | POLLHUP }], timeoutMs);
        if (!ready) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      let n: number;
      try {
        n = fs.readSync(this.fd, chunk, 0, chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN' || (e as NodeJS.ErrnoException).code === 'EINTR') continue;
        if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') return null;
        throw e;
      }
      if (n === 0) return null;
      this.buf += chunk.toString('utf8', 0, n);
    }
  }

  /** A whole message has been read already (recv returns it without touching the fd). */
  hasMessage(): boolean {
    return this.buf.includes('\n');
  }

  /** Send `{type, ...fields}` and wait (without limit: stage 2 side) for the reply; false if another came, or EOF. */
  ask(type: string, reply: string, fields: Record<string, unknown> = {}): boolean {
    this.send({ ...fields, type });
    return this.recv()?.type === reply;
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
