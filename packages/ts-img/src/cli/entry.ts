// Process entry of the ts-img CLI (and of its bundle, scripts/bundle.js).
import { main } from './main';

void main(process.argv.slice(2));
