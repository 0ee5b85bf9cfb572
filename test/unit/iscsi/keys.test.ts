import { describe, expect, test } from 'vitest';
import { negotiateKey, toParams } from '../../../targets/iscsi/login/keys.js';

describe('key negotiation table (RFC 7143 §6.2, §13)', () => {
  test.each([
    // key, offered, ours, expected
    ['HeaderDigest', 'CRC32C,None', 'None,CRC32C', { ok: true, answer: 'CRC32C', result: 'CRC32C' }],
    ['HeaderDigest', 'None,CRC32C', 'None,CRC32C', { ok: true, answer: 'None', result: 'None' }],
    ['DataDigest', 'MD5', 'None,CRC32C', { ok: false, answer: 'Reject' }],
    ['MaxBurstLength', '262144', '1048576', { ok: true, answer: '262144', result: '262144' }],
    ['MaxBurstLength', '16777216', '1048576', { ok: false, answer: 'Reject' }],
    ['MaxBurstLength', '12ab', '1048576', { ok: false, answer: 'Reject' }],
    ['DefaultTime2Wait', '0', '2', { ok: true, answer: '2', result: '2' }],
    ['ErrorRecoveryLevel', '2', '0', { ok: true, answer: '0', result: '0' }],
    ['InitialR2T', 'No', 'No', { ok: true, answer: 'No', result: 'No' }],
    ['InitialR2T', 'Yes', 'No', { ok: true, answer: 'Yes', result: 'Yes' }],
    ['ImmediateData', 'Yes', 'No', { ok: true, answer: 'No', result: 'No' }],
    ['ImmediateData', 'Maybe', 'Yes', { ok: false, answer: 'Reject' }],
    ['DataPDUInOrder', 'No', 'Yes', { ok: true, answer: 'Yes', result: 'Yes' }],
    ['MaxRecvDataSegmentLength', '65536', '262144', { ok: true, result: '65536' }],
    ['MaxRecvDataSegmentLength', '100', '262144', { ok: false, answer: 'Reject' }],
    ['OFMarker', 'Yes', undefined, { ok: true, answer: 'No', result: 'No' }],
    ['IFMarkInt', '2048~8192', undefined, { ok: true, answer: 'Irrelevant', result: 'Irrelevant' }],
    ['X-com.example.Foo', 'bar', undefined, { ok: false, answer: 'NotUnderstood' }],
    ['X#vendor', 'bar', undefined, { ok: false, answer: 'NotUnderstood' }],
    ['SomethingNew', 'bar', undefined, { ok: false, answer: 'NotUnderstood' }],
  ] as const)('%s=%s (ours %s)', (key, offered, ours, expected) => {
    expect(negotiateKey(key, offered, ours)).toEqual(expected);
  });

  test('params: defaults, FirstBurstLength clamped to MaxBurstLength', () => {
    const p = toParams(new Map([['MaxBurstLength', '4096'], ['FirstBurstLength', '65536'], ['HeaderDigest', 'CRC32C']]), 262144);
    expect(p).toMatchObject({ headerDigest: true, dataDigest: false, maxBurstLength: 4096, firstBurstLength: 4096, initialR2T: true, immediateData: true });
    expect(p.initiatorMaxRecvDataSegmentLength).toBe(8192);
    expect(p.targetMaxRecvDataSegmentLength).toBe(262144);
  });
});
