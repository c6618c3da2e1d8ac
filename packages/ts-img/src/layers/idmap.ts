/** One range of an ID mapping, as in runtime-spec linux.uidMappings. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** A range that is empty or runs past the 32-bit ids. */
const outOfBounds = (r: IdMapping): boolean => r.size < 1 || r.containerID + r.size > 2 ** 32 || r.hostID + r.size > 2 ** 32;

/** Parse "containerID:hostID:size" (several may be given). */
export function parseIdMap(spec: string, what: string): IdMapping {
  const m = /^(\d+):(\d+):(\d+)$/.exec(spec.trim());
  if (!m) throw new Error(`--${what}: expected containerID:hostID:size, got ${JSON.stringify(spec)}`);
  const r = { containerID: Number(m[1]), hostID: Number(m[2]), size: Number(m[3]) };
  if (outOfBounds(r)) {
    throw new Error(`--${what}: range ${spec} is out of bounds`);
  }
  return r;
}

/** A mapping read from a file: the ranges (copied), or what is wrong with the value. */
export function idMapOf(v: unknown): IdMapping[] | string {
  if (!Array.isArray(v) || v.length === 0) return 'a non-empty array of {containerID, hostID, size}';
  const u32 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 32;
  const out: IdMapping[] = [];
  for (const [i, r] of v.entries()) {
    const { containerID, hostID, size } = (r ?? {}) as Record<string, unknown>;
    if (!u32(containerID) || !u32(hostID) || !u32(size) || outOfBounds({ containerID, hostID, size })) {
      return `a list of ranges (entry ${i}: containerID, hostID and size within 32 bits, size at least 1)`;
    }
    out.push({ containerID, hostID, size });
  }
  return out;
}

/** Container ID -> host ID; undefined mapping means identity. Throws when the ID is not mapped. */
export function mapId(id: number, map: IdMapping[] | undefined, what: 'uid' | 'gid'): number {
  if (!map || map.length === 0) return id;
  for (const r of map) {
    if (id >= r.containerID && id < r.containerID + r.size) return r.hostID + (id - r.containerID);
  }
  throw new Error(`${what} ${id} is not in the ${what} mapping`);
}
