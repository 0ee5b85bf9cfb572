import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { atomicReplace, removeStaleTemps } from '../../../src/util/atomic-replace.js';

const dir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'bg-ar-'));

describe('atomicReplace', () => {
  it('replaces the content and sets the mode exactly, whatever the umask', async () => {
    const file = path.join(dir(), 'f.json');
    fs.writeFileSync(file, 'old');
    const old = process.umask(0o077);
    try {
      await atomicReplace(file, 'new', { mode: 0o640 });
    } finally {
      process.umask(old);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
    await atomicReplace(file, Buffer.from('bytes'));
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['f.json']);
  });

  it('removes its temp when the rename fails and leaves the target alone', async () => {
    const d = dir();
    const target = path.join(d, 'sub');
    fs.mkdirSync(path.join(target, 'x'), { recursive: true }); // rename of a file over a non-empty dir fails
    await expect(atomicReplace(target, 'data')).rejects.toThrow();
    expect(fs.readdirSync(d)).toEqual(['sub']);
  });

  it('sweeps temps of dead writers only', async () => {
    const d = dir();
    const file = path.join(d, 'state');
    const dead = path.join(d, '.state.999999999.1.tmp'); // above pid_max: never running
    const mine = path.join(d, `.state.${process.pid}.77.tmp`);
    const live = path.join(d, `.state.${process.ppid}.1.tmp`);
    const other = path.join(d, '.state.bak.1.tmp');
    for (const f of [dead, mine, live, other]) fs.writeFileSync(f, '');
    expect(await removeStaleTemps(file)).toBe(1);
    expect(fs.readdirSync(d).sort()).toEqual([other, live, mine].map((f) => path.basename(f)).sort());
  });
});
