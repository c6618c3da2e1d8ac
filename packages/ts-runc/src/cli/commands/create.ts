import type { Command } from '../command';
import { create } from '../../lifecycle/create';

export const createFlags = [
  { name: 'bundle', alias: ['b'], kind: 'string' as const, help: 'path to the root of the bundle directory (default: current directory)' },
  { name: 'console-socket', kind: 'string' as const, help: 'AF_UNIX socket that receives the pty master' },
  { name: 'pid-file', kind: 'string' as const, help: 'file to write the init pid to' },
  { name: 'no-pivot', kind: 'bool' as const, help: 'use MS_MOVE + chroot instead of pivot_root' },
  { name: 'no-new-keyring', kind: 'bool' as const, help: 'do not create a new session keyring' },
  { name: 'preserve-fds', kind: 'int' as const, help: 'pass N extra fds (3..3+N-1) to the container' },
];

export function createOptionsFrom(flags: Record<string, unknown>, id: string) {
  return {
    id,
    bundle: (flags.bundle as string | undefined) ?? process.cwd(),
    pidFile: flags['pid-file'] as string | undefined,
    consoleSocket: flags['console-socket'] as string | undefined,
    noPivot: !!flags['no-pivot'],
    noNewKeyring: !!flags['no-new-keyring'],
    preserveFds: (flags['preserve-fds'] as number | undefined) ?? 0,
  };
}

export const command: Command = {
  name: 'create',
  usage: 'create [command options] <container-id>',
  description: 'create a container',
  flags: createFlags,
  args: { exact: 1 },
  run(ctx, p) {
    return create(ctx, createOptionsFrom(p.flags, p.positionals[0])).then(() => undefined);
  },
};
