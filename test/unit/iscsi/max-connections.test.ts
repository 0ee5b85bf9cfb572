/**
 * #12 item 10 over real sockets: a session may have as many connections as
 * its leading login negotiated (the lower of both sides), not as many as the
 * target is configured for.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { LoginStatus } from '../../../targets/iscsi/constants.js';
import { RawInitiator } from '../../helpers/iscsi-initiator.js';
import { startIscsiStandalone, type Standalone } from '../../helpers/iscsi-standalone.js';

let server: Standalone | undefined;
const open: RawInitiator[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) i.close();
  await server?.close();
  server = undefined;
});

async function connect(): Promise<RawInitiator> {
  const i = await RawInitiator.connect(server!.port);
  open.push(i);
  return i;
}

describe('MaxConnections is the negotiated value', () => {
  test('target allows 4, session negotiated 1: a second connection is refused', async () => {
    server = await startIscsiStandalone({ params: { MaxConnections: '4' } });
    const base = { initiatorName: 'iqn.2026-12.test:mc', targetName: server.targetName, isid: '400001370001' };
    const lead = await connect();
    expect(await lead.login({ ...base, keys: { MaxConnections: '1' } })).toBe(0);
    expect(lead.negotiated.MaxConnections).toBe('1');
    const second = await connect();
    expect(await second.login({ ...base, tsih: lead.tsih, cid: 2 })).toBe(LoginStatus.TOO_MANY_CONNECTIONS);
  });

  test('session negotiated 2: the second connection joins, the third is refused', async () => {
    server = await startIscsiStandalone({ params: { MaxConnections: '4' } });
    const base = { initiatorName: 'iqn.2026-12.test:mc2', targetName: server.targetName, isid: '400001370002' };
    const lead = await connect();
    expect(await lead.login({ ...base, keys: { MaxConnections: '2' } })).toBe(0);
    expect(lead.negotiated.MaxConnections).toBe('2');
    expect(await (await connect()).login({ ...base, tsih: lead.tsih, cid: 2 })).toBe(0);
    expect(await (await connect()).login({ ...base, tsih: lead.tsih, cid: 3 })).toBe(LoginStatus.TOO_MANY_CONNECTIONS);
  });
});
