/** The pure decisions of refreshing ahead and of a refresh that did not happen. */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { isWithheld, parseAuthFile, refreshTokenOf, withheldCopy, WITHHELD_PREFIX, type AuthInfo } from '../src/auth-file.js';
import { diagnose } from '../src/diagnose.js';
import { expiryText, mustRefreshAhead, refreshFailureMessage } from '../src/refresh.js';
import { authText, DAY, MINUTE, T0 } from './support/fixtures.js';

// parsing an auth.json masks its tokens (`::add-mask::` on stdout): kept out of the test output
let quiet: ReturnType<typeof jest.spyOn>;
beforeAll(() => void (quiet = jest.spyOn(process.stdout, 'write').mockImplementation(() => true)));
afterAll(() => quiet.mockRestore());

const HOUR = 60 * MINUTE;
const info = (over: Partial<AuthInfo>): AuthInfo => ({ accountId: 'acct-1', email: null, claimedAccountId: null, lastRefresh: T0, accessExpires: T0 + 7 * DAY, ...over });

describe('mustRefreshAhead', () => {
  test('when Codex would refresh within min-validity (5 minutes before exp)', () => {
    expect(mustRefreshAhead(info({ accessExpires: T0 + 7 * HOUR }), T0, 6 * HOUR, 'auto')).toBe(false);
    expect(mustRefreshAhead(info({ accessExpires: T0 + 6 * HOUR + 4 * MINUTE }), T0, 6 * HOUR, 'auto')).toBe(true);
    expect(mustRefreshAhead(info({ accessExpires: T0 - HOUR }), T0, 0, 'auto')).toBe(true);
  });

  test('without exp, from last_refresh + 8 days', () => {
    expect(mustRefreshAhead(info({ accessExpires: null, lastRefresh: T0 - 7 * DAY }), T0, 6 * HOUR, 'auto')).toBe(false);
    expect(mustRefreshAhead(info({ accessExpires: null, lastRefresh: T0 - 8 * DAY + 5 * HOUR }), T0, 6 * HOUR, 'auto')).toBe(true);
  });

  test('`refresh: force` always', () => {
    expect(mustRefreshAhead(info({ accessExpires: T0 + 9 * DAY }), T0, 0, 'force')).toBe(true);
  });
});

test('expiryText says when, and how far away', () => {
  expect(expiryText(info({ accessExpires: T0 + 7 * DAY }), T0)).toBe('2026-03-08T10:00:00.000Z (in 7.0 days)');
  expect(expiryText(info({ accessExpires: T0 + 90 * MINUTE }), T0)).toBe('2026-03-01T11:30:00.000Z (in 1.5 h)');
  expect(expiryText(info({ accessExpires: T0 - 3 * MINUTE }), T0)).toBe('2026-03-01T09:57:00.000Z (3 min ago)');
  expect(expiryText(info({ accessExpires: null }), T0)).toBe('unknown (the access token has no `exp`)');
});

describe('refreshFailureMessage', () => {
  const inputs = { store: 'command' as const, secretName: 'CODEX_AUTH_JSON', codexHome: '/h', gitlabVariable: 'CODEX_AUTH_JSON' };
  const failed = (diagnostics: string) => ({ ok: false as const, before: parseAuthFile(authText(), 't'), why: 'auth.json is byte-identical: Codex did not rotate the tokens', exitCode: 0, diagnostics });

  test('a refused token (401): already used, expired or revoked; the store keeps its copy; seed again', () => {
    const { message } = refreshFailureMessage(failed('ERROR codex_login::auth::manager: Failed to refresh token status=401 Unauthorized'), inputs);
    expect(message).toBe(
      'Codex did not refresh the tokens (auth.json is byte-identical: Codex did not rotate the tokens). The token endpoint refused the stored refresh token (already used, expired or revoked): this token family is dead. Nothing was persisted: the store keeps its copy. Seed again: run `codex login` on a trusted machine and put the new ~/.codex/auth.json in your secret manager (what `restore-command` reads). Then make sure only one run at a time uses this auth stream (keep `lock` on).',
    );
  });

  test('a server error: try later, the token is still good; no advice to seed again', () => {
    const { message } = refreshFailureMessage(failed('ERROR codex_login::auth::manager: Failed to refresh token status=500 Internal Server Error'), inputs);
    expect(message).toContain('Nothing changed: auth.json and the store keep their copy. Codex said: ERROR codex_login::auth::manager: Failed to refresh token status=500 Internal Server Error');
    expect(message).toContain('run the job again later; the stored refresh token is still good.');
    expect(message).not.toContain('Seed again');
  });

  test('nothing recognisable: what Codex said, and where to look', () => {
    const { message } = refreshFailureMessage({ ...failed(''), why: 'app-server did not finish within 60 s', exitCode: null }, inputs);
    expect(message).toBe('Codex did not refresh the tokens (app-server did not finish within 60 s). Nothing changed: auth.json and the store keep their copy. Run the job again; if it fails the same way, check that `codex-args` and `codex-version` give a Codex that can reach the token endpoint.');
  });
});

describe('the withheld copy of lock-scope: refresh', () => {
  test('only the refresh token changes, to a placeholder unique to the job', () => {
    const auth = parseAuthFile(authText(), 't');
    const a = withheldCopy(auth);
    const b = withheldCopy(auth);
    expect(refreshTokenOf(a).startsWith(WITHHELD_PREFIX)).toBe(true);
    expect(refreshTokenOf(a)).not.toBe(refreshTokenOf(b));
    expect(isWithheld(a)).toBe(true);
    expect(isWithheld(auth)).toBe(false);
    const reparsed = parseAuthFile(a.text, 'copy');
    expect(reparsed.info).toEqual(auth.info);
    const strip = (text: string) => ({ ...JSON.parse(text), tokens: { ...JSON.parse(text).tokens, refresh_token: null } });
    expect(strip(a.text)).toEqual(strip(auth.text));
  });

  test('a refused recovery refresh in a shared job: the stream is intact, not "seed again" (both texts Codex prints)', () => {
    for (const said of ['Your access token could not be refreshed. Please log out and sign in again.', 'Your access token could not be refreshed because your refresh token was revoked. Please log out and sign in again.']) {
      const shared = diagnose(said, 'your secret manager', { withheld: true });
      expect(shared?.cause).toContain('The stored auth stream is intact: do not seed again.');
      expect(shared?.fix).not.toMatch(/seed again/i);
      expect(diagnose(said, 'your secret manager')?.fix).toMatch(/^Seed again/);
    }
  });
});
