/**
 * Every durable state file is replaced the one way (src/util/atomic-replace.ts),
 * checked at the system-call level with strace: for each writer, the new
 * content goes to a temp file in the same directory created O_EXCL with mode
 * 0600, that file is fsynced before it is renamed over the target, and the
 * directory is fsynced after the rename (without that fsync the rename itself
 * can be lost in a crash: APTPL reservations, the chunkserver id).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/daemon.js';

const dist = (p: string): string => JSON.stringify(path.join(ROOT, 'dist', p));

/** One writer per durable file: a script that writes it once, and the file it writes. */
const WRITERS: Record<string, { target: (dir: string) => string; script: (dir: string) => string }> = {
  'daemon config (src/config/save.ts)': {
    target: (d) => path.join(d, 'blockgate.yaml'),
    script: (d) => `
      import { saveConfigAtomic } from ${dist('src/config/save.js')};
      import { defaultConfig } from ${dist('src/config/schema.js')};
      await saveConfigAtomic(${JSON.stringify(path.join(d, 'blockgate.yaml'))}, defaultConfig());`,
  },
  'SCSI APTPL reservations (targets/scsi/pr-store.ts)': {
    target: (d) => path.join(d, 'lun1', 'scsi-pr.json'),
    script: (d) => `
      import { savePrFile } from ${dist('targets/scsi/pr-store.js')};
      await savePrFile(${JSON.stringify(path.join(d, 'lun1'))}, { generation: 3, registrations: [], reservation: undefined, aptpl: true });`,
  },
  'MDS file store (backends/chunk/mds/file-store.ts)': {
    target: (d) => path.join(d, 'mds-state.json'),
    script: (d) => `
      import { FileStore } from ${dist('backends/chunk/mds/file-store.js')};
      const s = await FileStore.open(${JSON.stringify(path.join(d, 'mds-state.json'))});
      await s.commit([{ op: 'put', key: 'k', value: 'v' }]);
      await s.close();`,
  },
  'raft hard state (backends/chunk/raft/log-store.ts)': {
    target: (d) => path.join(d, 'raft', 'hardstate'),
    script: (d) => `
      import { LogStore } from ${dist('backends/chunk/raft/log-store.js')};
      const { store } = await LogStore.open(${JSON.stringify(path.join(d, 'raft'))});
      await store.saveHardState({ term: 2, vote: 1, commit: 0 });
      await store.close();`,
  },
  'chunkserver id (backends/chunk/chunkserver/id-file.ts)': {
    target: (d) => path.join(d, 'chunkserver.json'),
    script: (d) => `
      import { writeChunkserverId } from ${dist('backends/chunk/chunkserver/id-file.js')};
      await writeChunkserverId(${JSON.stringify(d)}, 7);`,
  },
};

interface Trace {
  lines: string[];
}

function traceWriter(script: string, dir: string): Trace {
  const file = path.join(dir, 'writer.mjs');
  fs.writeFileSync(file, script);
  const out = path.join(dir, 'strace.txt');
  const r = spawnSync('strace', ['-f', '-y', '-qq', '-o', out, '-e', 'trace=openat,rename,renameat,renameat2,fsync,fdatasync', process.execPath, file], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return { lines: fs.readFileSync(out, 'utf8').split('\n') };
}

describe('durable file replacement at every call site', () => {
  for (const [name, w] of Object.entries(WRITERS)) {
    it(name, () => {
      const dir = fs.realpathSync(tempDir('bg-durable-'));
      const target = w.target(dir);
      const { lines } = traceWriter(w.script(dir), dir);
      expect(fs.existsSync(target)).toBe(true);
      const renameAt = lines.findIndex((l) => /rename/.test(l) && l.includes(`"${target}"`));
      expect(renameAt, 'a rename onto the target').toBeGreaterThanOrEqual(0);
      const tmp = /"([^"]+)", (?:AT_FDCWD, )?"/.exec(lines[renameAt]!)?.[1];
      expect(tmp).toBeDefined();
      expect(path.dirname(tmp!), 'temp in the same directory').toBe(path.dirname(target));
      const created = lines.find((l) => l.includes('openat(') && l.includes(`"${tmp}"`));
      expect(created, 'temp created exclusively, mode 0600').toMatch(/O_CREAT\|O_EXCL.*, 0600\)/);
      const before = lines.slice(0, renameAt);
      expect(before.some((l) => /\b(fsync|fdatasync)\(\d+</.test(l) && l.includes(`<${tmp}>`)), 'temp fsynced before the rename').toBe(true);
      const after = lines.slice(renameAt + 1);
      expect(after.some((l) => /\bfsync\(\d+</.test(l) && l.includes(`<${path.dirname(target)}>`)), 'directory fsynced after the rename').toBe(true);
      expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    });
  }
});
