import type { Command } from '../command';
import { unpackCommand } from './unpack';
import { validateCommand } from './validate';
import { pullCommand } from './pull';
import { pushCommand } from './push';
import { imagesCommand } from './images';
import { tagCommand } from './tag';
import { rmCommand } from './rm';
import { gcCommand } from './gc';
import { removeCommand } from './remove';
import { mountCommand } from './mount';
import { historyCommand } from './history';
import { saveCommand } from './save';
import { loadCommand } from './load';
import { importCommand } from './import';
import { exportCommand } from './export';
import { repackCommand } from './repack';
import { inspectCommand } from './inspect';
import { loginCommand, logoutCommand } from './login';

/** Every ts-img subcommand, in the order `--help` lists them. Add new commands here. */
export const commands: Command[] = [
  unpackCommand,
  validateCommand,
  pullCommand,
  pushCommand,
  imagesCommand,
  tagCommand,
  rmCommand,
  removeCommand,
  mountCommand,
  gcCommand,
  historyCommand,
  saveCommand,
  loadCommand,
  importCommand,
  exportCommand,
  repackCommand,
  inspectCommand,
  loginCommand,
  logoutCommand,
];
