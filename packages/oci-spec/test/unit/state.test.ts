import { validate } from '../../src';
import { errorsOf } from '../helpers';

const running = { ociVersion: '1.0.2', id: 'oci-container1', status: 'running', pid: 4422, bundle: '/containers/redis', annotations: { myKey: 'myValue' } };

describe('state', () => {
  test('valid states', () => {
    expect(validate('state', running)).toEqual({ ok: true });
    expect(validate('state', { ociVersion: '1.0.2', id: 'c', status: 'stopped', bundle: '/b' })).toEqual({ ok: true });
    expect(validate('state', { ociVersion: '1.0.2', id: 'c', status: 'creating', bundle: '/b' })).toEqual({ ok: true });
    // runc's `state` output: runtime-defined status and extra fields.
    const runc = { ociVersion: '1.0.2-dev', id: 'x', pid: 0, status: 'paused', bundle: '/b', rootfs: '/b/rootfs', created: '2024-01-02T03:04:05.123456789Z', owner: '' };
    expect(validate('state', runc)).toEqual({ ok: true });
  });

  test('invalid states', () => {
    expect(errorsOf('state', {})).toEqual(['ociVersion: is required', 'id: is required', 'status: is required', 'bundle: is required']);
    expect(errorsOf('state', { ...running, pid: undefined })).toEqual(['pid: is required']);
    expect(errorsOf('state', { ...running, status: 'created', pid: 0 })).toEqual(['pid: must be >= 1']);
    expect(errorsOf('state', { ...running, bundle: 'containers/redis' })).toEqual(['bundle: must be an absolute path']);
    expect(errorsOf('state', { ...running, id: '' })).toEqual(['id: must not be empty']);
    expect(errorsOf('state', { ...running, status: 'Running' })).toEqual(['status: must be a lowercase status word (creating, created, running, stopped, ...)']);
    expect(errorsOf('state', { ...running, pid: '1' })).toEqual(['pid: must be integer']);
    expect(errorsOf('state', { ...running, annotations: { a: null } })).toEqual(['annotations.a: must be string']);
  });
});
