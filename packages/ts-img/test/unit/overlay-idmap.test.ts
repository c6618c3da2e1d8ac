// An overlay bundle with --uid-map/--gid-map: the owners a mapping must cover, and the idmapped lowers' mount (fake syscalls).
import { FakeSys, FSCONFIG_CMD_CREATE } from '@tsrt/libc';
import { assertOwnersMapped } from '../../src/overlay/id-owners';
import { mountLayers } from '../../src/overlay/mount-layers';
import { OverlayUnavailable } from '../../src/overlay/mount';
import { LayerStore, StoredLayer } from '../../src/overlay/layer-store';

const MAP = [{ containerID: 0, hostID: 100000, size: 65536 }];
const D = (c: string): string => `sha256:${c.repeat(64)}`;
const layer = (c: string, uids: number[], gids: number[], fold?: number): StoredLayer => ({
  diffId: D(c), key: D(c), diff: `/s/.ts-img/ovl/${c.repeat(64)}/diff`, rootEntry: false, rootOpaque: false, entries: 1, chainDependent: false, owners: { uids, gids }, ...(fold ? { fold } : {}),
});

describe('the owners a mapping must cover', () => {
  test('every id of every layer mapped: nothing to say', async () => {
    await expect(assertOwnersMapped([layer('a', [0, 1234], [0]), layer('b', [65535], [7])], [D('a'), D('b')], 0, MAP, MAP)).resolves.toBeUndefined();
    await expect(assertOwnersMapped([layer('a', [0, 70000], [0])], [D('a')], 0, undefined, MAP)).resolves.toBeUndefined(); // uids not mapped: all fine
  });

  test('the first id outside names its layer (or the fold) and the option', async () => {
    await expect(assertOwnersMapped([layer('a', [0], [0]), layer('b', [70000], [0])], [D('a'), D('b')], 0, MAP, MAP))
      .rejects.toThrow(`layer 2/2 (${D('b')}): uid 70000 is not in the uid mapping (--uid-map)`);
    await expect(assertOwnersMapped([layer('a', [0], [99999])], [D('a')], 0, MAP, MAP)).rejects.toThrow(/^layer 1\/1 \(sha256:a+\): gid 99999 is not in the gid mapping \(--gid-map\)$/);
    const diffIds = [D('a'), D('b'), D('c')];
    await expect(assertOwnersMapped([layer('f', [70000], [0], 2), layer('c', [0], [0])], diffIds, 2, MAP, MAP)).rejects.toThrow(/^layers 1-2 \(folded into \S+\): uid 70000/);
    await expect(assertOwnersMapped([layer('f', [0], [0], 2), layer('c', [70000], [0])], diffIds, 2, MAP, MAP)).rejects.toThrow(`layer 3/3 (${D('c')}): uid 70000`);
  });
});

// fds far above any real one: the kernel-log read on a fake context fd fails at once (EBADF)
describe('idmapped lowers (fake syscalls)', () => {
  const store = new LayerStore('/s');
  const dirs = { rootfs: { fd: 200001, path: '/b/rootfs' }, upper: { fd: 200002, path: '/b/overlay/upper' }, work: { fd: 200003, path: '/b/overlay/work' } };
  // each call gives the next number from its own base
  const fake = (): FakeSys => {
    const next = (base: number) => { let n = base; return () => n++; };
    return new FakeSys().respond('open', () => 300000).respond('openat2', next(300100)).respond('cloneExec', () => 4242)
      .respond('cloneTreeFd', next(300200)).respond('openat', next(300300)).respond('fsopen', () => 100010).respond('fsmount', () => 100011);
  };

  test('each layer an open_tree clone, idmapped, given to overlayfs as a plain fd; the clones\' fds closed only once the overlay exists', () => {
    const f = fake();
    const order: string[] = [];
    f.respond('close', (fd: number) => { order.push(`close ${fd}`); });
    f.respond('fsconfig', (_ctx: number, cmd: number) => { if (cmd === FSCONFIG_CMD_CREATE) order.push('create'); });
    mountLayers(f.sys, store, [layer('a', [], []), layer('b', [], [])], { ...dirs, idmap: { uidMap: MAP } });
    expect(f.named('cloneExec')).toHaveLength(1); // one user namespace for the mount
    const lowers = f.named('openat2').map((a) => a[1]);
    expect(lowers).toEqual([`.ts-img/ovl/${'a'.repeat(64)}/diff`, `.ts-img/ovl/${'b'.repeat(64)}/diff`]);
    expect(f.named('cloneTreeFd')).toEqual([[300100, false], [300101, false]]); // clones of the layer dirs' fds
    expect(f.named('idmapTree').map((a) => [a[0], a[2]])).toEqual([[300200, false], [300201, false]]);
    expect(f.named('openat').map((a) => [a[0], a[1]])).toEqual([[300200, '.'], [300201, '.']]);
    const given = f.named('fsconfigFd').filter((a) => a[1] === 'lowerdir+').map((a) => a[2]);
    expect(given).toEqual([300301, 300300]); // topmost first, the reopened fds
    const create = order.indexOf('create');
    for (const fd of [300200, 300201]) expect(order.indexOf(`close ${fd}`)).toBeGreaterThan(create);
    for (const fd of [300100, 300101]) expect(order).toContain(`close ${fd}`); // the store's dirs
  });

  test('a layer that cannot be idmapped: one OverlayUnavailable line naming it; every fd closed', () => {
    const f = fake().fail('idmapTree', 'EINVAL');
    let err: unknown;
    try { mountLayers(f.sys, store, [layer('a', [], []), layer('b', [], [])], { ...dirs, idmap: { uidMap: MAP } }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(OverlayUnavailable);
    expect((err as Error).message).toMatch(/^overlayfs cannot be mounted here \(an idmapped mount of \/s\/\.ts-img\/ovl\/a+\/diff for --uid-map\/--gid-map: .*EINVAL.*\): unpack without --overlay$/);
    const closed = f.named('close').map((a) => a[0]);
    for (const fd of [300000, 300100, 300101, 300200]) expect(closed).toContain(fd); // store, both layer dirs, the clone
    expect(f.named('fsopen')).toEqual([]);
  });
});
