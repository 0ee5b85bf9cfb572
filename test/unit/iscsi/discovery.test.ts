import { describe, expect, test } from 'vitest';
import { Op, RESERVED_TAG } from '../../../targets/iscsi/constants.js';
import type { IscsiTargetEntry } from '../../../targets/iscsi/directory.js';
import { buildSendTargets, DiscoverySession } from '../../../targets/iscsi/discovery.js';
import type { TextRequest } from '../../../targets/iscsi/pdu-types.js';
import { decodeText, encodeText } from '../../../targets/iscsi/text.js';

const t = (name: string, allowed = true): IscsiTargetEntry => ({ tid: 1, name, canAccess: () => allowed, incoming: [] });
const text = (itt: number, ttt: number, data: Buffer, cmdSN = 1): TextRequest => ({ opcode: Op.TEXT_REQ, immediate: false, final: true, cont: false, lun: 0n, itt, ttt, cmdSN, expStatSN: 0, ahs: [], data });

describe('discovery (SendTargets)', () => {
  test('lists every portal, IPv6 in brackets, wildcard replaced by the local address', () => {
    const pairs = buildSendTargets([t('iqn.a')], [{ address: '0.0.0.0', port: 3260, tpgt: 1 }, { address: 'fd00::5', port: 3261, tpgt: 2 }], '10.0.0.9');
    expect(pairs).toEqual([['TargetName', 'iqn.a'], ['TargetAddress', '10.0.0.9:3260,1'], ['TargetAddress', '[fd00::5]:3261,2']]);
  });

  test('SendTargets=All honours the visible list; =<name> filters; long answers continue with TTT', () => {
    const targets = Array.from({ length: 40 }, (_, i) => t(`iqn.2024-01.org.example:target-number-${i}`));
    const s = new DiscoverySession({ visibleTargets: () => targets, portals: () => [{ address: '127.0.0.1', port: 3260, tpgt: 1 }], localAddress: '127.0.0.1' }, 5, 1, 512);
    const [first] = s.step(text(1, RESERVED_TAG, encodeText([['SendTargets', 'All']])));
    const parts: Buffer[] = [];
    let a = first!;
    for (let i = 0; a.type === 'send'; i++) {
      const p = a.pdu as { final: boolean; cont: boolean; ttt: number; data: Buffer; statSN: number };
      expect(p.data.length).toBeLessThanOrEqual(512);
      parts.push(p.data);
      if (p.final) {
        expect(p.ttt).toBe(RESERVED_TAG);
        break;
      }
      expect(p.cont).toBe(true);
      expect(p.ttt).not.toBe(RESERVED_TAG);
      a = s.step(text(1, p.ttt, Buffer.alloc(0), 2 + i))[0]!;
    }
    expect(parts.length).toBeGreaterThan(3);
    const names = decodeText(Buffer.concat(parts)).pairs.filter(([k]) => k === 'TargetName').map(([, v]) => v);
    expect(names).toEqual(targets.map((x) => x.name));
    const [one] = s.step(text(2, RESERVED_TAG, encodeText([['SendTargets', targets[3]!.name]])));
    expect(decodeText((one as { pdu: { data: Buffer } }).pdu.data).pairs[0]).toEqual(['TargetName', targets[3]!.name]);
    const [none] = s.step(text(3, RESERVED_TAG, encodeText([['SendTargets', 'iqn.hidden']])));
    expect((none as { pdu: { data: Buffer } }).pdu.data.length).toBe(0);
  });

  test('SCSI commands are rejected; logout answers then closes', () => {
    const s = new DiscoverySession({ visibleTargets: () => [], portals: () => [], localAddress: '' }, 0, 0, 8192);
    const [rej] = s.step({ opcode: Op.SCSI_CMD, immediate: false, final: true, read: false, write: false, attr: 0, lun: 0n, itt: 1, expectedDataTransferLength: 0, cmdSN: 0, expStatSN: 0, cdb: Buffer.alloc(16), ahs: [], data: Buffer.alloc(0) });
    expect(rej).toMatchObject({ type: 'send', pdu: { opcode: Op.REJECT, reason: 4 } });
    const acts = s.step({ opcode: Op.LOGOUT_REQ, immediate: true, final: true, reason: 0, itt: 2, cid: 0, cmdSN: 1, expStatSN: 0, ahs: [], data: Buffer.alloc(0) });
    expect(acts.map((x) => x.type)).toEqual(['send', 'close']);
  });
});
