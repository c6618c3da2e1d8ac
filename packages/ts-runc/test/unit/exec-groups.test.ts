import { planProcess } from '../../src/plan/compile';
import { execProcessFromFlags, type ExecFlags } from '../../src/plan/exec-process';

const ctx = { lastCap: 40, warn: () => undefined, callerUmask: 0o022 };
const flags = (over: Partial<ExecFlags>): ExecFlags => ({ args: ['sh'], env: [], additionalGids: [], tty: false, caps: [], noNewPrivs: false, ...over });
const config = (additionalGids?: number[]) => ({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { cwd: '/', args: ['sh'], user: { uid: 0, gid: 0, additionalGids } } });

test('each supplementary group once, in the order first given (setgroups would keep repeats)', () => {
  expect(planProcess({ cwd: '/', args: ['sh'], user: { uid: 0, gid: 0, additionalGids: [10, 10, 0, 20, 10] } }, ctx).additionalGids).toEqual([10, 0, 20]);
  expect(planProcess({ cwd: '/', args: ['sh'], user: { uid: 0, gid: 0 } }, ctx).additionalGids).toEqual([]);
});

test('exec --additional-gids adds to the config\'s groups (runc appends), repeats dropped when planned', () => {
  const p = execProcessFromFlags(config([10, 20]) as never, flags({ additionalGids: ['100', '5', '5'], user: '1000:100' }));
  expect(p.user).toMatchObject({ uid: 1000, gid: 100, additionalGids: [10, 20, 100, 5, 5] });
  expect(planProcess(p, ctx).additionalGids).toEqual([10, 20, 100, 5]);
  expect(execProcessFromFlags(config() as never, flags({ additionalGids: ['7'] })).user?.additionalGids).toEqual([7]);
  expect(execProcessFromFlags(config([3]) as never, flags({})).user?.additionalGids).toEqual([3]);
});
