import type { Command } from '../command';
import { UserError } from '../errors';
import { parseIdMap } from '../../layers/idmap';
import { UNPACK_REGISTRY_OPTIONS } from '../../store/options';
import { ArgTable, usage } from '../arg-table';

interface Args {
  source?: string;
  bundle?: string;
  image?: string;
  platform?: string;
  rootless?: boolean;
  uidMap?: string | string[];
  gidMap?: string | string[];
  quiet?: boolean;
  maxLayerSize?: string;
  overlay?: boolean;
  store?: string;
}

/** unpack --overlay: the same options, and the store the layers go to. */
async function overlayUnpacker(a: Args): Promise<typeof import('../../unpack').unpack> {
  const { unpackOverlay } = await import('../../overlay/unpack-overlay');
  const { storeDir } = await import('../../store/args');
  const store = storeDir({ store: a.store });
  return (src, bundle, o) => unpackOverlay(src, bundle, { ...o, store });
}

const unpackArgs: ArgTable = {
  positionals: [
    { name: 'source', describe: 'image: layout dir[:tag|@digest], oci-archive, docker save tarball, registry reference or store name' },
    { name: 'bundle', describe: 'bundle directory to create (must not exist, or be empty)' },
  ],
  options: [
    ...UNPACK_REGISTRY_OPTIONS,
    { name: 'image', type: 'string', describe: 'image source (then the only positional is the bundle)' },
    { name: 'platform', type: 'string', describe: 'os/arch[/variant] to select from an index (default: the host)' },
    { name: 'rootless', type: 'boolean', default: false, describe: 'produce a rootless bundle (user namespace, no network ns)' },
    { name: 'uid-map', type: 'string', requiresArg: true, describe: 'containerID:hostID:size (repeatable): shift file ownership' },
    { name: 'gid-map', type: 'string', requiresArg: true, describe: 'containerID:hostID:size (repeatable)' },
    {
      name: 'overlay', type: 'boolean', default: false,
      describe: 'extract each layer once into the store and mount rootfs/ as an overlay of them with a writable layer of the bundle\'s own (remove it with ts-img remove)',
    },
    { name: 'quiet', alias: 'q', type: 'boolean', default: false, describe: 'no progress output' },
    {
      name: 'max-layer-size', type: 'string', requiresArg: true,
      describe: 'refuse a layer whose tar expands beyond SIZE (512M, 2G, bytes); default: no per-layer cap, all layers together may not expand beyond the free space of the bundle\'s filesystem',
    },
  ],
};

export const unpackCommand: Command<Args> = {
  command: usage('unpack', unpackArgs),
  describe: 'unpack an image into an OCI runtime bundle (rootfs/ + config.json)',
  args: unpackArgs,
  run: async (a) => {
    let source = a.source;
    let bundle = a.bundle;
    if (a.image !== undefined) {
      if (bundle !== undefined) throw new UserError('unpack: give the bundle once (with --image, only BUNDLE is positional)');
      bundle = source;
      source = a.image;
    }
    if (!source) throw new UserError('unpack: SOURCE missing');
    if (!bundle) throw new UserError('unpack: BUNDLE missing');
    const { parseSize } = await import('../../layers/space');
    const maxLayerBytes = a.maxLayerSize === undefined ? undefined : parseSize(a.maxLayerSize, '--max-layer-size');
    const { resolveUnpackSource, recordUnpackOrigin } = await import('../../registry/unpack-source');
    const src = await resolveUnpackSource(source, a as any);
    const run = a.overlay ? await overlayUnpacker(a) : (await import('../../unpack')).unpack;
    const r = await run(src.source, bundle, {
      platform: a.platform,
      rootless: a.rootless,
      // repeated options arrive as an array (not `array: true`, which would swallow the positionals)
      uidMap: ([] as string[]).concat(a.uidMap ?? []).map((s) => parseIdMap(s, 'uid-map')),
      gidMap: ([] as string[]).concat(a.gidMap ?? []).map((s) => parseIdMap(s, 'gid-map')),
      quiet: a.quiet,
      maxLayerBytes,
    });
    recordUnpackOrigin(r.bundle, src, r.manifestDigest);
    if (!a.quiet && process.stderr.isTTY) process.stderr.write(`unpacked ${r.manifestDigest} into ${r.bundle} (${r.entries} entries)\n`);
  },
};
