import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { chapResponse, chapVerify, chooseChapAlgorithm, decodeChapBinary, encodeChapBinary, CHAP_ALGORITHMS } from '../../../targets/iscsi/login/chap.js';

function expected(hash: string, id: number, secret: string, challenge: Buffer): Buffer {
  return createHash(hash).update(Buffer.concat([Buffer.from([id]), Buffer.from(secret), challenge])).digest();
}

describe('CHAP', () => {
  test("chooses the first algorithm of the initiator's list that the target allows (RFC 7143 §6.2.1), tolerant of junk", () => {
    expect(chooseChapAlgorithm('5')?.id).toBe(5);
    expect(chooseChapAlgorithm('5,7')?.id).toBe(5);
    expect(chooseChapAlgorithm('7,5')?.id).toBe(7);
    expect(chooseChapAlgorithm(' 6 , 5,x,,8')?.id).toBe(6);
    expect(chooseChapAlgorithm('1,2,99999')).toBeUndefined();
    expect(chooseChapAlgorithm('')).toBeUndefined();
  });

  test('a target restriction (CHAP_A parameter) removes algorithms from the choice', () => {
    expect(chooseChapAlgorithm('5,7', '7,8')?.id).toBe(7);
    expect(chooseChapAlgorithm('5,6', '7')).toBeUndefined();
    expect(chooseChapAlgorithm('1,8,5', ' 8, 5')?.id).toBe(8);
    expect(chooseChapAlgorithm('5', '5,99')?.id).toBe(5);
  });

  test.each([5, 6, 7, 8])('response for algorithm %i matches an independent computation', (id) => {
    const alg = CHAP_ALGORITHMS[id]!;
    const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const r = chapResponse(alg, 42, 'secretsecret', challenge);
    expect(r).toEqual(expected(alg.hash, 42, 'secretsecret', challenge));
    expect(r.length).toBe(alg.bytes);
    expect(chapVerify(alg, 42, 'secretsecret', challenge, r)).toBe(true);
    expect(chapVerify(alg, 43, 'secretsecret', challenge, r)).toBe(false);
    expect(chapVerify(alg, 42, 'secretsecreT', challenge, r)).toBe(false);
    expect(chapVerify(alg, 42, 'secretsecret', challenge, r.subarray(1))).toBe(false);
  });

  test('RFC 1994 MD5 known answer', () => {
    // id 1, secret "secret", challenge 16 x 0x00
    const r = chapResponse(CHAP_ALGORITHMS[5]!, 1, 'secret', Buffer.alloc(16));
    expect(r.toString('hex')).toBe(createHash('md5').update(Buffer.from('\x01secret' + '\0'.repeat(16), 'latin1')).digest('hex'));
  });

  test('binary encodings: hex and base64', () => {
    expect(decodeChapBinary('0xABcd')).toEqual(Buffer.from([0xab, 0xcd]));
    expect(decodeChapBinary('0xabc')).toEqual(Buffer.from([0x0a, 0xbc]));
    expect(decodeChapBinary('0bq80=')).toEqual(Buffer.from([0xab, 0xcd]));
    expect(decodeChapBinary('abcd')).toBeUndefined();
    expect(decodeChapBinary('0x')).toBeUndefined();
    expect(encodeChapBinary(Buffer.from([1, 2]))).toBe('0x0102');
  });
});
