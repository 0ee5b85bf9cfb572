/**
 * atomicReplace under SIGKILL: a child replaces one file in a loop (each
 * version a different length and byte) and is killed at a random moment, 50
 * times. After every kill the file holds one complete version, never a torn
 * or a missing one, and the temps of killed writers do not pile up: the next
 * writer removes them on its first replace, and a clean run leaves none.
 *
 * (A kill leaves the page cache intact, so this checks atomicity; that the
 * data and the rename reach the disk is test/integration/durable-replace.test.ts.)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/daemon.js';
import { xorshift32 } from '../helpers/rng.js';

const KILLS = 50;

const WRITER = `
import { atomicReplace } from ${JSON.stringify(path.join(ROOT, 'dist/src/util/atomic-replace.js'))};
const [file, mode] = process.argv.slice(2);
const version = (n) => {
  const len = 64 * 1024 + (n % 13) * 8192;
  return Buffer.concat([Buffer.from(JSON.stringify({ n, len }) + '\\n'), Buffer.alloc(len, n % 251)]);
};
let n = Number(process.argv[4] ?? 1);
await atomicReplace(file, version(n++));
process.stdout.write('ready\\n');
if (mode === 'loop') for (;;) await atomicReplace(file, version(n++));
`;

/** The version number in `file` if it is one whole version; throws otherwise. */
function checkWhole(file: string): number {
  const buf = fs.readFileSync(file);
  const nl = buf.indexOf(0x0a);
  const head = JSON.parse(buf.subarray(0, nl).toString()) as { n: number; len: number };
  const body = buf.subarray(nl + 1);
  expect(body.length).toBe(head.len);
  expect(body.every((b) => b === head.n % 251)).toBe(true);
  return head.n;
}

function temps(dir: string, base: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith(`.${base}.`) && n.endsWith('.tmp'));
}

function runWriter(script: string, file: string, mode: 'loop' | 'once', first: number, killAfterMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, file, mode, String(first)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000); // bound: never hang the suite
    child.stdout.on('data', (d: Buffer) => {
      if (killAfterMs !== undefined && d.toString().includes('ready')) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (mode === 'loop' ? signal === 'SIGKILL' : code === 0) resolve();
      else reject(new Error(`writer ended with ${code ?? signal}`));
    });
  });
}

describe('atomicReplace survives SIGKILL at any point', () => {
  it(`leaves one whole version after each of ${KILLS} kills and no stray temps`, async () => {
    const dir = tempDir('bg-crash-');
    const script = path.join(dir, 'writer.mjs');
    fs.writeFileSync(script, WRITER);
    const file = path.join(dir, 'state.bin');
    await runWriter(script, file, 'once', 0);
    const rnd = xorshift32(0x5eed12);
    let last = checkWhole(file);
    let killedMidWrite = 0;
    for (let k = 0; k < KILLS; k++) {
      await runWriter(script, file, 'loop', (k + 1) * 1_000_000, Math.floor(rnd() * 40));
      const n = checkWhole(file); // whole, never torn or missing
      expect(n).toBeGreaterThanOrEqual(last);
      last = n;
      const left = temps(dir, 'state.bin');
      expect(left.length).toBeLessThanOrEqual(1); // at most the killed writer's own
      killedMidWrite += left.length;
    }
    await runWriter(script, file, 'once', 999_000_000);
    expect(checkWhole(file)).toBe(999_000_000);
    expect(temps(dir, 'state.bin')).toEqual([]);
    console.log(`atomic-replace crash: ${KILLS} kills, ${killedMidWrite} landed mid-replace (left a temp)`);
  }, 120_000);
});
