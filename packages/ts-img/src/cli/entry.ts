// Process entry of the ts-img CLI (and of its bundle, scripts/bundle.js).
import { exitGroupFits, exitGroupNow, libc } from '@tsrt/libc';
import { main } from './main';

// Done: end at once where exit_group fits (libc exit-group.ts), with the code a command may
// have set; otherwise Node ends when nothing is left to do (a pipe's queued output written first).
void main(process.argv.slice(2)).then(() => {
  if (exitGroupFits()) exitGroupNow(libc(), typeof process.exitCode === 'number' ? process.exitCode : 0);
});
