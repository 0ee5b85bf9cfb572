/** Run an external tool with a bounded time; resolves with its output, rejects on failure. */
import { execFile } from 'node:child_process';

export interface ToolResult {
  stdout: string;
  stderr: string;
}

/** libnbd's Python module lives under /usr/lib/python3; make nbdsh find the system python. */
export const toolEnv = { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}`, LIBNBD_DEBUG: '0' };

export function runTool(cmd: string, args: string[], timeoutMs = 60_000, input?: string, env: NodeJS.ProcessEnv = toolEnv): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}\n${stdout}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like runTool, but resolves with the exit code instead of rejecting. */
export function runToolStatus(cmd: string, args: string[], timeoutMs = 60_000): Promise<ToolResult & { code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: toolEnv }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ stdout: String(stdout), stderr: String(stderr), code });
    });
  });
}
