import type { Readable } from 'stream';
import type { Descriptor, ImageIndex } from '@tsrt/oci-spec';

/**
 * What every image source (layout dir, oci-archive, docker-archive, registry) offers: a top-level
 * index (index.json, or one synthesised from a docker manifest.json) and blob access by
 * descriptor. Blob streams are raw and unverified: callers verify size and digest as they read.
 */
export interface ImageSource {
  readonly kind: string;
  /** Human-readable name for messages. */
  readonly name: string;
  index(): Promise<ImageIndex>;
  /** Raw bytes of a blob (stream). Throws when the blob is absent. */
  openBlob(desc: Descriptor): Promise<Readable>;
  /** True when the blob is present. */
  hasBlob(desc: Descriptor): Promise<boolean>;
  close(): Promise<void>;
  /** Optional: the tag/digest given with the source ("dir:tag"). */
  readonly ref?: string;
  /** Where a blob's bytes lie in a local file, when they do (lets a worker thread read it). */
  blobFile?(desc: Descriptor): Promise<{ file: string; start: number; length: number } | null>;
  /** Docker archives: layers stored uncompressed or gzip, detected by magic rather than media type. */
  readonly sniffCompression?: boolean;
}

/** Cap for JSON blobs (manifests, indexes, configs). */
export const MAX_JSON_BLOB = 8 << 20;
