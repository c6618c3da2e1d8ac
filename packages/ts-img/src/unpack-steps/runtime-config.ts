/** config.json of a bundle from the image config and the rootfs's /etc/passwd and /etc/group. */
import type { ImageConfig, Spec } from '@tsrt/oci-spec';
import type { Sys } from '@tsrt/libc';
import { buildRuntimeConfig } from '../bundle/config';
import { readInRoot } from '../bundle/passwd';
import type { IdMapping } from '../layers/idmap';

/** With a user namespace, the image's user must be inside the mappings or the container cannot start. */
function warnUnmappedUser(spec: Spec, warn: (m: string) => void): void {
  const u = spec.process?.user;
  const l = spec.linux;
  if (!u || !l?.uidMappings || !l.gidMappings) return;
  const inside = (id: number, m: { containerID: number; size: number }[]): boolean => m.some((r) => id >= r.containerID && id < r.containerID + r.size);
  if (!inside(u.uid, l.uidMappings)) warn(`process.user.uid ${u.uid} is not in the uid mappings: the container cannot start as that user (give --uid-map ranges)`);
  for (const g of [u.gid, ...(u.additionalGids ?? [])]) {
    if (!inside(g, l.gidMappings)) {
      warn(`gid ${g} of process.user is not in the gid mappings: the container cannot start with it (give --gid-map ranges)`);
      break;
    }
  }
}

export interface RuntimeConfigOptions {
  rootless?: boolean;
  uidMap?: IdMapping[];
  gidMap?: IdMapping[];
  warn?: (msg: string) => void;
}

/** The spec for a rootfs open as `rootfd` (users and groups are read inside it). */
export function runtimeConfig(sys: Sys, rootfd: number, config: ImageConfig, o: RuntimeConfigOptions): Spec {
  const spec = buildRuntimeConfig(config, {
    rootless: o.rootless,
    uidMap: o.uidMap,
    gidMap: o.gidMap,
    passwd: readInRoot(sys, rootfd, 'etc/passwd'),
    group: readInRoot(sys, rootfd, 'etc/group'),
  });
  warnUnmappedUser(spec, o.warn ?? ((m) => process.stderr.write(`ts-img: warning: ${m}\n`)));
  return spec;
}

export function configText(spec: Spec): string {
  return JSON.stringify(spec, null, '\t') + '\n';
}
