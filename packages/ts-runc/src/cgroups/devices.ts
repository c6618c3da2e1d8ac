/**
 * Device cgroup rules: normalisation of the spec's entries, the default rules every container
 * gets (as runc), a model of the kernel's v1 devices controller (the "emulator": a default
 * verdict plus exceptions) that both drivers use, so v1 and v2 (eBPF) filter identically.
 */
import type { LinuxDeviceCgroup } from '@tsrt/oci-spec';
import { CgroupError, type CgroupWrite } from './types';

export type DeviceType = 'a' | 'b' | 'c';

export interface DeviceRule {
  allow: boolean;
  type: DeviceType;
  /** -1 is the wildcard (*). */
  major: number;
  minor: number;
  /** A non-empty subset of "rwm", always in that order. */
  access: string;
}

const ACCESS_ORDER = 'rwm';

function normAccess(access: string | undefined, what: string): string {
  const a = access ?? 'rwm';
  for (const ch of a) {
    if (!ACCESS_ORDER.includes(ch)) throw new CgroupError(`invalid device access ${JSON.stringify(a)} in ${what}: only r, w and m are allowed`);
  }
  const out = [...ACCESS_ORDER].filter((c) => a.includes(c)).join('');
  return out;
}

/** A spec entry (linux.resources.devices[i]) to a rule with every default filled in. */
export function normalizeDeviceRule(d: LinuxDeviceCgroup, index = 0): DeviceRule {
  const what = `linux.resources.devices[${index}]`;
  const type = (d.type ?? 'a') as string;
  if (type !== 'a' && type !== 'b' && type !== 'c') {
    throw new CgroupError(`invalid device type ${JSON.stringify(type)} in ${what}: must be a, b or c`);
  }
  const num = (v: number | null | undefined, name: string): number => {
    if (v === undefined || v === null || v === -1) return -1;
    if (!Number.isInteger(v) || v < 0) throw new CgroupError(`invalid device ${name} ${v} in ${what}`);
    return v;
  };
  const access = normAccess(d.access, what);
  return { allow: !!d.allow, type, major: num(d.major, 'major'), minor: num(d.minor, 'minor'), access };
}

/** Normalise a whole list (linux.resources.devices as given, no defaults added). */
export function normalizeDeviceRules(rules: LinuxDeviceCgroup[]): DeviceRule[] {
  return rules.map((r, i) => normalizeDeviceRule(r, i));
}

/** The rules runc appends after the spec's own (mknod of anything, the standard nodes, ptys, tun). */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = Object.freeze([
  { allow: true, type: 'c', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'b', major: -1, minor: -1, access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 136, minor: -1, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
] as DeviceRule[]);

/**
 * The device rules a container's cgroup gets: the spec's linux.resources.devices in order, then
 * runc's defaults. Nodes listed in linux.devices are created in the container but, as with runc,
 * not allowed by the cgroup unless a rule allows them.
 */
export function effectiveDeviceRules(rules: LinuxDeviceCgroup[] | undefined): DeviceRule[] {
  const out = (rules ?? []).map((r, i) => normalizeDeviceRule(r, i));
  return [...out, ...DEFAULT_DEVICE_RULES.map((r) => ({ ...r }))];
}

/** The kernel's v1 devices model: a default verdict and exceptions that invert it. */
export interface DeviceState {
  defaultAllow: boolean;
  exceptions: Array<Omit<DeviceRule, 'allow'>>;
}

function mergeAccess(a: string, b: string): string {
  return [...ACCESS_ORDER].filter((c) => a.includes(c) || b.includes(c)).join('');
}

/**
 * Apply rules in order, as the v1 kernel does with writes to devices.allow / devices.deny:
 * a type "a" rule resets everything to its verdict; a rule with the default's verdict removes
 * access from an exception with the same type/major/minor; any other rule adds an exception.
 * Starts from the root's state (allow everything).
 */
export function emulateDeviceRules(rules: DeviceRule[], start: DeviceState = { defaultAllow: true, exceptions: [] }): DeviceState {
  const st: DeviceState = { defaultAllow: start.defaultAllow, exceptions: start.exceptions.map((e) => ({ ...e })) };
  for (const r of rules) {
    if (r.type === 'a') {
      st.defaultAllow = r.allow;
      st.exceptions = [];
      continue;
    }
    const same = st.exceptions.findIndex((e) => e.type === r.type && e.major === r.major && e.minor === r.minor);
    if (r.allow === st.defaultAllow) {
      if (same >= 0) {
        const left = [...st.exceptions[same].access].filter((c) => !r.access.includes(c)).join('');
        if (left) st.exceptions[same].access = left;
        else st.exceptions.splice(same, 1);
      }
    } else if (same >= 0) {
      st.exceptions[same].access = mergeAccess(st.exceptions[same].access, r.access);
    } else {
      st.exceptions.push({ type: r.type, major: r.major, minor: r.minor, access: r.access });
    }
  }
  return st;
}

/** Would the state let this access through? (The decision the eBPF program computes.) */
export function deviceAllowed(st: DeviceState, type: 'b' | 'c', major: number, minor: number, access: string): boolean {
  const hit = st.exceptions.some(
    (e) =>
      e.type === type &&
      (e.major === -1 || e.major === major) &&
      (e.minor === -1 || e.minor === minor) &&
      [...access].every((c) => e.access.includes(c)),
  );
  return hit ? !st.defaultAllow : st.defaultAllow;
}

export function deviceRuleString(r: Omit<DeviceRule, 'allow'>): string {
  if (r.type === 'a') return 'a';
  const n = (v: number) => (v < 0 ? '*' : String(v));
  return `${r.type} ${n(r.major)}:${n(r.minor)} ${r.access}`;
}

/**
 * v1 writes for a rule list: reset to the final default verdict, then one write per exception.
 * (runc 1.1 diffs against the current state to avoid a transient deny on update; the reset is
 * simpler and the window is a few writes long.)
 */
export function v1DeviceWrites(rules: DeviceRule[]): CgroupWrite[] {
  const st = emulateDeviceRules(rules);
  const writes: CgroupWrite[] = [{ controller: 'devices', file: st.defaultAllow ? 'devices.allow' : 'devices.deny', value: 'a' }];
  for (const e of st.exceptions) {
    writes.push({ controller: 'devices', file: st.defaultAllow ? 'devices.deny' : 'devices.allow', value: deviceRuleString(e) });
  }
  return writes;
}
