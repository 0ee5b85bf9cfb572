import { describe, expect, it } from 'vitest';
import { defaultAdminSocketPath, defaultDataDir, resolveAdminSocketPath, type PathEnvironment } from '../../../src/config/paths.js';

const pe = (uid: number, env: Record<string, string>, runWritable = true): PathEnvironment => ({
  uid, env, home: '/home/u', isWritableDir: (d) => d === '/run' && runWritable,
});

describe('default paths', () => {
  it('admin socket: root+/run, XDG_RUNTIME_DIR, home', () => {
    expect(defaultAdminSocketPath(pe(0, {}))).toBe('/run/blockgate/admin.sock');
    expect(defaultAdminSocketPath(pe(0, { XDG_RUNTIME_DIR: '/run/user/0' }, false))).toBe('/run/user/0/blockgate/admin.sock');
    expect(defaultAdminSocketPath(pe(1000, { XDG_RUNTIME_DIR: '/run/user/1000' }))).toBe('/run/user/1000/blockgate/admin.sock');
    expect(defaultAdminSocketPath(pe(1000, {}))).toBe('/home/u/.blockgate/admin.sock');
  });
  it('flag beats env beats default', () => {
    expect(resolveAdminSocketPath('/f.sock', pe(0, { BLOCKGATE_ADMIN_SOCKET: '/e.sock' }))).toBe('/f.sock');
    expect(resolveAdminSocketPath(undefined, pe(0, { BLOCKGATE_ADMIN_SOCKET: '/e.sock' }))).toBe('/e.sock');
    expect(resolveAdminSocketPath(undefined, pe(0, {}))).toBe('/run/blockgate/admin.sock');
  });
  it('data dir', () => {
    expect(defaultDataDir(pe(0, {}))).toBe('/var/lib/blockgate');
    expect(defaultDataDir(pe(1000, { XDG_DATA_HOME: '/x' }))).toBe('/x/blockgate');
    expect(defaultDataDir(pe(1000, {}))).toBe('/home/u/.local/share/blockgate');
  });
});
