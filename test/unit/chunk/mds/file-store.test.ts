import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../../../backends/chunk/mds/file-store.js';
import { StoreError } from '../../../../backends/chunk/mds/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bg-filestore-'));
  dirs.push(d);
  return path.join(d, 'sub', 'state.json');
};

describe('FileStore', () => {
  it('commits atomically and reloads what it wrote', async () => {
    const file = tmp();
    const s = await FileStore.open(file);
    await s.commit([{ op: 'put', key: '/x/1', value: 'a' }, { op: 'put', key: '/x/2', value: 'b' }, { op: 'put', key: '/y', value: 'c' }]);
    await s.commit([{ op: 'deletePrefix', prefix: '/x/' }, { op: 'put', key: '/x/3', value: 'd' }]);
    expect(await s.list('/x/')).toEqual([['/x/3', 'd']]);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    await s.close();
    const again = await FileStore.open(file);
    expect(await again.list('/')).toEqual([['/x/3', 'd'], ['/y', 'c']]);
    await again.close();
  });

  it('keeps the old state when a commit fails, refuses a second opener and writes after close', async () => {
    const file = tmp();
    const s = await FileStore.open(file);
    await s.commit([{ op: 'put', key: '/k', value: '1' }]);
    await expect(FileStore.open(file)).rejects.toBeInstanceOf(StoreError);
    fs.renameSync(file, `${file}.saved`);
    fs.mkdirSync(file); // renaming the new state over it now fails (EISDIR)
    await expect(s.commit([{ op: 'put', key: '/k', value: '2' }])).rejects.toBeInstanceOf(StoreError);
    expect(await s.get('/k')).toBe('1');
    expect(fs.readdirSync(path.dirname(file)).filter((n) => n.endsWith('.tmp'))).toEqual([]); // the failed temp is gone
    fs.rmdirSync(file);
    fs.renameSync(`${file}.saved`, file);
    await s.close();
    await expect(s.commit([{ op: 'put', key: '/k', value: '3' }])).rejects.toBeInstanceOf(StoreError);
    const reopened = await FileStore.open(file);
    expect(await reopened.get('/k')).toBe('1');
    await reopened.close();
  });

  it('takes over a lock left by a dead process', async () => {
    const file = tmp();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.lock`, '999999999');
    const s = await FileStore.open(file);
    expect(fs.readFileSync(`${file}.lock`, 'utf8')).toBe(String(process.pid));
    await s.close();
  });
});
