// Process entry of the ts-img CLI (and of its bundle, scripts/bundle.js).
import { main } from './main';
import { exitCli, exitGroupFits } from './exit';

// Done: end at once when exit_group fits (exit.ts), with the code a command may have set;
// otherwise Node ends when nothing is left to do (a pipe's queued output written first).
void main(process.argv.slice(2)).then(() => {
  if (exitGroupFits()) exitCli(typeof process.exitCode === 'number' ? process.exitCode : 0);
});
