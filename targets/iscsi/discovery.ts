/**
 * Full feature phase of a Discovery session (RFC 7143 §4.3, Appendix C):
 * Text requests with SendTargets, NOP-Out pings and Logout; everything else is
 * rejected. Runs on the main thread (management plane). Pure: `step(pdu)`
 * returns actions for the portal shell.
 */
import { LogoutResponse, Op, RejectReason, RESERVED_TAG } from './constants.js';
import type { IscsiPortalAddress, IscsiTargetEntry } from './directory.js';
import { CMD_WINDOW } from './login/engine.js';
import { formatTargetAddress } from './login/identity.js';
import type { Draft, Pdu, PduViolation, TargetPdu, TextRequest } from './pdu-types.js';
import { isViolation } from './pdu-types.js';
import { decodeText, encodeText, splitSegments, type KeyPairs } from './text.js';

export type DiscoveryAction = { type: 'send'; pdu: Draft<TargetPdu> } | { type: 'close'; reason: string };

/** TargetName / TargetAddress lines for the given targets (RFC 7143 Appendix C). */
export function buildSendTargets(targets: readonly IscsiTargetEntry[], portals: readonly IscsiPortalAddress[], localAddress: string): KeyPairs {
  const out: KeyPairs = [];
  for (const t of targets) {
    out.push(['TargetName', t.name]);
    for (const p of portals) {
      const wildcard = p.address === '0.0.0.0' || p.address === '::' || p.address === '';
      out.push(['TargetAddress', formatTargetAddress(wildcard ? localAddress : p.address, p.port, p.tpgt)]);
    }
  }
  return out;
}

/**
 * Answer SendTargets (All / <name> / empty = this session's target) with the
 * visible targets; unknown keys → NotUnderstood. Shared with Normal sessions.
 */
export function answerText(pairs: KeyPairs, lookup: (value: string) => KeyPairs): KeyPairs {
  const out: KeyPairs = [];
  for (const [k, v] of pairs) {
    if (k === 'SendTargets') out.push(...lookup(v));
    else out.push([k, 'NotUnderstood']);
  }
  return out;
}

export interface DiscoveryEnv {
  /** Targets visible to this initiator (ACL applied). */
  visibleTargets(): IscsiTargetEntry[];
  portals(): IscsiPortalAddress[];
  localAddress: string;
}

/**
 * Long Text answers continue over several Text Responses (C bit, §11.11.2):
 * the initiator fetches the next part with a Text Request echoing our TTT.
 */
export class TextContinuation {
  private parts: Buffer[] = [];
  private ttt = RESERVED_TAG;
  private nextTtt = 1;

  /** Start a new answer; returns the first part and the TTT to send (RESERVED_TAG when final). */
  start(answer: Buffer, maxSegment: number): { data: Buffer; final: boolean; ttt: number } {
    this.parts = splitSegments(answer, maxSegment);
    this.ttt = this.parts.length > 1 ? this.nextTtt++ & 0x7fffffff : RESERVED_TAG;
    return this.take();
  }

  /** The initiator asked for the next part with `ttt`; undefined if it is not ours. */
  resume(ttt: number): { data: Buffer; final: boolean; ttt: number } | undefined {
    if (ttt !== this.ttt || this.parts.length === 0) return undefined;
    return this.take();
  }

  private take(): { data: Buffer; final: boolean; ttt: number } {
    const data = this.parts.shift() ?? Buffer.alloc(0);
    const final = this.parts.length === 0;
    const ttt = final ? RESERVED_TAG : this.ttt;
    if (final) this.ttt = RESERVED_TAG;
    return { data, final, ttt };
  }
}

export class DiscoverySession {
  private readonly text = new TextContinuation();

  constructor(
    private readonly env: DiscoveryEnv,
    private statSN: number,
    private expCmdSN: number,
    /** The initiator's MaxRecvDataSegmentLength. */
    private readonly maxSegment: number,
  ) {}

  step(pdu: Pdu | PduViolation): DiscoveryAction[] {
    if (isViolation(pdu)) {
      if (pdu.fatal) return [{ type: 'close', reason: pdu.violation }];
      return [this.reject(pdu.rejectReason ?? RejectReason.PROTOCOL_ERROR, pdu.bhs)];
    }
    if ('cmdSN' in pdu && !pdu.immediate && pdu.opcode !== Op.LOGIN_REQ && pdu.cmdSN === this.expCmdSN) {
      this.expCmdSN = (this.expCmdSN + 1) >>> 0;
    }
    switch (pdu.opcode) {
      case Op.TEXT_REQ:
        return [this.handleText(pdu)];
      case Op.NOP_OUT:
        if (pdu.itt === RESERVED_TAG) return [];
        return [this.send({ opcode: Op.NOP_IN, final: true, lun: pdu.lun, ttt: RESERVED_TAG, itt: pdu.itt, data: pdu.data })];
      case Op.LOGOUT_REQ:
        return [
          this.send({ opcode: Op.LOGOUT_RESP, final: true, response: LogoutResponse.SUCCESS, itt: pdu.itt, time2Wait: 0, time2Retain: 0 }),
          { type: 'close', reason: 'logout' },
        ];
      default:
        return [this.reject(RejectReason.PROTOCOL_ERROR)];
    }
  }

  private handleText(pdu: TextRequest): DiscoveryAction {
    let part = pdu.ttt !== RESERVED_TAG ? this.text.resume(pdu.ttt) : undefined;
    if (!part) {
      const { pairs } = decodeText(pdu.data);
      const answer = answerText(pairs, (v) => this.lookup(v));
      part = this.text.start(encodeText(answer), this.maxSegment);
    }
    return this.send({ opcode: Op.TEXT_RESP, final: part.final, cont: !part.final, lun: 0n, ttt: part.ttt, itt: pdu.itt, data: part.data });
  }

  private lookup(value: string): KeyPairs {
    const visible = this.env.visibleTargets();
    const chosen = value === 'All' ? visible : visible.filter((t) => t.name === value);
    return buildSendTargets(chosen, this.env.portals(), this.env.localAddress);
  }

  private reject(reason: number, bhs?: Buffer): DiscoveryAction {
    return this.send({ opcode: Op.REJECT, final: true, reason, dataSN: 0, data: bhs ? Buffer.from(bhs.subarray(0, 48)) : Buffer.alloc(0) });
  }

  private send(pdu: Record<string, unknown> & { opcode: number }): DiscoveryAction {
    const withSn = { ...pdu, statSN: this.statSN, expCmdSN: this.expCmdSN, maxCmdSN: (this.expCmdSN + CMD_WINDOW - 1) >>> 0 };
    this.statSN = (this.statSN + 1) >>> 0;
    return { type: 'send', pdu: withSn as unknown as Draft<TargetPdu> };
  }
}
