/** The pure decisions around `codex app-server`: which arguments it gets, whether a refresh happened, what of its stderr may be shown. */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { parseAuthFile, type AuthFile } from '../../src/auth-file.js';
import { appServerArgs, judgeRefresh, redactDiagnostics } from '../../src/codex/app-server.js';
import { makeRefreshToken } from '../support/codex-backend.js';
import { authText, editAuth, MINUTE, T0 } from '../support/fixtures.js';

// parsing an auth.json masks its tokens (`::add-mask::` on stdout): kept out of the test output
let quiet: ReturnType<typeof jest.spyOn>;
beforeAll(() => void (quiet = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)));
afterAll(() => quiet.mockRestore());

describe('appServerArgs', () => {
  test('keeps -c/--config, --enable and --disable with their values, drops exec-only flags', () => {
    const exec = ['-c', 'chatgpt_base_url="https://x/"', '--skip-git-repo-check', '--disable', 'plugins', '--enable=web_search', '-m', 'o3', '--config', 'a=1', '-cmodel="x"', '--json', '--full-auto'];
    expect(appServerArgs(exec)).toEqual(['-c', 'chatgpt_base_url="https://x/"', '--disable', 'plugins', '--enable=web_search', '--config', 'a=1', '-cmodel="x"']);
  });

  test('a flag at the end without its value is dropped (app-server would exit 2 on it)', () => {
    expect(appServerArgs(['--disable', 'apps', '-c'])).toEqual(['--disable', 'apps']);
    expect(appServerArgs([])).toEqual([]);
  });
});

describe('judgeRefresh', () => {
  let before: AuthFile;
  beforeAll(() => void (before = parseAuthFile(authText(), 'before')));
  const rotated = (over: { lastRefresh?: number; refreshToken?: string } = {}) =>
    authText({ lastRefresh: new Date(over.lastRefresh ?? T0 + MINUTE), refreshToken: over.refreshToken ?? makeRefreshToken() });

  test('a new refresh token and a later last_refresh: the refresh happened', () => {
    const judged = judgeRefresh(before, rotated());
    expect(judged.ok).toBe(true);
    if (judged.ok) expect(judged.auth.info.lastRefresh).toBe(T0 + MINUTE);
  });

  test('byte-identical (a refused token, a 500): no refresh, whatever app-server replied', () => {
    expect(judgeRefresh(before, before.text)).toEqual({ ok: false, why: 'auth.json is byte-identical: Codex did not rotate the tokens' });
  });

  test('the same refresh token rewritten, or last_refresh not moved on: no refresh', () => {
    const sameToken = editAuth(before.text, (j) => void (j.last_refresh = new Date(T0 + MINUTE).toISOString()));
    expect(judgeRefresh(before, sameToken)).toEqual({ ok: false, why: 'the refresh token did not change' });
    expect(judgeRefresh(before, rotated({ lastRefresh: T0 }))).toEqual({ ok: false, why: '`last_refresh` did not move forward' });
  });

  test('gone, garbled, or another account: no refresh', () => {
    expect(judgeRefresh(before, null)).toMatchObject({ ok: false, why: expect.stringContaining('no auth.json') });
    expect(judgeRefresh(before, '{"auth_mode":')).toMatchObject({ ok: false, why: expect.stringContaining('not valid JSON') });
    const other = authText({ accountId: 'acct-2', lastRefresh: new Date(T0 + MINUTE) });
    expect(judgeRefresh(before, other)).toEqual({ ok: false, why: 'Codex wrote an auth.json for another account (acct-2)' });
  });
});

describe('redactDiagnostics', () => {
  test('keeps error and warning lines without their timestamp, drops the noise every runner prints', () => {
    const stderr = [
      'WARNING: proceeding, even though we could not create PATH aliases: Refusing to create helper binaries under temporary dir "/tmp"',
      '2026-12-07T01:30:47.809079Z ERROR codex_app_server: Codex could not find bubblewrap on PATH.',
      '2026-12-07T01:30:51.975646Z ERROR codex_login::auth::manager: Failed to refresh token status=401 Unauthorized',
      'plain progress line',
    ].join('\n');
    expect(redactDiagnostics(stderr, [])).toBe('ERROR codex_login::auth::manager: Failed to refresh token status=401 Unauthorized');
  });

  test('never shows a token: the known ones, a JWT, a long base64url run', () => {
    const token = makeRefreshToken();
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjF9.c2ln';
    const stderr = `ERROR refresh failed for ${token}\nERROR bearer ${jwt}\nWARN body ${'A'.repeat(40)}\nERROR short rt_x`;
    const shown = redactDiagnostics(stderr, [token]);
    expect(shown).toBe('ERROR refresh failed for ***\nERROR bearer ***\nWARN body ***\nERROR short rt_x');
  });

  test('at most the last 10 lines', () => {
    const stderr = Array.from({ length: 15 }, (_, i) => `ERROR line ${i}`).join('\n');
    expect(redactDiagnostics(stderr, []).split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `ERROR line ${i + 5}`));
  });
});
