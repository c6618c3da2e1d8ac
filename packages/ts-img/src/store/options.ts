/** Options shared by the store/registry commands, as tables (cli/arg-table.ts; kept free of heavy imports: CLI start-up). */
import type { Argv } from 'yargs';
import { OptionSpec, yargsOptions } from '../cli/arg-table';

const DEFAULT_STORE = '/var/lib/ts-img';

export const STORE_OPTIONS: OptionSpec[] = [
  { name: 'store', type: 'string', describe: `image store (an OCI layout), default ${DEFAULT_STORE} or $TS_IMG_STORE` },
];

export const REGISTRY_OPTIONS: OptionSpec[] = [
  { name: 'tls-verify', type: 'boolean', default: true, describe: 'verify TLS certificates (false also allows plain HTTP)' },
  { name: 'plain-http', type: 'boolean', describe: 'use http:// instead of https://' },
  { name: 'creds', type: 'string', describe: 'USER:PASSWORD for the registry' },
  { name: 'authfile', type: 'string', describe: 'docker-style auth.json (default $REGISTRY_AUTH_FILE, ~/.docker/config.json)' },
  { name: 'retries', type: 'number', describe: 'retries on network errors and 5xx (default 4)' },
  { name: 'debug', type: 'boolean', describe: 'log HTTP retries, resumes and mounts to stderr' },
];

/** unpack of a registry reference or store name: the store, the registry, and when to pull. */
export const UNPACK_REGISTRY_OPTIONS: OptionSpec[] = [
  ...STORE_OPTIONS,
  ...REGISTRY_OPTIONS,
  {
    name: 'pull', choices: ['missing', 'always', 'never'], default: 'missing',
    describe: 'for registry references and store names: pull when not in the store, always, or never',
  },
];

export function storeOption<T>(y: Argv<T>): Argv<T> {
  return yargsOptions(y, STORE_OPTIONS);
}

export function registryOptions<T>(y: Argv<T>): Argv<T> {
  return yargsOptions(y, REGISTRY_OPTIONS);
}
