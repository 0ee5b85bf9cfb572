import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { LoginStatus, Op } from '../../../targets/iscsi/constants.js';
import type { IscsiTargetEntry } from '../../../targets/iscsi/directory.js';
import { LoginEngine, type LoginAction, type LoginEnv } from '../../../targets/iscsi/login/engine.js';
import { AuthThrottle } from '../../../targets/iscsi/login/throttle.js';
import type { LoginRequest } from '../../../targets/iscsi/pdu-types.js';
import { decodeText, encodeText, type KeyPairs } from '../../../targets/iscsi/text.js';

const IQN = 'iqn.2024-01.org.blockgate:t1';
const INI = 'iqn.1994-05.com.redhat:host1';
const RANDOM = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));

type Sessions = Record<string, { sid: number; tsih: number; connections: number; maxConnections: number }>;

function env(over: Partial<IscsiTargetEntry> = {}, sessions: Sessions = {}, extra: Partial<LoginEnv> = {}): LoginEnv {
  const target: IscsiTargetEntry = { tid: 1, name: IQN, canAccess: (n) => n !== 'iqn.denied', incoming: [], ...over };
  let sid = 40;
  return {
    initiatorAddress: '127.0.0.1',
    tpgt: 7,
    directory: {
      findTarget: (n) => (n === IQN ? target : undefined),
      findSession: (_tid, ini, isid) => sessions[`${ini}/${isid}`],
      allocateSid: () => sid++,
      discoveryAuth: () => ({ incoming: [] }),
    },
    ...extra,
  };
}

function req(o: Partial<LoginRequest> & { keys?: KeyPairs }): LoginRequest {
  return {
    opcode: Op.LOGIN_REQ, immediate: true, transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0,
    isid: '400001370000', tsih: 0, itt: 1, cid: 0, cmdSN: 10, expStatSN: 100, ahs: [],
    data: encodeText(o.keys ?? []), ...o,
  };
}

const keysOf = (a: LoginAction) => new Map(decodeText(a.pdu.data ?? Buffer.alloc(0)).pairs);

describe('login engine transcripts', () => {
  test('operational-only login straight to full feature phase', () => {
    const e = new LoginEngine(env());
    const [a] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN], ['HeaderDigest', 'CRC32C,None'], ['MaxRecvDataSegmentLength', '65536'], ['X-foo', '1']] }) });
    expect(a!.type).toBe('complete');
    if (a!.type !== 'complete') return;
    expect(a.pdu).toMatchObject({ transit: true, csg: 1, nsg: 3, tsih: 40, statSN: 100, expCmdSN: 10, statusClass: 0 });
    const k = keysOf(a);
    expect(k.get('HeaderDigest')).toBe('CRC32C');
    expect(k.get('X-foo')).toBe('NotUnderstood');
    expect(k.get('TargetPortalGroupTag')).toBe('7');
    expect(k.get('MaxRecvDataSegmentLength')).toBe('262144');
    expect(a.result).toMatchObject({ sessionType: 'Normal', tsih: 40, statSN: 101, expCmdSN: 10, addToSession: false });
    expect(a.result.params).toMatchObject({ headerDigest: true, initiatorMaxRecvDataSegmentLength: 65536 });
  });

  test.each([
    [[['TargetName', IQN]], LoginStatus.MISSING_PARAMETER],
    [[['InitiatorName', INI]], LoginStatus.MISSING_PARAMETER],
    [[['InitiatorName', INI], ['TargetName', 'iqn.nope']], LoginStatus.NOT_FOUND],
    [[['InitiatorName', 'iqn.denied'], ['TargetName', IQN]], LoginStatus.AUTHORIZATION_FAILURE],
    [[['InitiatorName', INI], ['TargetName', IQN], ['SessionType', 'Weird']], LoginStatus.SESSION_TYPE_NOT_SUPPORTED],
  ] as [KeyPairs, number][])('failure %j → status %i', (keys, status) => {
    const [a] = new LoginEngine(env()).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys }) });
    expect(a).toMatchObject({ type: 'fail', status, pdu: { statusClass: status >> 8, statusDetail: status & 0xff, transit: false } });
  });

  test('redirect answers class 1 with TargetAddress', () => {
    const e = new LoginEngine(env({ redirect: { address: 'fe80::1', port: 3261, tpgt: 2, permanent: false } }));
    const [a] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(a).toMatchObject({ type: 'fail', status: LoginStatus.TARGET_MOVED_TEMPORARILY });
    expect(keysOf(a!).get('TargetAddress')).toBe('[fe80::1]:3261,2');
  });

  test('unsupported version', () => {
    const [a] = new LoginEngine(env()).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ versionMin: 1, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(a).toMatchObject({ type: 'fail', status: LoginStatus.UNSUPPORTED_VERSION });
  });

  test('continuation (C bit): text accumulated across PDUs', () => {
    const e = new LoginEngine(env());
    const text = encodeText([['InitiatorName', INI], ['TargetName', IQN], ['MaxBurstLength', '65536']]);
    const [a1] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ transit: false, cont: true, data: text.subarray(0, 20) }) });
    expect(a1).toMatchObject({ type: 'send', pdu: { transit: false, statusClass: 0 } });
    expect(a1!.pdu.data!.length).toBe(0);
    const [a2] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ data: text.subarray(20) }) });
    expect(a2!.type).toBe('complete');
    expect(keysOf(a2!).get('MaxBurstLength')).toBe('65536');
  });

  test('CHAP required: AuthMethod=None is refused', () => {
    const e = new LoginEngine(env({ incoming: [{ user: 'u', secret: 'secretsecret' }] }));
    const [a] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, keys: [['InitiatorName', INI], ['TargetName', IQN], ['AuthMethod', 'None']] }) });
    expect(a).toMatchObject({ type: 'fail', status: LoginStatus.AUTHENTICATION_FAILURE });
  });

  test('CHAP required: skipping the security stage is refused', () => {
    const e = new LoginEngine(env({ incoming: [{ user: 'u', secret: 'secretsecret' }] }));
    const [a] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(a).toMatchObject({ type: 'fail', status: LoginStatus.AUTHENTICATION_FAILURE });
  });

  function chapLogin(secret: string, mutual?: { id: number; challenge: Buffer }, extra: Partial<LoginEnv> = {}, now = 0) {
    const e = new LoginEngine(env({ incoming: [{ user: 'alice', secret: 'alicesecret1' }], outgoing: { user: 'tgt', secret: 'targetsecret' } }, {}, extra));
    const [a1] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, transit: false, keys: [['InitiatorName', INI], ['TargetName', IQN], ['AuthMethod', 'CHAP,None']] }) });
    expect(a1).toMatchObject({ type: 'send', pdu: { transit: false, csg: 0 } });
    expect(keysOf(a1!).get('AuthMethod')).toBe('CHAP');
    const [a2] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, transit: false, keys: [['CHAP_A', '7,5']] }) });
    const k2 = keysOf(a2!);
    expect(k2.get('CHAP_A')).toBe('7');
    const id = Number(k2.get('CHAP_I'));
    expect(id).toBe(RANDOM[0]);
    const challenge = Buffer.from(k2.get('CHAP_C')!.slice(2), 'hex');
    expect(challenge).toEqual(RANDOM.subarray(1, 33));
    const resp = createHash('sha256').update(Buffer.concat([Buffer.from([id]), Buffer.from(secret), challenge])).digest('hex');
    const keys: KeyPairs = [['CHAP_N', 'alice'], ['CHAP_R', `0x${resp}`]];
    if (mutual) keys.push(['CHAP_I', String(mutual.id)], ['CHAP_C', `0x${mutual.challenge.toString('hex')}`]);
    return e.step({ type: 'pdu', random: RANDOM, now, pdu: req({ csg: 0, nsg: 1, transit: true, keys }) });
  }

  test('one-way CHAP (SHA-256) succeeds, then operational stage', () => {
    const a3 = chapLogin('alicesecret1')[0]!;
    expect(a3).toMatchObject({ type: 'send', pdu: { transit: true, csg: 0, nsg: 1 } });
  });

  test('one-way CHAP with a wrong secret fails 0x0201', () => {
    expect(chapLogin('wrongsecret1')[0]).toMatchObject({ type: 'fail', status: LoginStatus.AUTHENTICATION_FAILURE });
  });

  test('mutual CHAP: target answers with the outgoing account', () => {
    const challenge = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const a3 = chapLogin('alicesecret1', { id: 9, challenge })[0]!;
    const k = keysOf(a3);
    expect(k.get('CHAP_N')).toBe('tgt');
    const want = createHash('sha256').update(Buffer.concat([Buffer.from([9]), Buffer.from('targetsecret'), challenge])).digest('hex');
    expect(k.get('CHAP_R')).toBe(`0x${want}`);
  });

  test('mutual CHAP refuses a reflected challenge', () => {
    expect(chapLogin('alicesecret1', { id: 9, challenge: RANDOM.subarray(1, 33) })[0]).toMatchObject({ type: 'fail', status: LoginStatus.AUTHENTICATION_FAILURE });
  });

  test('session reinstatement and adding a connection', () => {
    const sessions = { [`${INI}/400001370000`]: { sid: 5, tsih: 5, connections: 1, maxConnections: 1 } };
    const [a] = new LoginEngine(env({}, sessions)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(a).toMatchObject({ type: 'complete', result: { reinstate: 5, tsih: 40 } });
    const [b] = new LoginEngine(env({}, sessions)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 5, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(b).toMatchObject({ type: 'fail', status: LoginStatus.TOO_MANY_CONNECTIONS });
    const [c] = new LoginEngine(env({ params: { MaxConnections: '4' } }, { [`${INI}/400001370000`]: { ...sessions[`${INI}/400001370000`]!, maxConnections: 4 } })).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 5, keys: [['InitiatorName', INI], ['TargetName', IQN], ['MaxBurstLength', '4096']] }) });
    expect(c).toMatchObject({ type: 'complete', result: { addToSession: true, tsih: 5 } });
    expect(keysOf(c!).get('MaxBurstLength')).toBe('Irrelevant');
    const [d] = new LoginEngine(env({}, sessions)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 6, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(d).toMatchObject({ type: 'fail', status: LoginStatus.SESSION_DOES_NOT_EXIST });
  });

  test('discovery session needs no TargetName', () => {
    const [a] = new LoginEngine(env()).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['SessionType', 'Discovery']] }) });
    expect(a).toMatchObject({ type: 'complete', result: { sessionType: 'Discovery' } });
    expect(keysOf(a!).has('TargetPortalGroupTag')).toBe(false);
  });

  test('changing ISID mid-login and bad stages are initiator errors', () => {
    const e = new LoginEngine(env());
    e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, transit: false, keys: [['InitiatorName', INI], ['TargetName', IQN], ['AuthMethod', 'None']] }) });
    expect(e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, isid: '400001370001' }) })[0]).toMatchObject({ type: 'fail', status: LoginStatus.INITIATOR_ERROR });
    const f = new LoginEngine(env());
    expect(f.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 1, nsg: 0, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) })[0]).toMatchObject({ type: 'fail', status: LoginStatus.INITIATOR_ERROR });
  });

  test('MaxConnections: the session negotiated 1, so a second connection is refused though the target allows 4 (#12 item 10)', () => {
    const negotiatedOne = { [`${INI}/400001370000`]: { sid: 5, tsih: 5, connections: 1, maxConnections: 1 } };
    const [a] = new LoginEngine(env({ params: { MaxConnections: '4' } }, negotiatedOne)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 5, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(a).toMatchObject({ type: 'fail', status: LoginStatus.TOO_MANY_CONNECTIONS });
    const negotiatedTwo = { [`${INI}/400001370000`]: { sid: 5, tsih: 5, connections: 1, maxConnections: 2 } };
    const [b] = new LoginEngine(env({ params: { MaxConnections: '4' } }, negotiatedTwo)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 5, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(b).toMatchObject({ type: 'complete', result: { addToSession: true } });
    const full = { [`${INI}/400001370000`]: { sid: 5, tsih: 5, connections: 2, maxConnections: 2 } };
    const [c] = new LoginEngine(env({ params: { MaxConnections: '4' } }, full)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ tsih: 5, keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(c).toMatchObject({ type: 'fail', status: LoginStatus.TOO_MANY_CONNECTIONS });
  });

  test('the negotiated MaxConnections is the lower of both sides', () => {
    const [a] = new LoginEngine(env({ params: { MaxConnections: '4' } })).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN], ['MaxConnections', '8']] }) });
    expect(a).toMatchObject({ type: 'complete', result: { params: { maxConnections: 4 } } });
    const [b] = new LoginEngine(env({ params: { MaxConnections: '4' } })).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN]] }) });
    expect(b).toMatchObject({ type: 'complete', result: { params: { maxConnections: 1 } } });
  });

  describe('digests: offer (CRC32C,None) vs require (CRC32C) (#12 item 13)', () => {
    const login = (params: Record<string, string>, offered: KeyPairs) =>
      new LoginEngine(env({ params })).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN], ...offered] }) })[0]!;

    test('required HeaderDigest: an initiator offering None is refused', () => {
      expect(login({ HeaderDigest: 'CRC32C' }, [['HeaderDigest', 'None']])).toMatchObject({ type: 'fail', status: LoginStatus.INITIATOR_ERROR, reason: 'HeaderDigest=CRC32C required' });
    });

    test('required DataDigest: an initiator not offering the key at all (default None) is refused', () => {
      expect(login({ DataDigest: 'CRC32C' }, [['HeaderDigest', 'None']])).toMatchObject({ type: 'fail', status: LoginStatus.INITIATOR_ERROR, reason: 'DataDigest=CRC32C required' });
    });

    test('required digest: an initiator offering CRC32C gets it', () => {
      const a = login({ HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' }, [['HeaderDigest', 'None,CRC32C'], ['DataDigest', 'CRC32C']]);
      expect(a).toMatchObject({ type: 'complete', result: { params: { headerDigest: true, dataDigest: true } } });
    });

    test('offered digest: the initiator chooses (None or CRC32C)', () => {
      expect(login({ HeaderDigest: 'CRC32C,None' }, [['HeaderDigest', 'None']])).toMatchObject({ type: 'complete', result: { params: { headerDigest: false } } });
      expect(login({ HeaderDigest: 'CRC32C,None' }, [['HeaderDigest', 'CRC32C,None']])).toMatchObject({ type: 'complete', result: { params: { headerDigest: true } } });
    });
  });

  describe('CHAP_A (#12 item 14)', () => {
    function chapA(offered: string, params?: Record<string, string>): string | undefined {
      const e = new LoginEngine(env({ incoming: [{ user: 'alice', secret: 'alicesecret1' }], ...(params ? { params } : {}) }));
      e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, transit: false, keys: [['InitiatorName', INI], ['TargetName', IQN], ['AuthMethod', 'CHAP']] }) });
      const [a] = e.step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ csg: 0, nsg: 1, transit: false, keys: [['CHAP_A', offered]] }) });
      return a!.type === 'fail' ? undefined : keysOf(a!).get('CHAP_A');
    }

    test("the first algorithm in the initiator's list wins, not the strongest", () => {
      expect(chapA('5,7')).toBe('5');
      expect(chapA('6,8,5')).toBe('6');
    });

    test('the target parameter CHAP_A restricts the list', () => {
      expect(chapA('5,7', { CHAP_A: '7,8' })).toBe('7');
      expect(chapA('5', { CHAP_A: '7' })).toBeUndefined();
    });
  });

  describe('redirect loops (#12 item 15)', () => {
    const redirectLogin = (redirect: IscsiTargetEntry['redirect'], extra: Partial<LoginEnv>) =>
      new LoginEngine(env({ redirect }, {}, extra)).step({ type: 'pdu', random: RANDOM, now: 0, pdu: req({ keys: [['InitiatorName', INI], ['TargetName', IQN]] }) })[0]!;

    test('a redirect to the portal the login arrived on is not followed: the login is served here', () => {
      const a = redirectLogin({ address: '127.0.0.1', port: 3260, permanent: false }, { arrivedOn: { address: '127.0.0.1', port: 3260 } });
      expect(a).toMatchObject({ type: 'complete', result: { redirectIgnored: '127.0.0.1:3260,1' } });
    });

    test("a redirect to another of the daemon's own portals (or loopback on a wildcard portal) is not followed either", () => {
      const ownPortals = [{ address: '127.0.0.1', port: 3260 }, { address: '::', port: 3261 }];
      const arrivedOn = { address: '127.0.0.1', port: 3260 };
      expect(redirectLogin({ address: '::1', port: 3261, permanent: true }, { arrivedOn, ownPortals })).toMatchObject({ type: 'complete' });
      expect(redirectLogin({ address: '[::1]', port: 3261, permanent: true }, { arrivedOn, ownPortals })).toMatchObject({ type: 'complete' });
    });

    test('a redirect elsewhere is still followed', () => {
      const a = redirectLogin({ address: '10.1.2.3', port: 3260, permanent: false }, { arrivedOn: { address: '127.0.0.1', port: 3260 }, ownPortals: [{ address: '0.0.0.0', port: 3260 }] });
      expect(a).toMatchObject({ type: 'fail', status: LoginStatus.TARGET_MOVED_TEMPORARILY });
      const b = redirectLogin({ address: '127.0.0.1', port: 3999, permanent: false }, { arrivedOn: { address: '127.0.0.1', port: 3260 }, ownPortals: [{ address: '127.0.0.1', port: 3260 }] });
      expect(b).toMatchObject({ type: 'fail', status: LoginStatus.TARGET_MOVED_TEMPORARILY });
    });
  });

  describe('failed CHAP throttle (#12 item 4)', () => {
    test('after the free failures, outcomes come after an increasing wait; a success clears the record', () => {
      const throttle = new AuthThrottle({ freeFailures: 2, baseDelayMs: 100, maxDelayMs: 400 });
      const waits: number[] = [];
      let now = 0;
      for (let i = 0; i < 6; i++) {
        const actions = chapLogin('wrongsecret1', undefined, { throttle }, now);
        const wait = actions.find((a) => a.type === 'wait');
        waits.push(wait?.type === 'wait' ? wait.ms : 0);
        expect(actions.at(-1)).toMatchObject({ type: 'fail', status: LoginStatus.AUTHENTICATION_FAILURE, auth: 'chap' });
        now += waits.at(-1)!; // the next guess comes when this outcome arrived
      }
      expect(waits).toEqual([0, 0, 100, 200, 400, 400]);
      // A correct answer is delayed the same way (no early success signal), then clears the record.
      const ok = chapLogin('alicesecret1', undefined, { throttle }, now);
      expect(ok.map((a) => a.type)).toEqual(['wait', 'send']);
      expect(chapLogin('wrongsecret1', undefined, { throttle }, now + 400).map((a) => a.type)).toEqual(['fail']);
    });

    test('parallel guesses from one source queue behind each other; beyond the backlog they are refused unjudged', () => {
      const throttle = new AuthThrottle({ freeFailures: 0, baseDelayMs: 1000, maxDelayMs: 1000, maxBacklogMs: 3000 });
      const kinds = Array.from({ length: 6 }, () => {
        const actions = chapLogin('wrongsecret1', undefined, { throttle }, 0);
        const wait = actions.find((a) => a.type === 'wait');
        const last = actions.at(-1)!;
        return `${wait?.type === 'wait' ? wait.ms : 0}:${last.type === 'fail' ? last.auth : last.type}`;
      });
      expect(kinds).toEqual(['0:chap', '1000:chap', '2000:chap', '3000:chap', '1000:throttled', '1000:throttled']);
    });
  });
});
