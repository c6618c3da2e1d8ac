import { cleanName } from '../../src/layers/applier';
import { parseDigest } from '../../src/digest';
import { mapId, parseIdMap } from '../../src/layers/idmap';
import { resolveUser } from '../../src/bundle/passwd';
import { buildRuntimeConfig, volumeDestination } from '../../src/bundle/config';
import { parsePlatform, platformString } from '../../src/sources/select';
import { validate } from '@tsrt/oci-spec';

describe('cleanName', () => {
  test.each([
    ['a/b/c', ['a', 'b', 'c']],
    ['./a/b/', ['a', 'b']],
    ['a//b/./c', ['a', 'b', 'c']],
    ['.', []],
    ['./', []],
    ['.hidden/.x', ['.hidden', '.x']],
    ['a/.wh..wh..opq', ['a', '.wh..wh..opq']],
  ])('%s', (n, want) => expect(cleanName(n)).toEqual(want));

  test.each(['/etc/passwd', '../x', 'a/../../x', 'a/..', '..'])('%s is rejected', (n) => {
    expect(() => cleanName(n)).toThrow(/absolute|\.\./);
  });
});

describe('parseDigest', () => {
  test('accepts sha256 and sha512', () => {
    expect(parseDigest('sha256:' + 'a'.repeat(64))).toEqual({ algorithm: 'sha256', encoded: 'a'.repeat(64) });
    expect(parseDigest('sha512:' + 'b'.repeat(128)).algorithm).toBe('sha512');
  });
  test.each([
    'sha256:../../../../etc/passwd', 'sha256:' + 'A'.repeat(64), 'sha256:' + 'a'.repeat(63), 'md5:' + 'a'.repeat(32),
    'sha256/' + 'a'.repeat(64), '', 'sha256:' + 'a'.repeat(64) + '/x',
  ])('rejects %s', (d) => expect(() => parseDigest(d)).toThrow(/invalid digest/));
  test('rejects non-strings', () => expect(() => parseDigest(42)).toThrow(/not a string/));
});

describe('id mappings', () => {
  test('parse and map', () => {
    const m = [parseIdMap('0:100000:65536', 'uid-map')];
    expect(mapId(0, m, 'uid')).toBe(100000);
    expect(mapId(1000, m, 'uid')).toBe(101000);
    expect(() => mapId(70000, m, 'uid')).toThrow(/not in the uid mapping/);
    expect(mapId(5, undefined, 'uid')).toBe(5);
    expect(() => parseIdMap('1:2', 'uid-map')).toThrow(/--uid-map/);
  });
});

describe('resolveUser (conversion.md Config.User)', () => {
  const passwd = 'root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n# comment\nbad line\n';
  const group = 'root:x:0:\nappgrp:x:2345:\nextra:x:3000:other,app\nmore:x:3001:app\nnone:x:3002:\n';
  test.each([
    [undefined, { uid: 0, gid: 0, home: '/root' }],
    ['', { uid: 0, gid: 0, home: '/root' }],
    ['app', { uid: 1234, gid: 2345, additionalGids: [3000, 3001], home: '/home/app' }],
    ['app:more', { uid: 1234, gid: 3001, home: '/home/app' }],
    ['app:77', { uid: 1234, gid: 77, home: '/home/app' }],
    // numeric user: no additionalGids (conversion.md; umoci adds them)
    ['1234', { uid: 1234, gid: 2345, home: '/home/app' }],
    ['4321', { uid: 4321, gid: 0 }],
    ['4321:55', { uid: 4321, gid: 55 }],
    ['0:appgrp', { uid: 0, gid: 2345, home: '/root' }],
    // an empty user with a group is root with that group (umoci, Docker)
    [':50', { uid: 0, gid: 50, home: '/root' }],
    [':appgrp', { uid: 0, gid: 2345, home: '/root' }],
  ])('%s', (u, want) => expect(resolveUser(u, passwd, group)).toEqual(want));
  test('an empty group is an error', () => {
    expect(() => resolveUser('app:', passwd, group)).toThrow(/empty group/);
    expect(() => resolveUser(':', passwd, group)).toThrow(/empty group/);
  });
  test('unknown user or group is an error', () => {
    expect(() => resolveUser('ghost', passwd, group)).toThrow(/no user "ghost"/);
    expect(() => resolveUser('app:ghosts', passwd, group)).toThrow(/no group "ghosts"/);
    expect(() => resolveUser('app', null, null)).toThrow(/no user/);
  });
});

describe('buildRuntimeConfig', () => {
  const base = { architecture: 'arm64', variant: 'v8', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } };
  test('a Volumes path with ".." is an error', () => {
    expect(() => buildRuntimeConfig({ ...base, config: { Volumes: { '/v/../../w': {} } } } as any, { passwd: null, group: null })).toThrow(/Config.Volumes/);
  });
  test('fields', () => {
    const s = buildRuntimeConfig({
      ...base,
      author: 'me',
      created: '2024-01-01T00:00:00Z',
      config: {
        Env: ['A=1=2', 'PATH=/x'], Entrypoint: ['/e'], Cmd: ['c'], WorkingDir: '/w', StopSignal: 'SIGINT',
        ExposedPorts: { '80/tcp': {}, '53': {} }, Labels: { 'org.opencontainers.image.author': 'label', l: 'v' },
        Volumes: { '/data': {} },
      },
    } as any, { passwd: null, group: null });
    expect(s.process!.args).toEqual(['/e', 'c']);
    expect(s.process!.env).toEqual(['A=1=2', 'PATH=/x']);
    expect(s.process!.cwd).toBe('/w');
    expect(s.annotations).toMatchObject({
      'org.opencontainers.image.os': 'linux',
      'org.opencontainers.image.architecture': 'arm64',
      'org.opencontainers.image.variant': 'v8',
      'org.opencontainers.image.author': 'label',
      'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
      'org.opencontainers.image.stopSignal': 'SIGINT',
      'org.opencontainers.image.exposedPorts': '53,80/tcp',
      l: 'v',
    });
    expect(s.annotations!['org.opencontainers.image.os.version']).toBeUndefined();
    expect(s.mounts!.find((m) => m.destination === '/data')).toMatchObject({ type: 'tmpfs' });
    expect(s.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(s.linux!.maskedPaths).toContain('/proc/kcore');
    expect(s.process!.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }]);
  });
  test('generated configs pass the runtime-spec schema (default, rootless, mapped)', () => {
    const img = { ...base, config: { User: 'app', Volumes: { '/v': {} }, ExposedPorts: { '80/tcp': {} }, Labels: { a: 'b' } } } as any;
    const pw = 'app:x:1:2::/:/bin/sh\n';
    const m = [{ containerID: 0, hostID: 100000, size: 65536 }];
    for (const o of [{}, { rootless: true }, { uidMap: m, gidMap: m }]) {
      expect(validate('config', buildRuntimeConfig(img, { passwd: pw, group: '', ...o }))).toEqual({ ok: true });
    }
  });
  test('Env: a name given twice keeps its last value in its first place; HOME from /etc/passwd unless set; no TERM', () => {
    const env = (e: string[], user?: string) =>
      buildRuntimeConfig({ ...base, config: { Env: e, User: user } } as any, { passwd: 'root:x:0:0::/root:/bin/sh\nu:x:7:7::/home/u:/bin/sh\n', group: '' }).process!.env;
    expect(env(['A=1', 'PATH=/p', 'B=2', 'A=3', 'C'])).toEqual(['A=3', 'PATH=/p', 'B=2', 'C', 'HOME=/root']);
    expect(env(['PATH=/p'], 'u')).toEqual(['PATH=/p', 'HOME=/home/u']);
    expect(env(['PATH=/p', 'HOME=/mine'], 'u')).toEqual(['PATH=/p', 'HOME=/mine']);
    expect(env(['PATH=/p'], '99')).toEqual(['PATH=/p']);
  });
  test('Cmd alone, Entrypoint alone, neither', () => {
    const mk = (c: object) => buildRuntimeConfig({ ...base, config: c } as any, { passwd: null, group: null }).process!.args;
    expect(mk({ Cmd: ['a', 'b'] })).toEqual(['a', 'b']);
    expect(mk({ Entrypoint: ['e'] })).toEqual(['e']);
    expect(mk({})).toEqual(['sh']);
  });
  test('rootless: user namespace, no network namespace, no gid=5, /sys bind', () => {
    const s = buildRuntimeConfig(base as any, { passwd: null, group: null, rootless: true });
    expect(s.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'user']);
    expect(s.linux!.uidMappings).toHaveLength(1);
    expect(s.mounts!.find((m) => m.destination === '/dev/pts')!.options).not.toContain('gid=5');
    expect(s.mounts!.find((m) => m.destination === '/sys')).toMatchObject({ type: 'none', source: '/sys' });
  });
  test('explicit maps', () => {
    const m = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const s = buildRuntimeConfig(base as any, { passwd: null, group: null, uidMap: m, gidMap: m });
    expect(s.linux!.uidMappings).toEqual(m);
    expect(s.linux!.namespaces!.map((n) => n.type)).toContain('user');
  });
  test.each(['relative', '/a/../../etc', '/'])('volume %s is rejected', (v) => {
    expect(() => volumeDestination(v)).toThrow(/Config.Volumes/);
  });
});

describe('platforms', () => {
  test('parse', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(() => parsePlatform('linux')).toThrow(/--platform/);
    expect(platformString({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64');
  });
});
