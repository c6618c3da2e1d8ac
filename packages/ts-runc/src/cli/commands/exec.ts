import type { Command } from '../command';
import { exec, readProcessFile } from '../../lifecycle/exec';
import { execProcessFromFlags, checkExecProcess } from '../../plan/exec-process';

export const command: Command = {
  name: 'exec',
  usage: 'exec [command options] <container-id> <command> [command options]  ||  -p process.json <container-id>',
  description: 'execute new process inside the container',
  flags: [
    { name: 'process', alias: ['p'], kind: 'string', help: 'path to a process.json' },
    { name: 'console-socket', kind: 'string', help: 'AF_UNIX socket that receives the pty master' },
    { name: 'cwd', kind: 'string', help: 'current working directory in the container' },
    { name: 'env', alias: ['e'], kind: 'list', help: 'set environment variables' },
    { name: 'tty', alias: ['t'], kind: 'bool', help: 'allocate a pseudo-TTY' },
    { name: 'user', alias: ['u'], kind: 'string', help: 'UID (format: <uid>[:<gid>])' },
    { name: 'additional-gids', alias: ['g'], kind: 'list', help: 'additional gids' },
    { name: 'process-label', kind: 'string', ignored: true, help: 'SELinux label (SELinux is off: ignored)' },
    { name: 'apparmor', kind: 'string', help: 'AppArmor profile' },
    { name: 'no-new-privs', kind: 'bool', help: 'set no_new_privs' },
    { name: 'cap', alias: ['c'], kind: 'list', help: 'add a capability' },
    { name: 'preserve-fds', kind: 'int', help: 'pass N extra fds (3..3+N-1) to the process' },
    { name: 'cgroup', kind: 'list', help: 'run in a sub-cgroup (ignored: the container cgroup is used)' },
    { name: 'ignore-paused', kind: 'bool', help: 'allow exec in a paused container' },
    { name: 'detach', alias: ['d'], kind: 'bool', help: 'detach from the process' },
    { name: 'pid-file', kind: 'string', help: 'file to write the process pid to' },
  ],
  args: { min: 1 },
  restAfter: 1,
  async run(ctx, p) {
    const [id, ...args] = p.positionals;
    const f = p.flags;
    if (f.apparmor) {
      const { RuntimeError } = await import('../../errors');
      throw new RuntimeError('apparmor profile was given but AppArmor is not enabled on this host');
    }
    if (f['process-label']) ctx.log.warn('--process-label ignored: SELinux is not enabled');
    let proc;
    if (f.process) {
      proc = checkExecProcess(readProcessFile(f.process as string), f.process as string);
    } else {
      const { loadConfigOf } = await import('../../lifecycle/exec-config');
      proc = execProcessFromFlags(loadConfigOf(ctx, id), {
        args,
        env: (f.env as string[]) ?? [],
        cwd: f.cwd as string | undefined,
        user: f.user as string | undefined,
        additionalGids: (f['additional-gids'] as string[]) ?? [],
        tty: !!f.tty,
        caps: (f.cap as string[]) ?? [],
        noNewPrivs: !!f['no-new-privs'],
      });
    }
    return exec(ctx, {
      id,
      process: proc,
      detach: !!f.detach,
      pidFile: f['pid-file'] as string | undefined,
      consoleSocket: f['console-socket'] as string | undefined,
      preserveFds: (f['preserve-fds'] as number | undefined) ?? 0,
      ignorePaused: !!f['ignore-paused'],
    });
  },
};
