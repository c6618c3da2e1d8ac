import * as fs from 'fs';
import { Sys, isSysError, O_RDONLY, O_CLOEXEC, O_NOCTTY, O_NONBLOCK, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from '@tsrt/libc';

const MAX = 4 << 20;

/**
 * Read a small regular file inside the rootfs (symlinks resolved inside the root, never to a host
 * file); null when absent.
 */
export function readInRoot(sys: Sys, rootfd: number, rel: string): string | null {
  let fd: number;
  try {
    fd = sys.openat2(rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
  } catch (e) {
    if (isSysError(e, 'ENOENT') || isSysError(e, 'ENOTDIR') || isSysError(e, 'ELOOP')) return null;
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`/${rel} in the rootfs is not a regular file`);
    if (st.size > MAX) throw new Error(`/${rel} in the rootfs is too large (${st.size} bytes)`);
    const b = Buffer.alloc(st.size);
    let n = 0;
    while (n < b.length) {
      const r = fs.readSync(fd, b, n, b.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return b.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

export interface PasswdEntry { name: string; uid: number; gid: number; home: string }
export interface GroupEntry { name: string; gid: number; members: string[] }

function id(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

export function parsePasswd(text: string | null): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (f.length < 4 || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string | null): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = id(f[2]);
    if (f.length < 3 || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((x) => x.trim()).filter(Boolean) });
  }
  return out;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
  /** The home directory of the uid's /etc/passwd entry, when it has one (for HOME). */
  home?: string;
}

/**
 * Config.User -> process.user per conversion.md: numeric values verbatim; names resolved from
 * the rootfs's /etc/passwd and /etc/group; additionalGids only when a user name was given without
 * a group (conversion.md: not for a numeric user, where umoci adds them); an unknown user or
 * group is an error. An empty user with a group (":50") is root with that group, as in umoci
 * and Docker.
 */
export function resolveUser(user: string | undefined, passwd: string | null, group: string | null): ResolvedUser {
  const pw = parsePasswd(passwd);
  const withHome = (r: ResolvedUser): ResolvedUser => {
    const home = pw.find((p) => p.uid === r.uid)?.home;
    return home ? { ...r, home } : r;
  };
  if (!user) return withHome({ uid: 0, gid: 0 });
  const i = user.indexOf(':');
  const u = i < 0 ? user : user.slice(0, i) || '0';
  const g = i < 0 ? undefined : user.slice(i + 1);
  if (g === '') throw new Error(`Config.User ${JSON.stringify(user)}: empty group`);
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  const nu = id(u);
  if (nu !== undefined) {
    uid = nu;
    const e = pw.find((p) => p.uid === nu);
    if (e && g === undefined) gid = e.gid;
  } else {
    const e = pw.find((p) => p.name === u);
    if (!e) throw new Error(`Config.User ${JSON.stringify(user)}: no user ${JSON.stringify(u)} in the image's /etc/passwd`);
    uid = e.uid;
    gid = e.gid;
    name = e.name;
  }
  if (g !== undefined) {
    const ng = id(g);
    if (ng !== undefined) gid = ng;
    else {
      const e = parseGroup(group).find((x) => x.name === g);
      if (!e) throw new Error(`Config.User ${JSON.stringify(user)}: no group ${JSON.stringify(g)} in the image's /etc/group`);
      gid = e.gid;
    }
    return withHome({ uid, gid });
  }
  const res: ResolvedUser = { uid, gid: gid ?? 0 };
  if (name !== undefined) {
    const extra = parseGroup(group).filter((x) => x.members.includes(name!) && x.gid !== res.gid).map((x) => x.gid);
    const uniq = [...new Set(extra)];
    if (uniq.length > 0) res.additionalGids = uniq;
  }
  return withHome(res);
}
