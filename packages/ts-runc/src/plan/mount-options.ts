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

// mount_setattr(2) MOUNT_ATTR_* bits for the recursive options.
const ATTR_RDONLY = 0x1, ATTR_NOSUID = 0x2, ATTR_NODEV = 0x4, ATTR_NOEXEC = 0x8;
const ATTR_NOATIME = 0x10, ATTR_STRICTATIME = 0x20, ATTR_ATIME_MASK = 0x70, ATTR_NODIRATIME = 0x80, ATTR_NOSYMFOLLOW = 0x200000;

/** Recursive ("r"-prefixed) options: applied to the whole mount tree with mount_setattr(2). */
const RECURSIVE: Record<string, { set: number; clr: number }> = {
  rro: { set: ATTR_RDONLY, clr: 0 },
  rrw: { set: 0, clr: ATTR_RDONLY },
  rnosuid: { set: ATTR_NOSUID, clr: 0 },
  rsuid: { set: 0, clr: ATTR_NOSUID },
  rnodev: { set: ATTR_NODEV, clr: 0 },
  rdev: { set: 0, clr: ATTR_NODEV },
  rnoexec: { set: ATTR_NOEXEC, clr: 0 },
  rexec: { set: 0, clr: ATTR_NOEXEC },
  rnodiratime: { set: ATTR_NODIRATIME, clr: 0 },
  rdiratime: { set: 0, clr: ATTR_NODIRATIME },
  rrelatime: { set: 0, clr: ATTR_ATIME_MASK }, // relatime is the zero value of the atime field
  rnorelatime: { set: 0, clr: ATTR_ATIME_MASK },
  rnoatime: { set: ATTR_NOATIME, clr: ATTR_ATIME_MASK },
  ratime: { set: 0, clr: ATTR_NOATIME },
  rstrictatime: { set: ATTR_STRICTATIME, clr: ATTR_ATIME_MASK },
  rnostrictatime: { set: 0, clr: ATTR_STRICTATIME },
  rnosymfollow: { set: ATTR_NOSYMFOLLOW, clr: 0 },
  rsymfollow: { set: 0, clr: ATTR_NOSYMFOLLOW },
};

/** Options handled by stage 2 outside mount(2) flags. */
const EXTENSIONS = new Set(['tmpcopyup', 'idmap', 'ridmap', ...Object.keys(RECURSIVE)]);

/** The mount_setattr set/clear masks of the recursive options, or null when there are none. */
export function recursiveAttrs(extensions: string[]): { set: number; clr: number } | null {
  let set = 0, clr = 0, any = false;
  for (const e of extensions) {
    const r = RECURSIVE[e];
    if (!r) continue;
    any = true;
    set = (set & ~r.clr) | r.set;
    clr = (clr & ~r.set) | r.clr;
  }
  return any ? { set, clr } : null;
}

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
