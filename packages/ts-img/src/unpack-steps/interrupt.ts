/**
 * SIGINT/SIGTERM during an unpack: run the cleanup (nothing may be left), say so, exit 130.
 * Returns the function that takes the handlers away again.
 */
export function cleanupOnSignal(cleanup: () => void): () => void {
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.stderr.write(`ts-img: interrupted (${sig})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}
