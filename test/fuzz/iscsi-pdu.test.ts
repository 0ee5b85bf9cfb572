/**
 * Fuzz: random and mutated bytes into the framer/decoder, the login engine
 * and the discovery engine. Only PDUs or typed violations may come out;
 * nothing may throw. Bounded, seeded (reproducible) iteration counts.
 */
import { describe, expect, test } from 'vitest';
import { Op } from '../../targets/iscsi/constants.js';
import { DiscoverySession } from '../../targets/iscsi/discovery.js';
import { encodePduBuffer, PduFramer } from '../../targets/iscsi/framer.js';
import { LoginEngine } from '../../targets/iscsi/login/engine.js';
import { isViolation, type Pdu } from '../../targets/iscsi/pdu-types.js';
import { encodeText } from '../../targets/iscsi/text.js';
import { xorshift32 as rng } from '../helpers/rng.js';


const SEEDS = [
  encodePduBuffer({ opcode: Op.LOGIN_REQ, immediate: true, transit: true, cont: false, csg: 0, nsg: 1, versionMax: 0, versionMin: 0, isid: '400001370000', tsih: 0, itt: 0, cid: 0, cmdSN: 0, expStatSN: 0, data: encodeText([['InitiatorName', 'iqn.i'], ['TargetName', 'iqn.t'], ['AuthMethod', 'CHAP,None'], ['CHAP_A', '5,7']]) }),
  encodePduBuffer({ opcode: Op.SCSI_CMD, final: true, read: true, write: false, attr: 1, lun: 0n, itt: 1, expectedDataTransferLength: 512, cmdSN: 1, expStatSN: 0, cdb: Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), ahs: [{ type: 1, body: Buffer.alloc(17) }] }),
  encodePduBuffer({ opcode: Op.TEXT_REQ, final: true, cont: false, lun: 0n, itt: 2, ttt: 0xffffffff, cmdSN: 1, expStatSN: 0, data: encodeText([['SendTargets', 'All']]) }),
  encodePduBuffer({ opcode: Op.DATA_OUT, final: true, lun: 0n, itt: 3, ttt: 7, expStatSN: 0, dataSN: 0, bufferOffset: 0, data: Buffer.alloc(37, 0xee) }),
];

function mutate(r: () => number, buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  const flips = 1 + Math.floor(r() * 8);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(r() * out.length);
    out[at] = r() < 0.5 ? Math.floor(r() * 256) : out[at]! ^ (1 << Math.floor(r() * 8));
  }
  return r() < 0.2 ? out.subarray(0, Math.floor(r() * out.length)) : out;
}

const directory = {
  findTarget: (n: string) => (n === 'iqn.t' ? { tid: 1, name: 'iqn.t', canAccess: () => true, incoming: [{ user: 'u', secret: 'secretsecret' }] } : undefined),
  findSession: () => undefined,
  allocateSid: () => 1,
  discoveryAuth: () => ({ incoming: [] }),
};

describe('iSCSI fuzz', () => {
  test('framer + decoder never throw (random and mutated streams)', () => {
    const r = rng(0xc0ffee);
    let pdus = 0;
    let violations = 0;
    for (let iter = 0; iter < 3000; iter++) {
      const digests = { headerDigest: r() < 0.3, dataDigest: r() < 0.3 };
      const f = new PduFramer({ ...digests, maxRecvDataSegmentLength: 1 + Math.floor(r() * 70000) });
      const base = iter % 3 === 0 ? Buffer.from(Array.from({ length: Math.floor(r() * 400) }, () => Math.floor(r() * 256))) : mutate(r, SEEDS[iter % SEEDS.length]!);
      for (let at = 0; at < base.length; ) {
        const n = 1 + Math.floor(r() * 64);
        f.push(base.subarray(at, at + n));
        at += n;
        for (let p = f.next(); p; p = f.next()) {
          if (isViolation(p)) violations++;
          else pdus++;
        }
      }
    }
    expect(pdus + violations).toBeGreaterThan(100);
  });

  test('login and discovery engines take any decodable PDU without throwing', () => {
    const r = rng(42);
    let actions = 0;
    for (let iter = 0; iter < 1500; iter++) {
      const f = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 16 });
      f.push(mutate(r, SEEDS[iter % SEEDS.length]!));
      const login = new LoginEngine({ directory, initiatorAddress: '127.0.0.1', tpgt: 1 });
      const disc = new DiscoverySession({ visibleTargets: () => [], portals: () => [{ address: '::', port: 3260, tpgt: 1 }], localAddress: '::1' }, 0, 0, 512);
      for (let p = f.next(); p; p = f.next()) {
        actions += disc.step(p).length;
        if (!isViolation(p) && p.opcode === Op.LOGIN_REQ) {
          const random = Buffer.from(Array.from({ length: 64 }, () => Math.floor(r() * 256)));
          actions += login.step({ type: 'pdu', pdu: p, random, now: 0 }).length;
          actions += login.step({ type: 'pdu', pdu: { ...(p as Pdu & { opcode: 3 }), data: mutate(r, p.data) }, random, now: 0 }).length;
        }
      }
    }
    expect(actions).toBeGreaterThan(100);
  });
});
