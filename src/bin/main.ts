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
    default:
      process.stderr.write(`blockgate: '${cmd.command}' is not available in this build yet\n`);
      return 2;
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
