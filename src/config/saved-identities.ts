/**
 * tgt's targets.conf is read, never written: the identities blockgate
 * generates for its LUNs are saved in the data dir's blockgate.yaml
 * instead. On the next start the .conf is read again and each of its LUNs
 * without a uuid takes the one saved for the same target name, LUN number
 * and backing store, so the identity survives restarts there too.
 */
import type { DaemonConfig } from './schema.js';

export function adoptSavedIdentities(config: DaemonConfig, saved: DaemonConfig): DaemonConfig {
  const key = (target: string, lun: number, backing: string): string => `${target}\0${lun}\0${backing}`;
  const ids = new Map<string, string>();
  for (const t of saved.targets) for (const l of t.luns) if (l.uuid !== undefined) ids.set(key(t.name, l.lun, l.backingStore), l.uuid);
  return {
    ...config,
    targets: config.targets.map((t) => ({
      ...t,
      luns: t.luns.map((l) => {
        const uuid = l.uuid ?? ids.get(key(t.name, l.lun, l.backingStore));
        return uuid === undefined ? l : { ...l, uuid };
      }),
    })),
  };
}
