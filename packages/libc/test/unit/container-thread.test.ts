import { recordCalls, recordAll } from '../../src/container-thread';

describe('recording the container thread\'s calls (container-thread.ts)', () => {
  test('calls are recorded in order with the names their errors will carry, and none is made', () => {
    const calls = recordCalls((s) => {
      s.setgroups([]);
      s.setresgid(1000, 1000, 1000);
      s.setresuid(1000, 1000, 1000);
      s.prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1);
    });
    expect(calls).toEqual([
      { call: 'setgroups', what: '' },
      { call: 'setresgid', what: '1000' },
      { call: 'setresuid', what: '1000' },
      { call: 'prctl', what: '38' },
    ]);
    // Recorded, not made: this process is still root.
    expect(process.geteuid?.()).toBe(0);
  });

  test('posix_spawn builds its file actions at once, and records the spawn, then their release', () => {
    const { calls, built } = recordAll((s) => {
      s.posixSpawn({ path: '/bin/true', argv: ['true'], env: [], fds: [[0, 0], [1, 1], [2, 2]], gate: { dirFd: 10, name: 'fifo', cwdFd: 11, closeOthers: true } });
    });
    // Only what must run on the container thread goes there: the spawn, and the release after it.
    expect(calls.map((c) => c.call)).toEqual(['posix_spawn', 'posix_spawn_file_actions_destroy', 'posix_spawnattr_destroy']);
    expect(built.slice(0, 2)).toEqual(['posix_spawn_file_actions_init', 'posix_spawnattr_init']);
    // closefrom comes before the gate's open (a held flock must not stay open while it waits).
    expect(built).toContain('posix_spawn_file_actions_addclosefrom_np');
    expect(built.indexOf('posix_spawn_file_actions_addclosefrom_np')).toBeLessThan(built.indexOf('posix_spawn_file_actions_addopen'));
    expect(built.filter((b) => b.endsWith('_destroy'))).toEqual([]);
  });

  test('a controlling terminal: fd 0 opened again through procfs after the fd mapping, before the gate closes everything else', () => {
    const { calls, built } = recordAll((s) => {
      s.posixSpawn({ path: '/bin/true', argv: ['true'], env: [], fds: [[7, 0], [7, 1], [7, 2]], setsid: true, ctty: { procFd: 12 }, gate: { dirFd: 10, name: 'fifo', cwdFd: 11, closeOthers: true } });
    });
    expect(calls.map((c) => c.call)).toEqual(['posix_spawn', 'posix_spawn_file_actions_destroy', 'posix_spawnattr_destroy']);
    const open = built.indexOf('posix_spawn_file_actions_addopen');
    expect(built.slice(open - 1, open + 2)).toEqual(['posix_spawn_file_actions_addfchdir_np', 'posix_spawn_file_actions_addopen', 'posix_spawn_file_actions_addclose']);
    expect(built.lastIndexOf('posix_spawn_file_actions_adddup2', open)).toBeLessThan(open);
    expect(open).toBeLessThan(built.indexOf('posix_spawn_file_actions_addclosefrom_np'));
    // The gate's open (the second) comes after, and then its fchdir to the cwd.
    expect(built.indexOf('posix_spawn_file_actions_addopen', open + 1)).toBeGreaterThan(built.indexOf('posix_spawn_file_actions_addclosefrom_np'));
    expect(() => recordCalls((s) => void s.posixSpawn({ path: '/bin/true', argv: ['true'], env: [], fds: [[7, 0]], ctty: { procFd: 12 } }))).toThrow('ctty needs setsid and a gate');
  });

  test('a method that needs its result at once cannot be recorded', () => {
    expect(() => recordCalls((s) => void s.open('/', 0))).toThrow('open cannot run on the container thread');
    expect(() => recordCalls((s) => s.mount(null, '/', null, 0, null))).toThrow('mount cannot run on the container thread');
  });
});
