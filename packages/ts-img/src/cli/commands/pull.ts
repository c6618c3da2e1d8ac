import type { Command } from '../command';
import type { Layout as LayoutT } from '../../store/layout';
import { registryOptions, storeOption } from '../../store/options';

export const pullCommand: Command = {
  command: 'pull <ref>',
  describe: 'pull an image from a registry into the store (or --dest LAYOUT[:TAG])',
  builder: (y) =>
    registryOptions(storeOption(y))
      .positional('ref', { type: 'string', describe: 'registry reference, e.g. 127.0.0.1:5000/busybox:1.36', demandOption: true })
      .option('dest', { type: 'string', describe: 'write into this OCI layout instead of the store; DIR[:TAG], TAG defaults to the reference tag' })
      .option('platform', { type: 'string', describe: 'os/arch[/variant] to choose from an index (default: this host)' })
      .option('all', { type: 'boolean', describe: 'copy every platform of an index, keeping the index' })
      .option('jobs', { type: 'number', default: 3, describe: 'parallel layer downloads' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress output' }),
  run: async (a) => {
    const { pull } = await import('../../registry/pull');
    const { Progress } = await import('../../registry/progress');
    const { Layout } = await import('../../store/layout');
    const { parsePlatform } = await import('../../store/image');
    const { clientOptions, openStore } = await import('../../store/args');
    const { parseReference, stripTransport } = await import('../../registry/reference');
    let layout: LayoutT;
    let name: string | undefined;
    /** A --dest layout this pull creates: removed again when the pull fails. */
    let created: string | undefined;
    if (a.dest) {
      const m = /^(?:oci:)?(.*?)(?::([\w][\w.-]{0,127}))?$/.exec(String(a.dest))!;
      const fs = await import('node:fs');
      if (!fs.existsSync(m[1])) created = m[1];
      layout = await Layout.open(m[1], { create: true });
      const r = parseReference(stripTransport(String(a.ref)));
      name = m[2] ?? r.tag ?? r.digest;
    } else {
      layout = await openStore(a);
    }
    const progress = new Progress(process.stderr, !!a.quiet);
    let r;
    try {
      r = await pull(String(a.ref), layout, {
        ...clientOptions(a),
        platform: a.platform ? parsePlatform(a.platform) : undefined,
        all: a.all,
        jobs: a.jobs,
        name,
        progress,
      });
    } catch (e) {
      if (created) (await import('../../fs/remove-tree')).removeTree(created);
      throw e;
    }
    if (!a.quiet) process.stdout.write(`${r.name} ${r.descriptor.digest}\n`);
  },
};
