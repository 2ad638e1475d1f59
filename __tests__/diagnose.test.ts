/**
 * Known Codex failure texts (codex-cli 0.169.0 and the backend's answers) map to a cause and a fix.
 */
import { describe, expect, test } from '@jest/globals';
import { diagnose, diagnoseAccessToken } from '../src/diagnose.js';

const WHERE = 'the secret `CODEX_AUTH_JSON`';

describe('diagnose', () => {
  test.each([
    'ERROR: Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again.',
    'Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.',
    'Your access token could not be refreshed because your refresh token was revoked. Please log out and sign in again.',
    'Your access token could not be refreshed. Please log out and sign in again.',
    '2026-03-01T10:00:00Z ERROR codex_login: refresh failed: {"error":{"code":"refresh_token_reused"}}',
    'error code refresh_token_expired',
    'error code refresh_token_invalidated',
  ])('a dead refresh token: %s', (output) => {
    const diagnosis = diagnose(`some earlier output\n${output}\nmore`, WHERE);
    expect(diagnosis?.cause).toMatch(/refresh token can no longer be used .*this token family is dead/);
    expect(diagnosis?.fix).toContain(`Seed again: run \`codex login\` on a trusted machine and put the new ~/.codex/auth.json in ${WHERE}`);
  });

  test('403 from a workspace whose Codex Local access is off', () => {
    const diagnosis = diagnose('unexpected status 403 Forbidden: {"detail":"Unauthorized. Contact your ChatGPT administrator for access."}', WHERE);
    expect(diagnosis?.cause).toMatch(/Codex Local access is off/);
    expect(diagnosis?.fix).toMatch(/workspace admin .* Codex Local access|`openai-api-key`/);
  });

  test.each([
    'Login is restricted to workspace(s) ws-allowed, but current credentials belong to ws-other. Logging out.',
    'Login is restricted to workspace id(s) ws-allowed, but current credentials lack a workspace identifier. Logging out.',
    'Login is restricted to a specific workspace, but the token did not include an chatgpt_account_id claim.',
    'config: forced_chatgpt_workspace_id does not match',
  ])('a workspace restriction that logged Codex out: %s', (output) => {
    const diagnosis = diagnose(output, WHERE);
    expect(diagnosis?.cause).toMatch(/`forced_chatgpt_workspace_id`/);
    expect(diagnosis?.fix).toContain(WHERE);
  });

  test.each(['Not logged in', 'Error: not signed in', 'No credentials found'])('no login: %s', (output) => {
    expect(diagnose(output, WHERE)?.cause).toMatch(/Codex found no login/);
  });

  test.each(['', 'OK', 'ERROR: stream disconnected before completion: connection reset', 'exit status 2: unexpected argument --nope', 'rate limit exceeded (429)'])('unknown output %p: null', (output) => {
    expect(diagnose(output, WHERE)).toBeNull();
  });

  test('the refresh rule wins when a log also says "not logged in" later', () => {
    const output = 'Your access token could not be refreshed because your refresh token was already used.\nNot logged in';
    expect(diagnose(output, WHERE)?.cause).toMatch(/refresh token/);
  });
});

describe('diagnoseAccessToken', () => {
  test.each([
    // 0.169.0 when the config bundle answers 401 (a token revoked after login)
    'Error: Your authentication session could not be refreshed automatically. Please log out and sign in again.\n\nStack backtrace:\n   0: <unknown>',
    // 0.169.0 when whoami or a model turn answers 401
    'ERROR: unexpected status 401 Unauthorized: Your authentication token has expired. Please try signing in again., url: https://chatgpt.com/backend-api/codex/responses',
  ])('a token refused mid-run names `access-token` and the next step, never the auth-json advice: %s', (output) => {
    const diagnosis = diagnoseAccessToken(`some earlier output\n${output}\n`);
    expect(diagnosis?.cause).toBe('The Codex backend refused `access-token` during the run: the token was most likely revoked or has expired.');
    expect(diagnosis?.fix).toBe(
      "Create a new Codex access token in ChatGPT (the workspace's access tokens page), within the workspace's expiration limit, and update the secret passed as `access-token`. A weekly check (this action with `access-token` and no `prompt`) catches this before the week's jobs do.",
    );
    expect(`${diagnosis?.cause} ${diagnosis?.fix}`).not.toMatch(/sign in again|Seed|refresh token|auth-json/i);
  });

  test("403 from a workspace that does not allow the token's member Codex Local", () => {
    const diagnosis = diagnoseAccessToken('unexpected status 403 Forbidden: {"detail":"Unauthorized. Contact your ChatGPT administrator for access."}');
    expect(diagnosis?.cause).toMatch(/refused `access-token`: the workspace does not allow this token's member to use Codex Local/);
    expect(diagnosis?.fix).toMatch(/Allow members to use Codex Local/);
  });

  test.each(['', 'OK', 'ERROR: stream disconnected before completion: connection reset', 'rate limit exceeded (429)'])('unknown output %p: null', (output) => {
    expect(diagnoseAccessToken(output)).toBeNull();
  });
});
