// The runtime-to-init protocol, part 1: where stage 2 finds its fds (part 2 is sync.ts, the
// messages on the sync socket). Both sides import it; it imports neither.

/**
 * Fd layout of stage 2: 0-2 stdio, 3..3+N-1 the --preserve-fds, then the runtime's own fds.
 * Every fd from `base` up is closed (close-on-exec) before the container process starts.
 */
export function stage2Fds(preserveFds: number): { base: number; sync: number; stateDir: number; console: number } {
  const base = 3 + preserveFds;
  return { base, sync: base, stateDir: base + 1, console: base + 2 };
}

/**
 * Stage 2's fds from its argv: the fixed layout above, or, after a clone spawn that could not
 * renumber them, the "fdmap=target:source,..." translation its spawner appended.
 */
export function stage2FdsFromArgv(argv: string[]): { base: number; sync: number; stateDir: number; console: number } {
  const layout = stage2Fds(Number(argv[2] ?? 0));
  const spec = argv.find((a) => a.startsWith('fdmap='));
  if (!spec) return layout;
  const map = new Map(spec.slice(6).split(',').map((p) => p.split(':').map(Number) as [number, number]));
  const at = (n: number) => map.get(n) ?? -1;
  return { base: layout.base, sync: at(layout.sync), stateDir: at(layout.stateDir), console: at(layout.console) };
}

/** 0-2 and the --preserve-fds, each mapped to itself: what every spawned process inherits. */
export function inheritedFds(preserveFds: number): Array<[number, number]> {
  return Array.from({ length: 3 + preserveFds }, (_, fd) => [fd, fd] as [number, number]);
}
