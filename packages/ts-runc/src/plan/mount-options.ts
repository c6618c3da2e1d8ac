import {
  MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC,
  MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_SILENT, MS_UNBINDABLE, MS_PRIVATE,
  MS_SLAVE, MS_SHARED, MS_RELATIME, MS_STRICTATIME, MS_LAZYTIME,
} from '@tsrt/libc';

const MS_I_VERSION = 1 << 23;

/** Options that set (clear=false) or clear (clear=true) an MS_* flag, as mount(8) and runc read them. */
const FLAGS: Record<string, { clear: boolean; flag: number }> = {
  defaults: { clear: false, flag: 0 },
  ro: { clear: false, flag: MS_RDONLY },
  rw: { clear: true, flag: MS_RDONLY },
  suid: { clear: true, flag: MS_NOSUID },
  nosuid: { clear: false, flag: MS_NOSUID },
  dev: { clear: true, flag: MS_NODEV },
  nodev: { clear: false, flag: MS_NODEV },
  exec: { clear: true, flag: MS_NOEXEC },
  noexec: { clear: false, flag: MS_NOEXEC },
  sync: { clear: false, flag: MS_SYNCHRONOUS },
  async: { clear: true, flag: MS_SYNCHRONOUS },
  dirsync: { clear: false, flag: MS_DIRSYNC },
  remount: { clear: false, flag: MS_REMOUNT },
  mand: { clear: false, flag: MS_MANDLOCK },
  nomand: { clear: true, flag: MS_MANDLOCK },
  atime: { clear: true, flag: MS_NOATIME },
  noatime: { clear: false, flag: MS_NOATIME },
  diratime: { clear: true, flag: MS_NODIRATIME },
  nodiratime: { clear: false, flag: MS_NODIRATIME },
  bind: { clear: false, flag: MS_BIND },
  rbind: { clear: false, flag: MS_BIND | MS_REC },
  relatime: { clear: false, flag: MS_RELATIME },
  norelatime: { clear: true, flag: MS_RELATIME },
  strictatime: { clear: false, flag: MS_STRICTATIME },
  nostrictatime: { clear: true, flag: MS_STRICTATIME },
  lazytime: { clear: false, flag: MS_LAZYTIME },
  nolazytime: { clear: true, flag: MS_LAZYTIME },
  symfollow: { clear: true, flag: MS_NOSYMFOLLOW },
  nosymfollow: { clear: false, flag: MS_NOSYMFOLLOW },
  silent: { clear: false, flag: MS_SILENT },
  loud: { clear: true, flag: MS_SILENT },
  iversion: { clear: false, flag: MS_I_VERSION },
  noiversion: { clear: true, flag: MS_I_VERSION },
};

export const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** Options handled elsewhere or not at all yet; accepted so valid bundles still run. */
const EXTENSIONS = new Set(['tmpcopyup', 'idmap', 'ridmap', 'rro', 'rrw', 'rnosuid', 'rsuid', 'rnodev', 'rdev', 'rnoexec', 'rexec', 'rnoatime', 'ratime', 'rnodiratime', 'rdiratime', 'rrelatime', 'rnorelatime', 'rstrictatime', 'rnostrictatime', 'rnosymfollow', 'rsymfollow']);

export interface ParsedOptions {
  flags: number;
  propagation: number[];
  data: string[];
  extensions: string[];
}

export function parseMountOptions(options: string[] | undefined): ParsedOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  const extensions: string[] = [];
  for (const o of options ?? []) {
    const f = FLAGS[o];
    if (f) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (o in PROPAGATION) {
      propagation.push(PROPAGATION[o]);
    } else if (EXTENSIONS.has(o)) {
      extensions.push(o);
    } else {
      data.push(o);
    }
  }
  return { flags, propagation, data, extensions };
}

export const MOUNT_OPTION_NAMES = [...Object.keys(FLAGS), ...Object.keys(PROPAGATION), ...EXTENSIONS].sort();
