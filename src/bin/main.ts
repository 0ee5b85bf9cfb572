/**
 * The `blockgate` program after the bootstrap (blockgate.cts) sized the
 * threadpool: parse the command line, run the command.
 */
import { parseBlockgateArgs } from '../cli/blockgate.js';
import { ConfigRefused, runServe } from './serve.js';

async function main(): Promise<number | undefined> {
  const cmd = parseBlockgateArgs(process.argv.slice(2));
  switch (cmd.command) {
    case 'print':
      process.stdout.write(cmd.text.endsWith('\n') ? cmd.text : `${cmd.text}\n`);
      return 0;
    case 'error':
      process.stderr.write(`blockgate: ${cmd.message}\n`);
      return cmd.exitCode;
    case 'serve':
      try {
        await runServe(cmd.options);
      } catch (err) {
        const prefix = err instanceof ConfigRefused ? 'config refused:\n' : '';
        process.stderr.write(`blockgate: ${prefix}${(err as Error).message}\n`);
        return 1;
      }
      return undefined; // keep serving
    // The replicated backend's commands load their modules only when used, so `serve` stays lean.
    case 'mds':
      return (await import('./cluster.js')).runMdsCommand(cmd.options);
    case 'chunkserver':
      return (await import('./cluster.js')).runChunkserverCommand(cmd.options);
    case 'volume':
      return (await import('./cluster.js')).runVolumeCommand(cmd.action, cmd.name, cmd.options);
    case 'cluster':
      return cmd.action === 'status' ? (await import('./cluster.js')).runClusterStatus(cmd.options) : (await import('./cluster-up.js')).runClusterUp(cmd.options);
  }
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`blockgate: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
