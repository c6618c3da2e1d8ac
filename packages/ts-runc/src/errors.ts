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

/** The prefix runc puts before every error of its init (engines match the text after it). */
export const INIT_FAILED = 'unable to start container process: ';

/** Go's texts for errno values (runc prints these; engines match them: "permission denied"...). */
const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted', ENOENT: 'no such file or directory', ESRCH: 'no such process',
  EINTR: 'interrupted system call', EIO: 'input/output error', ENXIO: 'no such device or address',
  E2BIG: 'argument list too long', ENOEXEC: 'exec format error', EBADF: 'bad file descriptor',
  ECHILD: 'no child processes', EAGAIN: 'resource temporarily unavailable', ENOMEM: 'cannot allocate memory',
  EACCES: 'permission denied', EFAULT: 'bad address', EBUSY: 'device or resource busy', EEXIST: 'file exists',
  EXDEV: 'invalid cross-device link', ENODEV: 'no such device', ENOTDIR: 'not a directory', EISDIR: 'is a directory',
  EINVAL: 'invalid argument', ENFILE: 'too many open files in system', EMFILE: 'too many open files',
  ENOTTY: 'inappropriate ioctl for device', ETXTBSY: 'text file busy', EFBIG: 'file too large',
  ENOSPC: 'no space left on device', ESPIPE: 'illegal seek', EROFS: 'read-only file system', EMLINK: 'too many links',
  EPIPE: 'broken pipe', ERANGE: 'numerical result out of range', EDEADLK: 'resource deadlock avoided',
  ENAMETOOLONG: 'file name too long', ENOLCK: 'no locks available', ENOSYS: 'function not implemented',
  ENOTEMPTY: 'directory not empty', ELOOP: 'too many levels of symbolic links', ENODATA: 'no data available',
  EOVERFLOW: 'value too large for defined data type', ENOTSOCK: 'socket operation on non-socket',
  EOPNOTSUPP: 'operation not supported', ENOTSUP: 'operation not supported', EADDRINUSE: 'address already in use',
  ECONNRESET: 'connection reset by peer', ENOTCONN: 'transport endpoint is not connected',
  ETIMEDOUT: 'connection timed out', ECONNREFUSED: 'connection refused', EDQUOT: 'disk quota exceeded',
  ECANCELED: 'operation canceled', EOWNERDEAD: 'owner died',
};

/**
 * A message as runc would word it: errno names (EPERM, ENOTDIR) become their texts. One place
 * for every error a user or an engine sees: Docker adds its "mount a directory onto a file"
 * hint on "not a directory", podman maps "permission denied"/"operation not permitted" to its
 * OCI permission error.
 */
export function withErrnoTexts(msg: string): string {
  return msg.replace(/\bE[A-Z0-9]{2,}\b/g, (name) => ERRNO_TEXT[name] ?? name);
}
