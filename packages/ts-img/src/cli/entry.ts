// Process entry of the ts-img CLI (and of its bundle, scripts/bundle.js).
import { koffiLoaded } from '@tsrt/libc';
import { main } from './main';
import { exitCli } from './exit';

// Done: with koffi loaded, end at once (exitCli says why) with the code a command may have set;
// otherwise Node ends when nothing is left to do, as before.
void main(process.argv.slice(2)).then(() => {
  if (koffiLoaded()) exitCli(typeof process.exitCode === 'number' ? process.exitCode : 0);
});
