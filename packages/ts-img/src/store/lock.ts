/**
 * flock(2)-based locks on files under <layout>/.ts-img/. Non-blocking attempts polled on a timer
 * so the event loop keeps running. Shared for pulls/pushes, exclusive for index updates and gc.
 */
import fs from 'node:fs';
import { libc } from '@tsrt/libc';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

export interface Lock {
  release(): void;
}

export async function lockFile(path: string, exclusive: boolean, timeoutMs = 120_000): Promise<Lock> {
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  const sys = libc();
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      sys.flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
      break;
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as { errno?: string }).errno;
      if (!/EWOULDBLOCK|EAGAIN/.test(String(code)) && !/EWOULDBLOCK|EAGAIN|temporarily unavailable/i.test((e as Error).message)) {
        fs.closeSync(fd);
        throw e;
      }
      if (Date.now() > deadline) {
        fs.closeSync(fd);
        throw new Error(`timed out waiting for lock ${path}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 200);
    }
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        sys.flock(fd, LOCK_UN);
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}

export async function withLock<T>(path: string, exclusive: boolean, fn: () => Promise<T> | T): Promise<T> {
  const l = await lockFile(path, exclusive);
  try {
    return await fn();
  } finally {
    l.release();
  }
}
