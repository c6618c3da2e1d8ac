import type { Command } from '../command';
import { ImageManifest } from '@tsrt/oci-spec';
import { storeOption } from '../../store/options';

export const imagesCommand: Command = {
  command: ['images [layout]', 'ls [layout]'],
  describe: 'list the images in the store (or in an OCI layout)',
  builder: (y) =>
    storeOption(y)
      .positional('layout', { type: 'string', describe: 'list this OCI layout instead of the store' })
      .option('json', { type: 'boolean', describe: 'JSON output' })
      .option('quiet', { alias: 'q', type: 'boolean', describe: 'names only' }),
  run: async (a) => {
    const { openStore } = await import('../../store/args');
    const { isIndex } = await import('../../store/image');
    const { fmtBytes } = await import('../../registry/progress');
    const { splitLayoutArg } = await import('../../store/args');
    const { Layout } = await import('../../store/layout');
    const layout = a.layout ? await Layout.open(splitLayoutArg(String(a.layout))?.dir ?? String(a.layout)) : await openStore(a);
    const rows = layout.readIndex().manifests.map((d) => {
      let size = d.size;
      let created = '';
      let kind = 'image';
      try {
        const bytes = layout.readBlob(d.digest);
        if (isIndex(d, bytes)) kind = 'index';
        else {
          const m = JSON.parse(bytes.toString('utf8')) as ImageManifest;
          size = m.config.size + m.layers.reduce((s, l) => s + l.size, 0);
          created = (layout.readJSON<{ created?: string }>(m.config.digest).created ?? '').replace(/\.\d+Z$/, 'Z');
        }
      } catch {
        kind = 'missing';
      }
      return { name: d.annotations?.['org.opencontainers.image.ref.name'] ?? '<none>', digest: d.digest, mediaType: d.mediaType, kind, size, created };
    });
    if (a.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (a.quiet) {
      for (const r of rows) process.stdout.write(`${r.name}\n`);
      return;
    }
    const w = Math.max(4, ...rows.map((r) => r.name.length));
    process.stdout.write(`${'NAME'.padEnd(w)}  DIGEST        KIND   SIZE      CREATED\n`);
    for (const r of rows) process.stdout.write(`${r.name.padEnd(w)}  ${r.digest.slice(7, 19)}  ${r.kind.padEnd(5)}  ${fmtBytes(r.size).padEnd(8)}  ${r.created}\n`);
  },
};
