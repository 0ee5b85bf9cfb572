/**
 * One CHAP login attempt over a real socket, built on our PDU codec: security
 * stage with AuthMethod=CHAP, CHAP_A=5 (MD5), the response computed from
 * `secret`, then the status of the target's answer. For tests that guess
 * secrets (throttling) or need a login from a chosen source address.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Op } from '../../targets/iscsi/constants.js';
import { encodePduBuffer, PduFramer } from '../../targets/iscsi/framer.js';
import { isViolation, type LoginResponse } from '../../targets/iscsi/pdu-types.js';
import { decodeText, encodeText, type KeyPairs } from '../../targets/iscsi/text.js';

export interface ChapAttempt {
  port: number;
  host?: string;
  /** Source address (e.g. 127.0.0.2 for "another client"). */
  localAddress?: string;
  initiatorName: string;
  targetName: string;
  user: string;
  secret: string;
  timeoutMs?: number;
  /** Close the socket right after sending the CHAP response (resolves -2): a peer that goes away while its outcome is delayed. */
  abortAfterResponse?: boolean;
  /** Send another Login Request right behind the CHAP response, without waiting (a lockstep violation). */
  pipelineAfterResponse?: boolean;
}

/** Resolves with the final status (class << 8 | detail; 0 = the security stage passed), or -1 if the connection closed / timed out first. */
export function chapLoginAttempt(a: ChapAttempt): Promise<number> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: a.port, host: a.host ?? '127.0.0.1', ...(a.localAddress ? { localAddress: a.localAddress } : {}) });
    const framer = new PduFramer({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 1 << 20 });
    let step = 0;
    let settled = false;
    const finish = (status: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => finish(-1), a.timeoutMs ?? 20_000);
    let statSN = 0;
    const send = (keys: KeyPairs, transit: boolean) =>
      socket.write(
        encodePduBuffer({
          opcode: Op.LOGIN_REQ, immediate: true, transit, cont: false, csg: 0, nsg: transit ? 1 : 0, versionMax: 0, versionMin: 0,
          isid: '400001370000', tsih: 0, itt: step, cid: 0, cmdSN: 1, expStatSN: statSN, data: encodeText(keys),
        }),
      );
    socket.on('connect', () => {
      socket.setNoDelay(true);
      send([['InitiatorName', a.initiatorName], ['TargetName', a.targetName], ['SessionType', 'Normal'], ['AuthMethod', 'CHAP']], false);
    });
    socket.on('error', () => finish(-1));
    socket.on('close', () => finish(-1));
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      for (let pdu = framer.next(); pdu !== undefined; pdu = framer.next()) {
        if (isViolation(pdu) || pdu.opcode !== Op.LOGIN_RESP) return finish(-1);
        const r = pdu as LoginResponse;
        const status = (r.statusClass << 8) | r.statusDetail;
        if (status !== 0) return finish(status);
        statSN = (r.statSN + 1) >>> 0;
        step++;
        if (step === 1) {
          send([['CHAP_A', '5']], false);
        } else if (step === 2) {
          const keys = new Map(decodeText(r.data).pairs);
          const id = Number(keys.get('CHAP_I'));
          const challenge = Buffer.from((keys.get('CHAP_C') ?? '').slice(2), 'hex');
          const resp = createHash('md5').update(Buffer.from([id])).update(a.secret).update(challenge).digest('hex');
          send([['CHAP_N', a.user], ['CHAP_R', `0x${resp}`]], true);
          if (a.abortAfterResponse) socket.end(() => finish(-2));
          if (a.pipelineAfterResponse) send([], true);
        } else {
          return finish(0);
        }
      }
    });
  });
}
