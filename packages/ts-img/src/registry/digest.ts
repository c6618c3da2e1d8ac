export { digestOf } from '../digest';

const SHA256 = /^sha256:[a-f0-9]{64}$/;
const SHA512 = /^sha512:[a-f0-9]{128}$/;

/** Only well-formed sha256/sha512 digests ever become paths or URLs. */
export function isValidDigest(d: unknown): d is string {
  return typeof d === 'string' && (SHA256.test(d) || SHA512.test(d));
}

export function assertDigest(d: unknown, what = 'digest'): string {
  if (!isValidDigest(d)) throw new Error(`invalid ${what} ${JSON.stringify(d)}`);
  return d;
}

export function algorithmOf(d: string): 'sha256' | 'sha512' {
  return d.startsWith('sha512:') ? 'sha512' : 'sha256';
}

export class DigestMismatchError extends Error {
  constructor(public expected: string, public actual: string, what = 'blob') {
    super(`${what} digest mismatch: expected ${expected}, got ${actual}`);
    this.name = 'DigestMismatchError';
  }
}
