import type { Command } from '../command';
import { registryOptions } from '../../store/options';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export const loginCommand: Command = {
  command: 'login <registry>',
  describe: 'check credentials against a registry and store them in a docker-style auth file',
  builder: (y) =>
    registryOptions(y)
      .positional('registry', { type: 'string', demandOption: true, describe: 'registry host[:port]' })
      .option('username', { alias: 'u', type: 'string', demandOption: true })
      .option('password', { alias: 'p', type: 'string', describe: 'password (prefer --password-stdin)' })
      .option('password-stdin', { type: 'boolean', describe: 'read the password from stdin' }),
  run: async (a) => {
    const { UserError } = await import('../errors');
    const { RegistryClient } = await import('../../registry/client');
    const { authFileForWrite, saveCredentials } = await import('../../registry/authfile');
    const { clientOptions } = await import('../../store/args');
    const { parseReference } = await import('../../registry/reference');
    const registry = parseReference(`${String(a.registry).replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '')}/x`).registry;
    const password = a.passwordStdin ? await readStdin() : a.password;
    if (password === undefined) throw new UserError('login: give --password or --password-stdin');
    const creds = { username: String(a.username), password };
    const client = new RegistryClient(registry, { ...clientOptions(a), creds });
    await client.ping();
    const file = authFileForWrite(a.authfile);
    saveCredentials(registry, creds, file);
    process.stdout.write(`login succeeded: ${registry} (${file})\n`);
  },
};

export const logoutCommand: Command = {
  command: 'logout <registry>',
  describe: 'remove stored credentials for a registry',
  builder: (y) =>
    y.positional('registry', { type: 'string', demandOption: true }).option('authfile', { type: 'string', describe: 'auth file (default as for login)' }),
  run: async (a) => {
    const { UserError } = await import('../errors');
    const { authFileForWrite, removeCredentials } = await import('../../registry/authfile');
    const { parseReference } = await import('../../registry/reference');
    const registry = parseReference(`${String(a.registry).replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '')}/x`).registry;
    const file = authFileForWrite(a.authfile);
    if (!removeCredentials(registry, file)) throw new UserError(`not logged in to ${registry} (${file})`);
    process.stdout.write(`removed credentials for ${registry} from ${file}\n`);
  },
};
