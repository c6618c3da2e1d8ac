/**
 * An error meant for the user: printed as one line "ts-img: <message>", exit status 1.
 * Any other error is printed the same way (message only, never a stack trace).
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** One-line message for any thrown value. */
export function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s*\n\s*/g, '; ');
}
