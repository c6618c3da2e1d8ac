import fs from 'node:fs';
import path from 'node:path';
import type { Command } from '../command';
import { storeOption } from '../../store/options';

export const importCommand: Command = {
  command: 'import <tarball> [name]',
  describe: 'make a one-layer image from a rootfs tarball (plain, gzip or zstd; - for stdin)',
  builder: (y) =>
    storeOption(y)
      .positional('tarball', { type: 'string', demandOption: true })
      .positional('name', { type: 'string', describe: 'image name in the store, or LAYOUT:TAG with --dest' })
      .option('dest', { type: 'string', describe: 'write into this OCI layout instead of the store' })
      .option('cmd', { type: 'string', array: true, describe: 'Cmd: repeat for each argument, or one JSON array' })
      .option('entrypoint', { type: 'string', array: true, describe: 'Entrypoint: repeat for each argument, or one JSON array' })
      .option('env', { type: 'string', array: true, describe: 'KEY=VALUE (repeatable)' })
      .option('workdir', { type: 'string' })
      .option('user', { type: 'string' })
      .option('label', { type: 'string', array: true, describe: 'KEY=VALUE (repeatable)' })
      .option('platform', { type: 'string', describe: 'os/arch[/variant] recorded in the config (default: this host)' })
      .option('message', { alias: 'm', type: 'string', describe: 'history comment' }),
  run: async (a) => {
    const { importTarball } = await import('../../archive/import');
    const { spoolStdin } = await import('../../archive/load');
    const { openStore, storeName } = await import('../../store/args');
    const { Layout } = await import('../../store/layout');
    const { parsePlatform } = await import('../../store/image');
    let file = String(a.tarball);
    let spooled: string | undefined;
    if (file === '-') file = spooled = await spoolStdin();
    try {
      const layout = a.dest ? await Layout.open(a.dest, { create: true }) : await openStore(a);
      const name = a.name ? (a.dest ? String(a.name) : storeName(String(a.name))) : undefined;
      const labels: Record<string, string> = {};
      for (const l of (a.label as string[] | undefined) ?? []) {
        const i = l.indexOf('=');
        labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
      }
      const argv = (v: unknown): string[] | undefined => {
        const arr = v as string[] | undefined;
        if (arr && arr.length === 1 && arr[0].trim().startsWith('[')) return JSON.parse(arr[0]) as string[];
        return arr;
      };
      const d = await importTarball(layout, file, name, {
        cmd: argv(a.cmd),
        entrypoint: argv(a.entrypoint),
        env: a.env as string[] | undefined,
        workdir: a.workdir,
        user: a.user,
        labels,
        comment: a.message,
        platform: a.platform ? parsePlatform(a.platform) : undefined,
      });
      process.stdout.write(`${name ?? '<none>'} ${d.digest}\n`);
    } finally {
      if (spooled) fs.rmSync(path.dirname(spooled), { recursive: true, force: true });
    }
  },
};
