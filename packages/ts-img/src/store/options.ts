/** yargs options shared by the store/registry commands (kept free of heavy imports: CLI start-up). */
import type { Argv } from 'yargs';

const DEFAULT_STORE = '/var/lib/ts-img';

export function storeOption<T>(y: Argv<T>): Argv<T> {
  return y.option('store', { type: 'string', describe: `image store (an OCI layout), default ${DEFAULT_STORE} or $TS_IMG_STORE` }) as Argv<T>;
}

export function registryOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('tls-verify', { type: 'boolean', default: true, describe: 'verify TLS certificates (false also allows plain HTTP)' })
    .option('plain-http', { type: 'boolean', describe: 'use http:// instead of https://' })
    .option('creds', { type: 'string', describe: 'USER:PASSWORD for the registry' })
    .option('authfile', { type: 'string', describe: 'docker-style auth.json (default $REGISTRY_AUTH_FILE, ~/.docker/config.json)' })
    .option('retries', { type: 'number', describe: 'retries on network errors and 5xx (default 4)' })
    .option('debug', { type: 'boolean', describe: 'log HTTP retries, resumes and mounts to stderr' }) as Argv<T>;
}


export function unpackRegistryOptions<T>(y: Argv<T>): Argv<T> {
  return registryOptions(storeOption(y)).option('pull', {
    choices: ['missing', 'always', 'never'],
    default: 'missing',
    describe: 'for registry references and store names: pull when not in the store, always, or never',
  }) as Argv<T>;
}

