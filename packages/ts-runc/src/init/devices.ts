import * as fs from 'fs';
import * as path from 'path';
import { makedev, mkdirAll, S_IFMT, S_IFIFO, MS_BIND, type Sys } from '@tsrt/libc';
import type { PlannedDevice } from '../plan/types';
import { DEV_SYMLINKS } from '../plan/defaults';
import { resolveInRoot } from './resolve';

/** True when `host` is already the device; an existing file that is not it is an error. */
function sameDevice(host: string, d: PlannedDevice): boolean {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(host);
  } catch {
    return false;
  }
  const type = d.mode & S_IFMT;
  const rdev = BigInt(st.rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  if ((st.mode & S_IFMT) === type && (type === S_IFIFO || (major === d.major && minor === d.minor))) return true;
  throw new Error(`linux.devices: ${d.path} already exists in the rootfs and is not the requested device`);
}

/** In a user namespace mknod is not allowed: bind the host's node over an empty file, as runc. */
function bindHostDevice(sys: Sys, host: string, d: PlannedDevice): void {
  try {
    if (!fs.existsSync(host)) fs.closeSync(fs.openSync(host, 'a', 0o644));
    sys.mount(d.path, host, null, MS_BIND, null);
  } catch (e) {
    throw new Error(`bind device ${d.path}: ${(e as { code?: string }).code ?? e}`);
  }
}

/** mknod each device inside the rootfs (replacing what is there), then chown and chmod it. */
export function createDevices(sys: Sys, rootfs: string, devices: PlannedDevice[], userns?: boolean): void {
  for (const d of devices) {
    const host = resolveInRoot(rootfs, d.path);
    mkdirAll(path.dirname(host), 0o755);
    if (d.strict && sameDevice(host, d)) {
      fs.chmodSync(host, d.mode & 0o7777);
      sys.lchown(host, d.uid, d.gid);
      continue;
    }
    if (userns && (d.mode & S_IFMT) !== S_IFIFO) {
      bindHostDevice(sys, host, d);
      continue;
    }
    try {
      fs.rmSync(host, { force: true });
      sys.mknod(host, d.mode, makedev(d.major, d.minor));
      sys.lchown(host, d.uid, d.gid);
      fs.chmodSync(host, d.mode & 0o7777);
    } catch (e) {
      throw new Error(`create device ${d.path}: ${(e as { code?: string }).code ?? e}`);
    }
  }
}

/** /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx -> pts/ptmx, as runc sets them up. */
export function createDevSymlinks(rootfs: string): void {
  const links: Array<[string, string]> = [...DEV_SYMLINKS];
  if (fs.existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
  links.push(['pts/ptmx', '/dev/ptmx']);
  for (const [target, link] of links) {
    const host = resolveInRoot(rootfs, link);
    fs.rmSync(host, { force: true });
    fs.symlinkSync(target, host);
  }
}
