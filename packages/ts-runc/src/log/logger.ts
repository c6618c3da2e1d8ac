import * as fs from 'fs';

export type LogFormat = 'text' | 'json';
export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface LoggerOptions {
  file?: string;
  format: LogFormat;
  debug: boolean;
}

/** RFC 3339 in UTC without fractions, as logrus prints by default. */
function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** A string as logrus' text formatter would print it: bare when safe, else quoted. */
function logrusQuote(s: string): string {
  return /^[A-Za-z0-9\-._/@^+]+$/.test(s) ? s : JSON.stringify(s);
}

/**
 * runc-compatible logging: `--log FILE --log-format json` writes {"level","msg","time"} lines
 * (containerd reads the last error line); text is logrus' `time=... level=... msg=...`.
 * Without --log, log lines go to stderr, as runc's do.
 */
export class Logger {
  private fd = 2;
  private opts: LoggerOptions;
  constructor(opts: LoggerOptions) {
    this.opts = opts;
    if (opts.file) {
      try {
        this.fd = fs.openSync(opts.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o644);
      } catch (e) {
        this.fd = 2;
        this.opts = { ...opts, file: undefined };
        this.error(`failed to open log file ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
      }
    }
  }

  get toStderr(): boolean {
    return this.fd === 2;
  }

  line(level: Level, msg: string): string {
    if (this.opts.format === 'json') return JSON.stringify({ level, msg, time: timestamp() }) + '\n';
    return `time="${timestamp()}" level=${level} msg=${logrusQuote(msg)}\n`;
  }

  private write(level: Level, msg: string): void {
    try {
      fs.writeSync(this.fd, this.line(level, msg));
    } catch {
      // Logging must never turn into a second failure.
    }
  }

  debug(msg: string): void {
    if (this.opts.debug) this.write('debug', msg);
  }
  info(msg: string): void {
    this.write('info', msg);
  }
  warn(msg: string): void {
    this.write('warning', msg);
  }
  error(msg: string): void {
    this.write('error', msg);
  }

  /** Report a fatal error like runc: to the log, and as plain text on stderr when the log is a file. */
  fatal(msg: string): void {
    this.error(msg);
    if (!this.toStderr) {
      try {
        fs.writeSync(2, msg + '\n');
      } catch {
        /* stderr closed */
      }
    }
  }
}
