export { main } from './cli/main';
export { UserError } from './cli/errors';
