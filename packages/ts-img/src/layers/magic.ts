/**
 * What a layer blob really is, from its first bytes, checked against what its media type
 * declares: a blob declared zstd that holds gzip (or xz) is refused with one line naming the
 * layer, instead of being decompressed by whatever happens to accept it.
 */
export type Magic = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

export function sniffMagic(first: Buffer | undefined): Magic {
  if (!first || first.length === 0) return 'none';
  if (first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b) return 'gzip';
  if (first.length >= 4) {
    const m = first.readUInt32LE(0);
    // a zstd frame, or a skippable frame (0x184D2A50-5F) that zstd -d passes over
    if (m === 0xfd2fb528 || (m & 0xfffffff0) === 0x184d2a50) return 'zstd';
  }
  if (first.length >= 6 && first.subarray(0, 6).equals(XZ)) return 'xz';
  if (first.length >= 3 && first[0] === 0x42 && first[1] === 0x5a && first[2] === 0x68) return 'bzip2';
  return 'none';
}

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/**
 * The compression to decompress with. `declared` is from the media type, or 'sniff' (docker
 * save tarballs, whose layers carry no trustworthy media type). Throws on a mismatch.
 */
export function checkMagic(declared: 'gzip' | 'zstd' | 'none' | 'sniff', first: Buffer | undefined, what: string, mediaType: string | undefined): 'gzip' | 'zstd' | 'none' {
  const got = sniffMagic(first);
  if (declared === 'sniff') {
    if (got === 'xz' || got === 'bzip2') throw new Error(`${what}: the blob is ${got}-compressed, which layers cannot be`);
    return got;
  }
  if (!first || first.length === 0) return declared; // empty blob: the decompressor or tar reader says what is wrong
  if (got !== declared) {
    const is = got === 'none' ? 'not compressed' : `${got}-compressed`;
    const says = declared === 'none' ? 'uncompressed' : declared;
    throw new Error(`${what}: media type ${mediaType ?? '(none)'} declares ${says}, but the blob is ${is}`);
  }
  return declared;
}
