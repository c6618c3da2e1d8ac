import * as fs from 'fs';
import * as path from 'path';
import { AT_FDCWD, O_PATH, O_CLOEXEC, RESOLVE_NO_MAGICLINKS, type Sys } from '@tsrt/libc';
import { errCode, cwdProblem } from '../paths/in-root';

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Find the program like Go's exec.LookPath, with its error texts: orchestrators map
 * "executable file not found" and "no such file or directory" to exit code 127.
 */
export function lookPath(file: string, env: string[]): string {
  if (file.includes('/')) {
    try {
      const st = fs.statSync(file);
      if (st.isDirectory() || (st.mode & 0o111) === 0) throw new Error(`exec: "${file}": permission denied`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new Error(`exec: "${file}": stat ${file}: no such file or directory`);
      if (code === 'ENOTDIR') throw new Error(`exec: "${file}": stat ${file}: not a directory`);
      throw e;
    }
    return file;
  }
  const pathVar = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  for (const dir of pathVar.split(':')) {
    const candidate = path.join(dir || '.', file);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new Error(`exec: "${file}": executable file not found in $PATH`);
}

/**
 * lookPath works on strings, which is fine after pivot_root or setns(mnt): "/" is the
 * container's root, and so is every symlink's. Except a /proc magic link to an fd still open
 * while execve resolves the path (args[0] = /proc/self/fd/N/../../bin/x would run a host file):
 * the found path is opened once more without following magic links, and refused if it needs one.
 */
export function checkNoMagicLinks(sys: Sys, found: string, file: string): void {
  try {
    sys.close(sys.openat2(AT_FDCWD, found, O_PATH | O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS));
  } catch (e) {
    const code = errCode(e);
    if (code === 'ELOOP' || code === 'EXDEV') throw new Error(`exec: "${file}": ${cwdProblem(e)}`);
    // Anything else: execve reports it as it would have.
  }
}

/** HOME from the container's /etc/passwd when the config does not set it (runc does the same). */
export function withHome(env: string[], uid: number): string[] {
  if (env.some((e) => e.startsWith('HOME='))) return env;
  let home = '/';
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && Number(f[2]) === uid && f[2] !== '') {
        home = f[5] || '/';
        break;
      }
    }
  } catch {
    /* no passwd in the image */
  }
  return [...env, `HOME=${home}`];
}
