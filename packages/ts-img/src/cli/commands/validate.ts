import type { Command } from '../command';
import { UserError } from '../errors';

interface Args {
  source?: string;
  json?: boolean;
}

export const validateCommand: Command<Args> = {
  command: 'validate <source>',
  describe: 'check an image source against the OCI JSON Schemas and verify every blob digest and size',
  builder: (y) =>
    y
      .positional('source', { type: 'string', describe: 'layout dir, oci-archive, docker save tarball' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable report' }) as any,
  run: async (a) => {
    if (!a.source) throw new UserError('validate: SOURCE missing');
    const { validateImage } = await import('../../validate-image');
    const r = await validateImage(a.source);
    if (a.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else for (const p of r.problems) process.stdout.write(`${p.where}: ${p.message}\n`);
    if (r.problems.length > 0) {
      throw new UserError(`validate: ${r.source}: ${r.problems.length} problem${r.problems.length > 1 ? 's' : ''} (${r.checked} documents and blobs checked)`);
    }
    if (!a.json) process.stdout.write(`${r.source}: valid (${r.checked} documents and blobs checked)\n`);
  },
};
