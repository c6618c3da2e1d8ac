import { leanCommand } from '../../src/cli/main';
import { cliParser } from '../../src/cli/yargs-cli';
import { camelCase } from '../../src/cli/arg-table';
import type { Command } from '../../src/cli/command';

/** What yargs hands the command for argv, as the keys of the command's table; or its error text. */
function yargsParse(argv: string[]): Promise<{ command: Command; args: Record<string, unknown> } | { error: string }> {
  return new Promise((resolve) => {
    const fail = (message: string): never => {
      resolve({ error: message });
      throw new Error(message);
    };
    cliParser(argv, fail, (command, a) => {
      const t = command.args!;
      const keys = [...t.positionals.map((p) => p.name), ...t.options.map((o) => o.name)].map(camelCase);
      resolve({ command, args: Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, a[k]])) });
    }).parseAsync().catch(() => undefined);
  });
}

describe('lean command line of the hot commands', () => {
  test.each([
    [['unpack', 'img', 'bundle']],
    [['unpack', '-q', '--overlay', '--store', '/s', '/l:latest', '/b']],
    [['unpack', '--overlay', '--store=/s', 'img:tag', 'b', '-q']],
    [['unpack', 'img', 'b', '--store=x=y']],
    [['unpack', '--image', 'img', 'b']],
    [['unpack', 'img', 'b', '--platform', 'linux/arm64/v8', '--rootless']],
    [['unpack', 'img', 'b', '--uid-map', '0:1000:1', '--gid-map=0:1000:1']],
    [['unpack', 'img', 'b', '--max-layer-size', '512M', '--pull', 'never']],
    [['unpack', 'img', 'b', '--pull=always', '--retries', '7', '--creds', 'u:p', '--authfile', '/a.json']],
    [['unpack', 'img', 'b', '--tls-verify', '--plain-http', '--debug']],
    [['unpack', '1', '2']],
    [['unpack', 'img']],
    [['unpack']],
    [['unpack', 'img', '0x10']],
    [['mount', '/b']],
    [['remove', '/b']],
    [['remove', 'a:b=c']],
  ])('%j: the same options by both paths', async (argv) => {
    const lean = leanCommand(argv);
    expect(lean).toBeDefined();
    const y = await yargsParse(argv);
    expect(y).toHaveProperty('command', lean!.command);
    expect(lean!.args).toStrictEqual((y as { args: unknown }).args);
  });

  test.each([
    [['--help']],
    [['--version']],
    [['unpack', '--help']],
    [['unpack', 'a', 'b', '--version']],
    [['mount', '--help', 'x']],
    [['unpack', 'a', 'b', 'c']],
    [['unpack', 'a', 'b', '--bogus']],
    [['unpack', 'a', 'b', '--no-overlay']],
    [['unpack', 'a', 'b', '--overlay=false']],
    [['unpack', 'a', 'b', '--rootless', 'false']],
    [['unpack', 'a', 'b', '--quiet', 'true']],
    [['unpack', 'a', 'b', '-qx']],
    [['unpack', 'a', 'b', '--q']],
    [['unpack', 'a', 'b', '--maxLayerSize', '1G']],
    [['unpack', 'a', 'b', '--pull', 'sometimes']],
    [['unpack', 'a', 'b', '--pull']],
    [['unpack', 'a', 'b', '--uid-map']],
    [['unpack', 'a', 'b', '--uid-map', '--overlay']],
    [['unpack', 'a', 'b', '--uid-map', '0:1:1', '--uid-map', '1:2:3']],
    [['unpack', 'a', 'b', '--store', 'x', '--store', 'y']],
    [['unpack', 'a', 'b', '--store=']],
    [['unpack', 'a', 'b', '--retries', 'abc']],
    [['unpack', 'a', 'b', '--retries', '0x10']],
    [['unpack', 'a', 'b', '--retries', '-1']],
    [['unpack', '--', 'a', 'b']],
    [['unpack', 'a', 'b', '--']],
    [['unpack', 'a', '-']],
    [['unpack', 'a', '-1']],
    [['unpack', '', 'b']],
    [['mount']],
    [['mount', 'a', 'b']],
    [['remove']],
    [['remove', '--bogus', 'x']],
    [['upack', 'a', 'b']],
    [['images']],
    [['gc', '/x']],
    [[]],
  ])('%j: left to yargs', (argv) => {
    expect(leanCommand(argv)).toBeUndefined();
  });

  test('a hot command yargs refuses is one the lean parser leaves to it', async () => {
    for (const argv of [['unpack', 'a', 'b', 'c'], ['unpack', 'a', 'b', '--pull', 'sometimes'], ['mount'], ['remove', 'a', 'b']]) {
      expect(await yargsParse(argv)).toHaveProperty('error');
    }
  });
});
