/**
 * An error meant for the user: its message is printed as the one-line reason, exactly as given.
 * Messages that orchestrators match (e.g. "container does not exist") equal runc's texts.
 */
export class RuntimeError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'RuntimeError';
    this.exitCode = exitCode;
  }
}

export const ERR_NOT_EXIST = 'container does not exist';
export const ERR_EXISTS = 'container with given ID already exists';
export const ERR_NOT_RUNNING = 'container not running';

/** The one-line text of any thrown value (never a stack). */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0] || e.name;
  return String(e);
}
