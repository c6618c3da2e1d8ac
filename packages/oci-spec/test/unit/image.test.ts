import { validate, MediaType, layerMediaTypeInfo, LAYER_MEDIA_TYPES, isIndexMediaType, isManifestMediaType } from '../../src';
import { errorsOf, fixture, InvalidCase, Json, runInvalidCases } from '../helpers';

const SHA = 'sha256:' + 'a'.repeat(64);

describe('valid image documents', () => {
  test.each([
    ['image-manifest', 'image/umoci-manifest.json'],
    ['image-manifest', 'image/docker-manifest.json'],
    ['image-manifest', 'image/oci-artifact-manifest.json'],
    ['image-index', 'image/umoci-index.json'],
    ['image-index', 'image/docker-manifest-list.json'],
    ['image-index', 'image/oci-index-multi.json'],
    ['image-config', 'image/umoci-config.json'],
    ['image-config', 'image/docker-config.json'],
    ['image-layout', 'image/umoci-oci-layout.json'],
  ] as const)('%s %s', (kind, f) => {
    expect(errorsOf(kind, fixture(f))).toEqual([]);
  });

  test('content descriptors', () => {
    expect(validate('content-descriptor', { mediaType: MediaType.LayerGzip, digest: SHA, size: 0 })).toEqual({ ok: true });
    expect(validate('content-descriptor', { mediaType: 'application/vnd.example+json', digest: 'sha512:' + 'f'.repeat(128), size: 9007199254740991 })).toEqual({ ok: true });
    // Unregistered algorithms only need the general grammar.
    expect(validate('content-descriptor', { mediaType: 'a/b', digest: 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8', size: 1 })).toEqual({ ok: true });
    expect(validate('content-descriptor', { mediaType: 'a/b', digest: 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564', size: 1 })).toEqual({ ok: true });
  });

  test('minimal manifest, index and config', () => {
    expect(validate('image-manifest', { schemaVersion: 2, config: { mediaType: MediaType.ImageConfig, digest: SHA, size: 2 }, layers: [] })).toEqual({ ok: true });
    expect(validate('image-index', { schemaVersion: 2, manifests: [] })).toEqual({ ok: true });
    expect(validate('image-config', { architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [SHA] } })).toEqual({ ok: true });
  });
});

describe('invalid image manifests', () => {
  const base = (): Json => fixture('image/docker-manifest.json');
  const cases: InvalidCase[] = [
    { name: 'schemaVersion 1', mutate: (d) => (d.schemaVersion = 1), error: 'schemaVersion: must be 2' },
    { name: 'schemaVersion missing', mutate: (d) => delete d.schemaVersion, error: 'schemaVersion: is required' },
    { name: 'unknown manifest mediaType', mutate: (d) => (d.mediaType = 'application/vnd.oci.image.index.v1+json'), error: 'mediaType: must be one of application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    { name: 'config missing', mutate: (d) => delete d.config, error: 'config: is required' },
    { name: 'layers missing', mutate: (d) => delete d.layers, error: 'layers: is required' },
    { name: 'layers not array', mutate: (d) => (d.layers = {}), error: 'layers: must be array' },
    { name: 'config digest missing', mutate: (d) => delete d.config.digest, error: 'config.digest: is required' },
    { name: 'config size missing', mutate: (d) => delete d.config.size, error: 'config.size: is required' },
    { name: 'layer mediaType missing', mutate: (d) => delete d.layers[0].mediaType, error: 'layers[0].mediaType: is required' },
    { name: 'bad digest grammar', mutate: (d) => (d.layers[0].digest = 'sha256-abc'), error: 'layers[0].digest: must be a digest algorithm:encoded, e.g. sha256:<64 hex digits>' },
    { name: 'digest with upper-case algorithm', mutate: (d) => (d.layers[0].digest = 'SHA256:' + 'a'.repeat(64)), error: 'layers[0].digest: must be a digest algorithm:encoded, e.g. sha256:<64 hex digits>' },
    { name: 'sha256 too short', mutate: (d) => (d.layers[0].digest = 'sha256:abc'), error: 'layers[0].digest: must be sha256: followed by 64 lowercase hex digits' },
    { name: 'sha256 upper-case hex', mutate: (d) => (d.layers[1].digest = 'sha256:' + 'A'.repeat(64)), error: 'layers[1].digest: must be sha256: followed by 64 lowercase hex digits' },
    { name: 'sha512 wrong length', mutate: (d) => (d.config.digest = 'sha512:' + 'a'.repeat(64)), error: 'config.digest: must be sha512: followed by 128 lowercase hex digits' },
    { name: 'digest path traversal', mutate: (d) => (d.config.digest = 'sha256:../../etc/passwd'), error: 'config.digest: must be a digest algorithm:encoded, e.g. sha256:<64 hex digits>' },
    { name: 'negative size', mutate: (d) => (d.layers[0].size = -1), error: 'layers[0].size: must be >= 0' },
    { name: 'size not integer', mutate: (d) => (d.layers[0].size = '12'), error: 'layers[0].size: must be integer' },
    { name: 'bad layer mediaType', mutate: (d) => (d.layers[0].mediaType = 'tar.gz'), error: 'layers[0].mediaType: must be a media type type/subtype (RFC 6838)' },
    { name: 'urls not strings', mutate: (d) => (d.layers[1].urls = [1]), error: 'layers[1].urls[0]: must be string' },
    { name: 'url without scheme', mutate: (d) => (d.layers[1].urls = ['example.com/x']), error: 'layers[1].urls[0]: must be a URL' },
    { name: 'annotations value', mutate: (d) => (d.annotations = { 'org.opencontainers.image.created': 5 }), error: 'annotations["org.opencontainers.image.created"]: must be string' },
    { name: 'descriptor data not base64', mutate: (d) => (d.config.data = 'not base64!'), error: 'config.data: must be base64 (standard alphabet, padded)' },
    { name: 'subject not a descriptor', mutate: (d) => (d.subject = { mediaType: 'a/b' }), error: 'subject.digest: is required' },
    { name: 'empty config without artifactType', mutate: (d) => (d.config.mediaType = MediaType.Empty), error: 'artifactType: is required' },
  ];
  runInvalidCases('image-manifest', base, cases);
});

describe('invalid image indexes', () => {
  const base = (): Json => fixture('image/oci-index-multi.json');
  const cases: InvalidCase[] = [
    { name: 'manifests missing', mutate: (d) => delete d.manifests, error: 'manifests: is required' },
    { name: 'schemaVersion string', mutate: (d) => (d.schemaVersion = '2'), error: 'schemaVersion: must be 2' },
    { name: 'index mediaType', mutate: (d) => (d.mediaType = MediaType.ImageManifest), error: 'mediaType: must be one of application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' },
    { name: 'platform without os', mutate: (d) => delete d.manifests[0].platform.os, error: 'manifests[0].platform.os: is required' },
    { name: 'platform architecture empty', mutate: (d) => (d.manifests[0].platform.architecture = ''), error: 'manifests[0].platform.architecture: must not be empty' },
    { name: 'platform os.features', mutate: (d) => (d.manifests[0].platform['os.features'] = 'win32k'), error: 'manifests[0].platform["os.features"]: must be array' },
    { name: 'manifest digest', mutate: (d) => (d.manifests[1].digest = 'sha512:xyz'), error: 'manifests[1].digest: must be sha512: followed by 128 lowercase hex digits' },
    { name: 'manifest artifactType', mutate: (d) => (d.manifests[2].artifactType = 'sbom'), error: 'manifests[2].artifactType: must be a media type type/subtype (RFC 6838)' },
    { name: 'annotations not object', mutate: (d) => (d.annotations = ['a']), error: 'annotations: must be object' },
  ];
  runInvalidCases('image-index', base, cases);
});

describe('invalid image configs', () => {
  const base = (): Json => fixture('image/docker-config.json');
  const cases: InvalidCase[] = [
    { name: 'architecture missing', mutate: (d) => delete d.architecture, error: 'architecture: is required' },
    { name: 'os missing', mutate: (d) => delete d.os, error: 'os: is required' },
    { name: 'rootfs missing', mutate: (d) => delete d.rootfs, error: 'rootfs: is required' },
    { name: 'rootfs type', mutate: (d) => (d.rootfs.type = 'layer'), error: 'rootfs.type: must be "layers"' },
    { name: 'diff_ids missing', mutate: (d) => delete d.rootfs.diff_ids, error: 'rootfs.diff_ids: is required' },
    { name: 'diff_id digest', mutate: (d) => (d.rootfs.diff_ids[0] = 'sha256:1234'), error: 'rootfs.diff_ids[0]: must be sha256: followed by 64 lowercase hex digits' },
    { name: 'created not RFC 3339', mutate: (d) => (d.created = 'yesterday'), error: 'created: must be an RFC 3339 date-time such as 2024-01-02T03:04:05Z' },
    { name: 'Env not array', mutate: (d) => (d.config.Env = 'A=b'), error: 'config.Env: must be array or null' },
    { name: 'Cmd item', mutate: (d) => (d.config.Cmd = ['/bin/sh', 1]), error: 'config.Cmd[1]: must be string' },
    { name: 'ExposedPorts key', mutate: (d) => (d.config.ExposedPorts = { 'http/tcp': {} }), error: 'config.ExposedPorts["http/tcp"]: key must be a port such as 80/tcp, 53/udp or 8080' },
    { name: 'Labels value', mutate: (d) => (d.config.Labels = { a: 1 }), error: 'config.Labels.a: must be string' },
    { name: 'User type', mutate: (d) => (d.config.User = 0), error: 'config.User: must be string' },
    { name: 'history entry', mutate: (d) => (d.history[1].empty_layer = 'true'), error: 'history[1].empty_layer: must be boolean' },
    { name: 'history created', mutate: (d) => (d.history[0].created = '2023-08-07'), error: 'history[0].created: must be an RFC 3339 date-time such as 2024-01-02T03:04:05Z' },
  ];
  runInvalidCases('image-config', base, cases);
});

describe('image layout and descriptors', () => {
  test('oci-layout', () => {
    expect(errorsOf('image-layout', {})).toEqual(['imageLayoutVersion: is required']);
    expect(errorsOf('image-layout', { imageLayoutVersion: '2.0.0' })).toEqual(['imageLayoutVersion: must be "1.0.0"']);
  });

  test('descriptor missing everything', () => {
    expect(errorsOf('content-descriptor', {})).toEqual(['mediaType: is required', 'digest: is required', 'size: is required']);
  });

  test('descriptor blake3 digest length', () => {
    expect(errorsOf('content-descriptor', { mediaType: 'a/b', digest: 'blake3:abcd', size: 1 })).toEqual([
      'digest: must be blake3: followed by 64 lowercase hex digits',
    ]);
  });
});

describe('media-type helpers', () => {
  test('layer media types', () => {
    expect(layerMediaTypeInfo(MediaType.LayerZstd)).toEqual({ compression: 'zstd', nonDistributable: false, docker: false });
    expect(layerMediaTypeInfo(MediaType.DockerLayerGzip)).toEqual({ compression: 'gzip', nonDistributable: false, docker: true });
    expect(layerMediaTypeInfo(MediaType.DockerForeignLayerGzip)?.nonDistributable).toBe(true);
    expect(layerMediaTypeInfo(MediaType.LayerNonDistributable)).toEqual({ compression: 'none', nonDistributable: true, docker: false });
    expect(layerMediaTypeInfo('application/octet-stream')).toBeUndefined();
    expect(layerMediaTypeInfo('toString')).toBeUndefined();
    expect(LAYER_MEDIA_TYPES).toContain('application/vnd.oci.image.layer.v1.tar+gzip');
  });

  test('manifest and index media types', () => {
    expect(isManifestMediaType(MediaType.DockerManifest)).toBe(true);
    expect(isManifestMediaType(MediaType.ImageIndex)).toBe(false);
    expect(isIndexMediaType(MediaType.DockerManifestList)).toBe(true);
    expect(isIndexMediaType(undefined)).toBe(false);
  });
});
