/**
 * --preserve-fds N hands fds 3..3+N-1 of the runtime to the container as they are. A caller's gap
 * there would be filled by whatever the runtime opens first: Node's own fds (its event loop's
 * epoll, a signal pipe a container process could write to), then, in create, run and exec, the
 * cgroup.procs that the migration warm-up writes (cli/launch.ts), which would let the container
 * move processes out of its cgroups. runc's spawn fails on such a gap (EBADF); ts-runc refuses it
 * before anything is made (bin/ts-runc, lifecycle/preserved-fds.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync, type StdioOptions } from 'child_process';
import { TS_RUNC, makeBundle, runtime, uniqueId, removeBundle, type Bundle, type Runtime } from '../../helpers/runtime';

jest.setTimeout(60000);

let rt: Runtime;
let b: Bundle;
const LAUNCH = path.join(path.dirname(TS_RUNC), '../dist/src/cli/launch.js');
const NODE = fs.existsSync('/usr/local/lib/ts-runc/node') ? '/usr/local/lib/ts-runc/node' : process.execPath;

beforeAll(() => {
  rt = runtime();
  // Every fd the container has, as "N -> target" lines.
  b = makeBundle(['sh', '-c', 'for f in /proc/self/fd/*; do echo "${f##*/} -> $(readlink $f)"; done']);
});
afterAll(() => {
  rt.cleanup();
  removeBundle(b);
});

/** How many fds above 2 Node has open when a script starts, with the launcher's environment. */
function nodeOwnFds(): number {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  const r = spawnSync(NODE, ['-e', 'process.stdout.write(String(require("fs").readdirSync("/proc/self/fd").length))'], { env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  // 0-2, and readdir's own fd
  return Number(r.stdout) - 4;
}

/** run with --preserve-fds N: positions in `gaps` closed, the others /dev/null. */
function runWith(n: number, gaps: Set<number>, direct = false): { status: number | null; stderr: string; fds: string[] } {
  const devNull = fs.openSync('/dev/null', 'r');
  const out = path.join(rt.root, `.fds-${process.pid}`);
  const outFd = fs.openSync(out, 'w');
  try {
    const extra = Array.from({ length: n }, (_, i) => (gaps.has(3 + i) ? 'ignore' : devNull));
    const stdio = ['ignore', outFd, 'pipe', ...extra] as StdioOptions;
    const args = ['--root', rt.root, 'run', '--preserve-fds', String(n), '-b', b.dir, uniqueId('pfd')];
    // direct: Node started without bin/ts-runc's look at the fds before it
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.TS_RUNC_CLOSED_FDS;
    const r = direct ? spawnSync(NODE, [LAUNCH, ...args], { stdio, env, encoding: 'utf8', timeout: 30000 }) : spawnSync(TS_RUNC, args, { stdio, encoding: 'utf8', timeout: 30000 });
    return { status: r.status, stderr: r.stderr, fds: fs.readFileSync(out, 'utf8').trim().split('\n').filter(Boolean) };
  } finally {
    fs.closeSync(devNull);
    fs.closeSync(outFd);
    fs.rmSync(out, { force: true });
  }
}

test('the caller\'s fds reach the container, and none of the runtime\'s', () => {
  const r = runWith(2, new Set());
  expect(r.status).toBe(0);
  const targets = Object.fromEntries(r.fds.map((l) => l.split(' -> ')));
  expect(targets['3']).toBe('/dev/null');
  expect(targets['4']).toBe('/dev/null');
  // 0-4, and the fd sh's readlink loop reads /proc/self/fd through
  expect(Object.keys(targets).filter((fd) => Number(fd) > 4).length).toBeLessThanOrEqual(1);
});

test('a gap the caller left is refused before anything is made: Node would fill it with its own fds', () => {
  // Node fills the first gaps with its own fds (its epoll, a signal pipe, an eventfd); the
  // migration warm-up's cgroup.procs would be the next.
  const own = nodeOwnFds();
  expect(own).toBeGreaterThan(0);
  for (const gaps of [new Set([3]), new Set(Array.from({ length: own + 1 }, (_, i) => 3 + i))]) {
    const r = runWith(own + 3, gaps);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`--preserve-fds ${own + 3}: fd ${[...gaps].slice(0, 8).join(', ')} ${gaps.size > 1 ? 'are' : 'is'} not open`);
    expect(r.fds).toEqual([]); // no container ran
    expect(rt.ids()).toEqual([]);
  }
  // exec too
  const id = uniqueId('pfd-exec');
  const sleeper = makeBundle(['sleep', '1000']);
  try {
    expect(rt.run(['run', '-d', '-b', sleeper.dir, id]).status).toBe(0);
    const devNull = fs.openSync('/dev/null', 'r');
    try {
      const r = spawnSync(TS_RUNC, ['--root', rt.root, 'exec', '--preserve-fds', '2', id, 'true'], { stdio: ['ignore', 'ignore', 'pipe', 'ignore', devNull], encoding: 'utf8', timeout: 30000 });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('--preserve-fds 2: fd 3 is not open');
    } finally {
      fs.closeSync(devNull);
    }
  } finally {
    rt.run(['delete', '-f', id]);
    removeBundle(sleeper);
  }
});

test('node launch.js without bin/ts-runc: the gaps Node did not fill are refused (the CLI\'s own fds would go there)', () => {
  const own = nodeOwnFds();
  const gaps = new Set(Array.from({ length: own + 2 }, (_, i) => 3 + i));
  const r = runWith(own + 4, gaps, true);
  expect(r.status).not.toBe(0);
  // (Node without the shell in front may hold a few fds fewer than the probe saw)
  expect(r.stderr).toMatch(new RegExp(`--preserve-fds ${own + 4}: fd (\\d+, )*${4 + own} are not open`));
  expect(r.fds).toEqual([]);
  expect(rt.ids()).toEqual([]);
});
