/**
 * Fd layout of stage 2: 0-2 stdio, 3..3+N-1 the --preserve-fds, then the runtime's own fds.
 * Every fd from `base` up is closed (close-on-exec) before the container process starts.
 */
export function stage2Fds(preserveFds: number): { base: number; sync: number; stateDir: number; console: number } {
  const base = 3 + preserveFds;
  return { base, sync: base, stateDir: base + 1, console: base + 2 };
}
