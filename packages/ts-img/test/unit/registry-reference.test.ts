import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatReference, parseReference, looksLikeRegistryReference, existsOnDisk } from '../../src/registry/reference';
import { parseChallenges } from '../../src/registry/challenge';
import { lookupCredentials, parseCreds } from '../../src/registry/authfile';
import { isValidDigest } from '../../src/registry/digest';

describe('parseReference', () => {
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['127.0.0.1:5000/a/b/c:t-1.2', '127.0.0.1:5000/a/b/c:t-1.2'],
    ['quay.io/org/img@sha256:' + 'a'.repeat(64), 'quay.io/org/img@sha256:' + 'a'.repeat(64)],
    ['reg.example.com:443/x:1@sha256:' + 'b'.repeat(64), 'reg.example.com:443/x:1@sha256:' + 'b'.repeat(64)],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest'],
  ];
  test.each(cases)('%s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });
  test.each(['', 'UPPER/case', 'a//b', 'x:bad tag', 'x@sha256:short', 'a/-b'])('rejects %j', (s) => {
    expect(() => parseReference(s)).toThrow();
  });
  test('registry detection', () => {
    expect(parseReference('localhost:5000/app').registry).toBe('localhost:5000');
    expect(parseReference('foo/bar').registry).toBe('docker.io');
    expect(looksLikeRegistryReference('127.0.0.1:5000/x:1')).toBe(true);
    expect(looksLikeRegistryReference('./layout:tag')).toBe(false);
    expect(looksLikeRegistryReference('/abs/layout')).toBe(false);
  });
});

describe('parseChallenges', () => {
  test('bearer with quoted params', () => {
    const c = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"');
    expect(c).toEqual([{ scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' } }]);
  });
  test('basic and multiple challenges', () => {
    const c = parseChallenges('Basic realm="r", Bearer realm="t",service=s');
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[1].params).toEqual({ realm: 't', service: 's' });
  });
  test('escaped quote', () => {
    expect(parseChallenges('Basic realm="a\\"b"')[0].params.realm).toBe('a"b');
  });
});

describe('credentials', () => {
  test('--creds', () => {
    expect(parseCreds('u:p:w')).toEqual({ username: 'u', password: 'p:w' });
    expect(() => parseCreds('nocolon')).toThrow();
  });
  test('auth.json lookup: scheme prefixes, docker.io aliases, longest namespace match', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authfile-'));
    const f = path.join(dir, 'auth.json');
    const enc = (s: string) => Buffer.from(s).toString('base64');
    fs.writeFileSync(
      f,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: enc('hub:pw') },
          'http://127.0.0.1:5000': { auth: enc('local:pw1') },
          '127.0.0.1:5000/team': { auth: enc('team:pw2') },
          'reg.example': { username: 'plain', password: 'pw3' },
        },
      }),
    );
    expect(lookupCredentials('docker.io', 'library/busybox', f)).toMatchObject({ username: 'hub', password: 'pw' });
    expect(lookupCredentials('127.0.0.1:5000', 'other/x', f)).toMatchObject({ username: 'local', password: 'pw1' });
    expect(lookupCredentials('127.0.0.1:5000', 'team/x', f)).toMatchObject({ username: 'team', password: 'pw2' });
    expect(lookupCredentials('reg.example', 'x', f)).toMatchObject({ username: 'plain', password: 'pw3' });
    expect(lookupCredentials('nowhere:1', 'x', f)).toBeUndefined();
    const saved = process.env.REGISTRY_AUTH_FILE;
    process.env.REGISTRY_AUTH_FILE = f;
    try {
      expect(lookupCredentials('127.0.0.1:5000', 'y')).toMatchObject({ username: 'local' });
    } finally {
      if (saved === undefined) delete process.env.REGISTRY_AUTH_FILE;
      else process.env.REGISTRY_AUTH_FILE = saved;
    }
    fs.rmSync(dir, { recursive: true });
  });
});

test('digest validation', () => {
  expect(isValidDigest('sha256:' + 'a'.repeat(64))).toBe(true);
  expect(isValidDigest('sha256:' + 'A'.repeat(64))).toBe(false);
  expect(isValidDigest('sha256:../../etc/passwd')).toBe(false);
  expect(isValidDigest('md5:abc')).toBe(false);
});

test('existsOnDisk: a path with or without transport and :tag/@digest; registry references are not', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-img-ondisk-'));
  try {
    fs.writeFileSync(path.join(dir, 'img.tar'), '');
    expect(existsOnDisk(path.join(dir, 'img.tar'))).toBe(true);
    expect(existsOnDisk(`docker-archive:${dir}/img.tar:app:1`)).toBe(true);
    expect(existsOnDisk(`oci:${dir}:latest`)).toBe(true);
    expect(existsOnDisk(`${dir}@sha256:${'a'.repeat(64)}`)).toBe(true);
    expect(existsOnDisk(`${dir}/nope.tar`)).toBe(false);
    expect(existsOnDisk('127.0.0.1:5000/app:1')).toBe(false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
