import { describe, expect, test } from 'vitest';
import { parseConfigYaml } from '../../../src/config/load.js';
import { formatIssue } from '../../../src/config/validate.js';
import { isOwnEndpoint } from '../../../src/util/self-endpoint.js';

const config = (portals: string, redirect: string) =>
  `iscsiPortals: [${portals}]\ntargets:\n  - name: iqn.a\n    params:\n${redirect}`;

describe('a redirect to the daemon itself is refused (#12 item 15)', () => {
  test.each([
    ['"127.0.0.1:3260"', '      RedirectAddress: 127.0.0.1\n'],
    ['"0.0.0.0:3260"', '      RedirectAddress: 127.0.0.1\n      RedirectPort: "3260"\n'],
    ['"[::]:3261"', '      RedirectAddress: "::1"\n      RedirectPort: "3261"\n'],
  ])('portals %s with %j', (portals, redirect) => {
    const r = parseConfigYaml(config(portals, redirect), 'loop.yaml');
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.errors.map(formatIssue)).toEqual([expect.stringMatching(/^loop\.yaml:\d+: redirect to .* is this daemon's own portal \(it would loop\)$/)]);
  });

  test('a redirect to another host or port is accepted', () => {
    expect(parseConfigYaml(config('"0.0.0.0:3260"', '      RedirectAddress: 10.0.0.9\n'), 'ok.yaml').ok).toBe(true);
    expect(parseConfigYaml(config('"127.0.0.1:3260"', '      RedirectAddress: 127.0.0.1\n      RedirectPort: "3261"\n'), 'ok.yaml').ok).toBe(true);
  });

  test('isOwnEndpoint: exact listeners, wildcards with loopback or the arrival address', () => {
    expect(isOwnEndpoint({ address: '192.168.1.5', port: 3260 }, [{ address: '0.0.0.0', port: 3260 }], '192.168.1.5')).toBe(true);
    expect(isOwnEndpoint({ address: '192.168.1.6', port: 3260 }, [{ address: '0.0.0.0', port: 3260 }], '192.168.1.5')).toBe(false);
    expect(isOwnEndpoint({ address: '[::FFFF:127.0.0.1]', port: 3260 }, [{ address: '127.0.0.1', port: 3260 }])).toBe(true);
  });
});
