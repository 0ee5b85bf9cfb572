/**
 * `.ci/run` installs with `npm ci`, which refuses a lock file that does not
 * match package.json. This test runs the same check on its own (a dry run in
 * a scratch copy of the two files), so a stale lock fails here with npm's own
 * reason instead of only on a fresh CI machine.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/daemon.js';

describe('package-lock.json', () => {
  it('is accepted by npm ci (in sync with package.json, optional platform packages included)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-lock-'));
    try {
      for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
      const r = spawnSync('npm', ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
        cwd: dir, encoding: 'utf8', timeout: 60_000,
      });
      expect(r.status, `npm ci --dry-run said:\n${r.stderr}`).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
