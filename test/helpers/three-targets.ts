/** A config with three targets (two iSCSI, one NBD), each with one sparse file LUN. */
import fs from 'node:fs';
import path from 'node:path';

export const T1 = 'iqn.2026-11.io.blockgate:t1';
export const T2 = 'iqn.2026-11.io.blockgate:t2';
export const T3 = 'scratch3';

export function writeThreeTargetConfig(dir: string, lunBytes = 256 * 1024 * 1024): string {
  const lun = (n: number, extra = ''): string =>
    `    luns:\n      - lun: 1\n        backingStore: ${path.join(dir, `t${n}.img`)}\n        bstype: file\n        sizeBytes: ${lunBytes}\n${extra}`;
  const text = [
    'targets:',
    `  - tid: 1\n    name: ${T1}\n    lld: iscsi\n${lun(1, '        nbdExport: t1\n')}    acl:\n      addresses: [ALL]`,
    `  - tid: 2\n    name: ${T2}\n    lld: iscsi\n${lun(2, '        nbdExport: t2\n')}    acl:\n      addresses: [ALL]`,
    `  - tid: 3\n    name: ${T3}\n    lld: nbd\n${lun(3)}`,
    '',
  ].join('\n');
  const file = path.join(dir, 'three.yaml');
  fs.writeFileSync(file, text);
  return file;
}

/** CPU ticks (utime + stime) per thread name of a process. */
export function threadCpuTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(fields[11]) + Number(fields[12]);
      out.set(name, (out.get(name) ?? 0) + ticks);
    } catch {
      // thread exited meanwhile
    }
  }
  return out;
}
