/**
 * Stand-alone chunkserver process entry (tests and development):
 *   node dist/backends/chunk/chunkserver/main.js '<ChunkserverOptions as JSON>'
 * `blockgate chunkserver` is the user-facing way in; this file exists so
 * tests can run and kill chunkserver processes without the CLI. Logs
 * "chunkserver started" with the address and id; SIGTERM/SIGINT stop it
 * cleanly and exit 0.
 */
import { runChunkserver, type ChunkserverOptions } from './server.js';

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as ChunkserverOptions;
  const cs = await runChunkserver(opts);
  const stop = (): void => {
    cs.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`chunkserver: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
