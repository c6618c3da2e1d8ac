import type { Command } from '../command';
import { storeOption } from '../../store/options';

export const tagCommand: Command = {
  command: 'tag <image> <name>',
  describe: 'give an image another name (in the store, or in its layout for LAYOUT:TAG)',
  builder: (y) =>
    storeOption(y)
      .positional('image', { type: 'string', demandOption: true, describe: 'existing image' })
      .positional('name', { type: 'string', demandOption: true, describe: 'new name' }),
  run: async (a) => {
    const { resolveImageArg, storeName, splitLayoutArg } = await import('../../store/args');
    const img = await resolveImageArg(String(a.image), a);
    const inLayout = splitLayoutArg(String(a.image)) !== undefined;
    const name = inLayout ? String(a.name) : storeName(String(a.name));
    await img.layout.tag(name, img.descriptor);
  },
};
