import type { Command } from '../command';
import type { Layout as LayoutT } from '../../store/layout';
import { UserError } from '../errors';
import { storeOption } from '../../store/options';

export const repackCommand: Command = {
  command: 'repack <bundle>',
  describe: "turn the changes in a bundle's rootfs into a new layer on top of the image it came from (of an overlay bundle: its upper dir)",
  builder: (y) =>
    storeOption(y)
      .positional('bundle', { type: 'string', demandOption: true })
      .option('image', { type: 'string', demandOption: true, describe: 'where the new image goes: LAYOUT:TAG, or a store name' })
      .option('base', { type: 'string', describe: 'the image the bundle was unpacked from (default: the bundle\'s ts-img-origin.json, else --image)' })
      .option('history', { type: 'string', describe: 'created_by text of the new history entry' })
      .option('message', { alias: 'm', type: 'string', describe: 'history comment' })
      .option('exclude', { type: 'string', array: true, describe: 'rootfs paths to leave out (repeatable)' })
      .option('uid-map', { type: 'string', array: true, describe: 'containerID:hostID:size the bundle was unpacked with (owners are mapped back)' })
      .option('gid-map', { type: 'string', array: true, describe: 'containerID:hostID:size (repeatable)' })
      .option('xattrs', { type: 'boolean', default: true, describe: 'record extended attributes (--no-xattrs to skip)' }),
  run: async (a) => {
    const { repack, readOrigin } = await import('../../repack/repack');
    const { resolveImageArg, splitLayoutArg, findInStore, openStore, storeName } = await import('../../store/args');
    const { Layout } = await import('../../store/layout');
    const bundle = String(a.bundle);
    const imageArg = String(a.image);
    // destination
    let target: LayoutT;
    let tag: string;
    const lay = splitLayoutArg(imageArg) ?? (imageArg.startsWith('oci:') ? undefined : undefined);
    if (lay) {
      if (!lay.ref) throw new UserError('repack: --image needs LAYOUT:TAG');
      target = await Layout.open(lay.dir);
      tag = lay.ref;
    } else {
      target = await openStore(a);
      tag = storeName(imageArg);
    }
    // base
    let base: { layout: LayoutT; descriptor: import('@tsrt/oci-spec').Descriptor } | undefined;
    if (a.base) {
      const r = await resolveImageArg(String(a.base), a);
      base = { layout: r.layout, descriptor: r.descriptor };
    } else {
      const o = readOrigin(bundle);
      if (o) {
        const l = await Layout.open(o.layout);
        if (!l.hasBlob(o.manifestDigest)) throw new UserError(`repack: the bundle's origin ${o.manifestDigest} is no longer in ${o.layout} (use --base)`);
        base = { layout: l, descriptor: { mediaType: '', digest: o.manifestDigest, size: 0 } };
      } else {
        const hit = lay ? target.find(tag) : findInStore(target, tag);
        if (!hit) throw new UserError(`repack: no base image: ${bundle} has no ts-img-origin.json and ${imageArg} does not exist yet (use --base)`);
        base = { layout: target, descriptor: hit.descriptor };
      }
    }
    const { parseIdMap } = await import('../../layers/idmap');
    const r = await repack(bundle, target, tag, base, {
      createdBy: a.history,
      comment: a.message,
      exclude: a.exclude as string[] | undefined,
      uidMap: ((a.uidMap as string[] | undefined) ?? []).map((m) => parseIdMap(m, 'uid-map')),
      gidMap: ((a.gidMap as string[] | undefined) ?? []).map((m) => parseIdMap(m, 'gid-map')),
      xattrs: a.xattrs,
    });
    // the upper dir does not tell an added file from a changed one
    const counts = r.source === 'overlay' ? `${r.changed} added or changed` : `${r.added} added, ${r.changed} changed`;
    process.stdout.write(`${tag} ${r.manifest.digest} (layer ${r.layer.digest}: ${counts}, ${r.deleted} deleted)\n`);
  },
};
