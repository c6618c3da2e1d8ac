import type { Command } from '../command';
import { listContainers, formatTable } from '../../lifecycle/list';
import { RuntimeError } from '../../errors';
import { writeOut } from '../output';

export const command: Command = {
  name: 'list',
  usage: 'list [command options]',
  description: 'list containers under --root',
  flags: [
    { name: 'format', alias: ['f'], kind: 'string', help: 'table or json' },
    { name: 'quiet', alias: ['q'], kind: 'bool', help: 'print only ids' },
  ],
  args: { exact: 0 },
  run(ctx, p) {
    const format = (p.flags.format as string | undefined) ?? 'table';
    if (format !== 'table' && format !== 'json') throw new RuntimeError(`invalid format option "${format}"`);
    const all = listContainers(ctx);
    if (p.flags.quiet) return writeOut(all.map((s) => s.id + '\n').join(''));
    if (format === 'json') return writeOut(JSON.stringify(all) + '\n');
    const rows = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...all.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])];
    writeOut(formatTable(rows));
  },
};
