/**
 * TypeScript types for the OCI image-spec (descriptor, manifest, index, config, layout) and the
 * Docker v2 schema 2 equivalents, plus media-type constants.
 * Written from image-spec descriptor.md, manifest.md, image-index.md, config.md, image-layout.md.
 */

// ---------------------------------------------------------------------------------------------
// Media types
// ---------------------------------------------------------------------------------------------

export const MediaType = {
  // OCI
  Descriptor: 'application/vnd.oci.descriptor.v1+json',
  LayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ImageIndex: 'application/vnd.oci.image.index.v1+json',
  ImageManifest: 'application/vnd.oci.image.manifest.v1+json',
  ImageConfig: 'application/vnd.oci.image.config.v1+json',
  Empty: 'application/vnd.oci.empty.v1+json',
  Layer: 'application/vnd.oci.image.layer.v1.tar',
  LayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  LayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated by the image-spec but still accepted. */
  LayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  LayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  LayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',

  // Docker image manifest v2, schema 2
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Uncompressed Docker layer (seen from some tools). */
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  /** Non-distributable ("foreign") Docker layer. */
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerPluginConfig: 'application/vnd.docker.plugin.v1+json',
  /** Docker v2 schema 1 (not supported for unpacking; listed so it can be recognised). */
  DockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** Media types of a manifest (single platform). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ImageManifest, MediaType.DockerManifest];
/** Media types of an index / manifest list. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ImageIndex, MediaType.DockerManifestList];
/** Media types of an image config. */
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.ImageConfig, MediaType.DockerConfig];

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerMediaTypeInfo {
  compression: LayerCompression;
  nonDistributable: boolean;
  docker: boolean;
}

const LAYER_INFO: Record<string, LayerMediaTypeInfo> = {
  [MediaType.Layer]: { compression: 'none', nonDistributable: false, docker: false },
  [MediaType.LayerGzip]: { compression: 'gzip', nonDistributable: false, docker: false },
  [MediaType.LayerZstd]: { compression: 'zstd', nonDistributable: false, docker: false },
  [MediaType.LayerNonDistributable]: { compression: 'none', nonDistributable: true, docker: false },
  [MediaType.LayerNonDistributableGzip]: { compression: 'gzip', nonDistributable: true, docker: false },
  [MediaType.LayerNonDistributableZstd]: { compression: 'zstd', nonDistributable: true, docker: false },
  [MediaType.DockerLayerGzip]: { compression: 'gzip', nonDistributable: false, docker: true },
  [MediaType.DockerLayer]: { compression: 'none', nonDistributable: false, docker: true },
  [MediaType.DockerForeignLayerGzip]: { compression: 'gzip', nonDistributable: true, docker: true },
};

/** Known layer media types (OCI and Docker). */
export const LAYER_MEDIA_TYPES: readonly string[] = Object.keys(LAYER_INFO);

/** Compression etc. of a known layer media type; undefined when it is not a known layer type. */
export function layerMediaTypeInfo(mediaType: string): LayerMediaTypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(LAYER_INFO, mediaType) ? LAYER_INFO[mediaType] : undefined;
}

export function isManifestMediaType(mt: string | undefined): boolean {
  return mt !== undefined && MANIFEST_MEDIA_TYPES.includes(mt);
}
export function isIndexMediaType(mt: string | undefined): boolean {
  return mt !== undefined && INDEX_MEDIA_TYPES.includes(mt);
}

// ---------------------------------------------------------------------------------------------
// Descriptor and platform
// ---------------------------------------------------------------------------------------------

/** "algorithm:encoded", e.g. sha256:<64 lowercase hex>. */
export type Digest = string;

export interface Platform {
  /** GOARCH values: amd64, arm64, arm, 386, ppc64le, s390x, riscv64, ... */
  architecture: string;
  /** GOOS values: linux, windows, ... */
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  /** e.g. v7, v8 */
  variant?: string;
  /** reserved */
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  /** int64 bytes */
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** base64 embedded content */
  data?: string;
  artifactType?: string;
  /** only meaningful in an index's manifests[] */
  platform?: Platform;
}

// ---------------------------------------------------------------------------------------------
// Manifest, index, layout
// ---------------------------------------------------------------------------------------------

export interface ImageManifest {
  /** Must be 2. */
  schemaVersion: 2;
  /** application/vnd.oci.image.manifest.v1+json (or Docker's manifest v2 type) */
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Docker manifest list is an index with the Docker media type. */
export type DockerManifestList = ImageIndex;
/** Docker manifest v2 schema 2 has the same shape as an OCI manifest (mediaType required). */
export type DockerManifest = ImageManifest & { mediaType: string };

/** oci-layout file. */
export interface ImageLayout {
  imageLayoutVersion: string; // "1.0.0"
}

export const IMAGE_LAYOUT_VERSION = '1.0.0';

/** Well-known annotation keys. */
export const Annotations = {
  RefName: 'org.opencontainers.image.ref.name',
  Created: 'org.opencontainers.image.created',
  Authors: 'org.opencontainers.image.authors',
  Url: 'org.opencontainers.image.url',
  Documentation: 'org.opencontainers.image.documentation',
  Source: 'org.opencontainers.image.source',
  Version: 'org.opencontainers.image.version',
  Revision: 'org.opencontainers.image.revision',
  Vendor: 'org.opencontainers.image.vendor',
  Licenses: 'org.opencontainers.image.licenses',
  Title: 'org.opencontainers.image.title',
  Description: 'org.opencontainers.image.description',
  BaseDigest: 'org.opencontainers.image.base.digest',
  BaseName: 'org.opencontainers.image.base.name',
  /** containerd / docker use this for the tag in index.json */
  ContainerdImageName: 'io.containerd.image.name',
  /** conversion.md: exposed ports annotation */
  ExposedPorts: 'org.opencontainers.image.exposedPorts',
  StopSignal: 'org.opencontainers.image.stopSignal',
} as const;

// ---------------------------------------------------------------------------------------------
// Image config
// ---------------------------------------------------------------------------------------------

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The execution parameters ("config" field) of an image config. */
export interface ImageExecConfig {
  /** user, uid, user:group, uid:gid, uid:group, user:gid */
  User?: string;
  /** keys "port/tcp", "port/udp", "port"; values are empty objects */
  ExposedPorts?: Record<string, Record<string, never> | object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never> | object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Windows / Docker only */
  ArgsEscaped?: boolean;
  /** Docker extensions seen in the wild */
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  [extra: string]: unknown;
}

export interface RootFS {
  /** Must be "layers". */
  type: 'layers' | string;
  /** diff_ids: digests of the uncompressed layer tars, in order. */
  diff_ids: Digest[];
}

export interface History {
  /** RFC 3339 */
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  /** RFC 3339 */
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ImageExecConfig;
  rootfs: RootFS;
  history?: History[];
  [extra: string]: unknown;
}
