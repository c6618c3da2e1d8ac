import * as fs from 'fs';
import * as path from 'path';
import { assertValid, jsonPointerToPath, formatErrors, PATTERN_MESSAGES, SCHEMA_DIR, SCHEMA_KINDS, validate, ValidationError } from '../../src';
import { fixture } from '../helpers';

describe('paths and messages', () => {
  test('JSON pointer to readable path', () => {
    expect(jsonPointerToPath('')).toBe('');
    expect(jsonPointerToPath('/process/args')).toBe('process.args');
    expect(jsonPointerToPath('/linux/namespaces/2/type')).toBe('linux.namespaces[2].type');
    expect(jsonPointerToPath('/annotations/org.opencontainers.image.ref.name')).toBe('annotations["org.opencontainers.image.ref.name"]');
    expect(jsonPointerToPath('/a~1b/c~0d')).toBe('["a/b"]["c~d"]');
    expect(jsonPointerToPath('/manifests/0/platform/os.version')).toBe('manifests[0].platform["os.version"]');
  });

  test('every pattern used in schemas/ has a readable message', () => {
    const patterns = new Set<string>();
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'pattern' && typeof x === 'string') patterns.add(x);
          walk(x);
        }
      }
    };
    for (const f of fs.readdirSync(SCHEMA_DIR).filter((n) => n.endsWith('.schema.json'))) {
      walk(JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, f), 'utf8')));
    }
    // Patterns only used inside "if" to pick a branch never produce an error of their own.
    const ifOnly = ['^sha256:', '^sha512:', '^blake3:'];
    const missing = [...patterns].filter((p) => !ifOnly.includes(p) && !(p in PATTERN_MESSAGES));
    expect(missing).toEqual([]);
  });

  test('unknown keywords fall back to a generic line', () => {
    expect(formatErrors([{ instancePath: '/x', schemaPath: '#/x/uniqueItems', keyword: 'uniqueItems', params: {} }])).toEqual(['x: fails uniqueItems']);
  });
});

describe('API', () => {
  test('unknown kind throws', () => {
    expect(() => validate('nope' as never, {})).toThrow(/unknown document kind 'nope'/);
  });

  test('assertValid throws a ValidationError with the lines', () => {
    expect(() => assertValid('config', fixture('runtime/runc-spec.json'))).not.toThrow();
    let caught: unknown;
    try {
      assertValid('config', { ociVersion: '1.0.0' }, 'config.json');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).errors).toEqual(['root: is required']);
    expect((caught as Error).message).toBe('invalid config.json: root: is required');
  });

  test('every kind has a generated standalone module and a code cache', () => {
    const dir = path.resolve(__dirname, '../../src/generated');
    for (const kind of SCHEMA_KINDS) {
      expect(fs.existsSync(path.join(dir, `${kind}.js`))).toBe(true);
      expect(fs.existsSync(path.join(dir, `${kind}.js.cache`))).toBe(true);
    }
  });

  test('validators load lazily: config does not load the image schemas', () => {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const m = require('../../src/validate') as typeof import('../../src/validate');
      expect(m.loadedKinds()).toEqual([]);
      m.validate('config', fixture('runtime/runc-spec.json'));
      expect(m.loadedKinds()).toEqual(['config']);
      m.validate('image-index', { schemaVersion: 2, manifests: [] });
      expect(m.loadedKinds()).toEqual(['config', 'image-index']);
    });
  });

  test('a provided validator is used instead of loading the generated module, unless one is loaded or compiling is asked for', () => {
    const doc = fixture('runtime/runc-spec.json');
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const m = require('../../src/validate') as typeof import('../../src/validate');
      const seen: unknown[] = [];
      m.provideValidator('config', (d) => (seen.push(d), true));
      expect(m.validate('config', { not: 'a config' })).toEqual({ ok: true });
      expect(seen).toEqual([{ not: 'a config' }]);
      m.provideValidator('config', () => false); // the first stays
      expect(m.validate('config', doc)).toEqual({ ok: true });
      m.provideValidator('state', undefined); // not generated: nothing provided
      expect(m.loadedKinds()).toEqual(['config']);
    });
    process.env.OCI_SPEC_RUNTIME_COMPILE = '1';
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const m = require('../../src/validate') as typeof import('../../src/validate');
        m.provideValidator('config', () => true);
        expect(m.validate('config', { not: 'a config' }).ok).toBe(false);
      });
    } finally {
      delete process.env.OCI_SPEC_RUNTIME_COMPILE;
    }
  });

  test('run-time compilation fallback gives the same answers as the generated modules', () => {
    const docs: Array<[(typeof SCHEMA_KINDS)[number], unknown]> = [
      ['config', fixture('runtime/podman-like.json')],
      ['config', { ociVersion: '1', process: { args: 'sh', cwd: 'x' }, linux: { namespaces: [{ type: 'net' }] } }],
      ['image-manifest', fixture('image/docker-manifest.json')],
      ['image-manifest', { schemaVersion: 2, config: { digest: 'sha256:1' }, layers: [{}] }],
      ['state', { status: 'running' }],
    ];
    const generated = docs.map(([k, d]) => validate(k, d));
    process.env.OCI_SPEC_RUNTIME_COMPILE = '1';
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const m = require('../../src/validate') as typeof import('../../src/validate');
        expect(docs.map(([k, d]) => m.validate(k, d))).toEqual(generated);
      });
    } finally {
      delete process.env.OCI_SPEC_RUNTIME_COMPILE;
    }
  });
});
