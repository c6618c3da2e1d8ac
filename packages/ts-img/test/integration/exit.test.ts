/**
 * How ts-img ends once its command is done: by exit_group when koffi is loaded (cli/entry.ts).
 * koffi's exit handler fsyncs stdout and stderr, a journal commit when either is a regular file.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { buildImage, writeTaggedLayout } from '../../src/testing/images';
import { fullImage } from '../../src/testing/fixtures';
import { BIN, mountsUnder, overlayScratch } from './overlay-helpers';

jest.setTimeout(120_000);

const s = overlayScratch('ts-img-exit-');
const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

/** ts-img with stdout and stderr on new regular files, under strace (not -f: its own thread only). */
function traced(args: string[]): { status: number | null; out: string; err: string; syncs: string[] } {
  const [out, err, trace] = ['out', 'err', 'trace'].map((n) => path.join(s.dir, n));
  const o = fs.openSync(out, 'w');
  const e = fs.openSync(err, 'w');
  try {
    const r = spawnSync('strace', ['-qq', '-o', trace, '-e', 'trace=fsync,fdatasync,syncfs', BIN, ...args], { stdio: ['ignore', o, e], timeout: 60_000 });
    // Its own store writes are fsynced on purpose: only stdout's and stderr's count here.
    const syncs = fs.readFileSync(trace, 'utf8').split('\n').filter((l) => /\b(fsync|fdatasync|syncfs)\([12]\)/.test(l));
    return { status: r.status, out: fs.readFileSync(out, 'utf8'), err: fs.readFileSync(err, 'utf8'), syncs };
  } finally {
    fs.closeSync(o);
    fs.closeSync(e);
  }
}

(hasStrace ? test : test.skip)('unpack --overlay, mount and remove (koffi loaded) sync neither stdout nor stderr, and their output is whole', () => {
  const ref = writeTaggedLayout(path.join(s.dir, 'layout'), buildImage(fullImage()));
  const store = path.join(s.dir, 'store');
  const b = s.bundle();
  const unpack = traced(['unpack', '--overlay', '--store', store, ref, b]);
  expect(unpack).toMatchObject({ status: 0, syncs: [] });
  expect(fs.existsSync(path.join(b, 'rootfs/etc'))).toBe(true);
  expect(traced(['remove', b])).toMatchObject({ status: 0, err: '', syncs: [] });
  // An error still reaches stderr whole, with its exit code.
  const bad = traced(['mount', path.join(s.dir, 'no-such-bundle')]);
  expect(bad).toMatchObject({ status: 1, syncs: [] });
  expect(bad.err).toMatch(/^ts-img: .*no-such-bundle/);
  expect(mountsUnder(s.dir)).toEqual([]);
});
