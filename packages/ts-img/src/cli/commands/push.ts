import type { Command } from '../command';
import { registryOptions, storeOption } from '../../store/options';

export const pushCommand: Command = {
  command: 'push <image> [dest]',
  describe: 'push an image from the store or a layout (DIR:TAG) to a registry',
  builder: (y) =>
    registryOptions(storeOption(y))
      .positional('image', { type: 'string', describe: 'store name, or LAYOUT[:TAG|@DIGEST]', demandOption: true })
      .positional('dest', { type: 'string', describe: 'registry reference (default: the image name when it is one)' })
      .option('chunk-size', { type: 'number', describe: 'upload in PATCH chunks of this many bytes (default: one PUT)' })
      .option('mount-from', { type: 'array', string: true, describe: 'repositories of the same registry to mount blobs from' })
      .option('jobs', { type: 'number', default: 3, describe: 'parallel blob uploads' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress output' }),
  run: async (a) => {
    const { push } = await import('../../registry/push');
    const { Progress } = await import('../../registry/progress');
    const { clientOptions, resolveImageArg } = await import('../../store/args');
    const { parseReference, stripTransport } = await import('../../registry/reference');
    const img = await resolveImageArg(String(a.image), a);
    if (!a.dest && !img.name.includes('/')) {
      const { UserError } = await import('../errors');
      throw new UserError(`push: "${img.name}" is not a registry reference; say where to push (ts-img push IMAGE HOST/REPO:TAG)`);
    }
    const dest = a.dest ? String(a.dest) : img.name;
    parseReference(stripTransport(dest)); // validate early
    const r = await push(img.layout, img.descriptor, dest, {
      ...clientOptions(a),
      jobs: a.jobs,
      mountFrom: a.mountFrom as string[] | undefined,
      progress: new Progress(process.stderr, !!a.quiet),
    });
    if (!a.quiet) process.stdout.write(`${r.digest} (uploaded ${r.uploaded}, mounted ${r.mounted}, already there ${r.skipped})\n`);
  },
};
