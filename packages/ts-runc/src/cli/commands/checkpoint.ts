import type { Command } from '../command';
import type { FlagSpec } from '../args';
import { RuntimeError } from '../../errors';
import { validateId } from '../../state/store';

/**
 * checkpoint and restore need CRIU, which ts-runc does not drive. The commands exist so that
 * runc's flags parse and the caller (podman container checkpoint, say) gets one clear line
 * instead of "No help topic"; checkpoint first reports an unknown container, as runc does.
 */
const CRIU_FLAGS: FlagSpec[] = [
  ...['image-path', 'work-path', 'parent-path', 'page-server', 'manage-cgroups-mode', 'status-fd', 'lsm-profile', 'lsm-mount-context'].map((name) => ({ name, kind: 'string' as const, ignored: true })),
  ...['leave-running', 'tcp-established', 'ext-unix-sk', 'shell-job', 'lazy-pages', 'file-locks', 'pre-dump', 'auto-dedup'].map((name) => ({ name, kind: 'bool' as const, ignored: true })),
  { name: 'empty-ns', kind: 'list', ignored: true },
];

const unsupported = (what: string) => new RuntimeError(`${what} is not supported by ts-runc: it has no CRIU support`);

export const checkpoint: Command = {
  name: 'checkpoint',
  usage: 'checkpoint [command options] <container-id>',
  description: 'checkpoint a running container (not supported: no CRIU support)',
  flags: CRIU_FLAGS,
  args: { exact: 1 },
  run(ctx, p) {
    ctx.store.load(validateId(p.positionals[0])); // "container does not exist" first
    throw unsupported('checkpoint');
  },
};

export const restore: Command = {
  name: 'restore',
  usage: 'restore [command options] <container-id>',
  description: 'restore a container from a previous checkpoint (not supported: no CRIU support)',
  flags: [
    ...CRIU_FLAGS,
    { name: 'bundle', alias: ['b'], kind: 'string', ignored: true },
    { name: 'console-socket', kind: 'string', ignored: true },
    { name: 'pid-file', kind: 'string', ignored: true },
    { name: 'detach', alias: ['d'], kind: 'bool', ignored: true },
    { name: 'no-subreaper', kind: 'bool', ignored: true },
    { name: 'no-pivot', kind: 'bool', ignored: true },
  ],
  args: { exact: 1 },
  run() {
    throw unsupported('restore');
  },
};
