import type { Hash } from 'crypto';
import { sha256Hex } from './sha256';

/**
 * Below this size sha256 is hashed in JS (sha256.ts) while node:crypto is not loaded: cheaper
 * than loading it (~6 ms) up to about here (measured); once loaded, node:crypto is the faster.
 */
const SMALL = 4 << 10;

let nodeCrypto: typeof import('crypto') | undefined;

/**
 * Whether node:crypto is loaded, by this module or by any other (the registry client and the blob
 * writers import it at their top): Node lists every builtin it has loaded in moduleLoadList.
 * Without that list, node:crypto (the JS hash only saves start-up time).
 */
function cryptoLoaded(): boolean {
  if (nodeCrypto) return true;
  const loaded = (process as { moduleLoadList?: readonly string[] }).moduleLoadList;
  return loaded?.includes('NativeModule crypto') ?? true;
}

function createHash(alg: string): Hash {
  nodeCrypto ??= require('crypto') as typeof import('crypto');
  return nodeCrypto.createHash(alg);
}

const DIGEST_RE: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  encoded: string;
}

/** Validate a digest string before it is ever used as a path (CVE-2024-3727 class). */
export function parseDigest(d: unknown, where = 'digest'): ParsedDigest {
  if (typeof d !== 'string') throw new Error(`${where}: missing or not a string`);
  const i = d.indexOf(':');
  const alg = i > 0 ? d.slice(0, i) : '';
  const enc = d.slice(i + 1);
  const re = DIGEST_RE[alg];
  if (!re || !re.test(enc)) throw new Error(`${where}: invalid digest ${JSON.stringify(d.length > 140 ? d.slice(0, 140) + '...' : d)}`);
  return { algorithm: alg as ParsedDigest['algorithm'], encoded: enc };
}

export function isDigest(d: unknown): boolean {
  try {
    parseDigest(d);
    return true;
  } catch {
    return false;
  }
}

export function hasher(d: ParsedDigest): Hash {
  return createHash(d.algorithm);
}

export function digestOf(data: Buffer | string, alg: 'sha256' | 'sha512' = 'sha256'): string {
  if (alg === 'sha256' && Buffer.byteLength(data) < SMALL && !cryptoLoaded()) return `sha256:${sha256Hex(data)}`;
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}
