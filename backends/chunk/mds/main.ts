/**
 * Stand-alone MDS process entry (tests and development):
 *   node dist/backends/chunk/mds/main.js '<MdsOptions as JSON>'
 * `blockgate mds` is the user-facing way in; this file exists so tests can
 * run and kill MDS processes without the CLI. Logs "mds started" with the
 * bound address; SIGTERM/SIGINT resign and exit 0.
 */
import { runMds, type MdsOptions } from './server.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as MdsOptions;
  const mds = await runMds(opts);
  const stop = (): void => {
    mds.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`mds: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
