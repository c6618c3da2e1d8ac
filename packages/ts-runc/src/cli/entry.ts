// Process entry of the ts-runc CLI: run main and exit with its code (never a stack trace).
import { main } from './main';
import { exitProcess } from '../lifecycle/process-exit';

main(process.argv.slice(2)).then(
  (code) => exitProcess(code),
  (e) => {
    process.stderr.write(`ts-runc: ${e instanceof Error ? e.message : String(e)}\n`);
    exitProcess(1);
  },
);
