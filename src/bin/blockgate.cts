#!/usr/bin/env node
/**
 * `blockgate` bootstrap (CommonJS on purpose). The libuv threadpool runs every
 * file-backend read, write and fdatasync, and its size is fixed the first
 * time it is used — which, for an ES module entry, is while Node loads the
 * module graph. So this file sizes it (UV_THREADPOOL_SIZE, unless the
 * environment already sets it) from the number of LUNs in the config it is
 * about to load, then imports the real entry (main.ts).
 *
 * The count is an estimate from the config text (YAML `lun:` keys, tgt
 * `backing-store`/`direct-store` lines); LUNs added later with bgadm share
 * the pool. 4 threads + 2 per LUN, at most 64.
 */
const fs = require('node:fs') as typeof import('node:fs');
const path = require('node:path') as typeof import('node:path');

function optionValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i]!.startsWith(`${name}=`)) return argv[i]!.slice(name.length + 1);
  }
  return undefined;
}

function estimateLuns(argv: string[]): number {
  const config = optionValue(argv, '--config');
  const dataDir = optionValue(argv, '--data-dir');
  const file = config ?? (dataDir ? path.join(dataDir, 'blockgate.yaml') : undefined);
  if (!file) return 1;
  try {
    const text = fs.readFileSync(file, 'utf8');
    const pattern = file.endsWith('.conf') ? /^\s*<?(backing-store|direct-store)\b/gm : /^\s*-?\s*lun:/gm;
    return Math.max(1, (text.match(pattern) ?? []).length);
  } catch {
    return 1;
  }
}

if (!process.env.UV_THREADPOOL_SIZE) {
  const luns = estimateLuns(process.argv.slice(2));
  process.env.UV_THREADPOOL_SIZE = String(Math.min(64, 4 + 2 * luns));
}
void import('./main.js');
