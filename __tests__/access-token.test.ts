/**
 * `access-token` read before Codex runs: its shape, a JWT's `exp`, masks, and the messages for each refusal.
 * JWTs are minted with node:crypto as the workspace issues them.
 */
import { describe, expect, test } from '@jest/globals';
import { expiresAtOutput, inspectAccessToken, loginFailure, type AccessToken } from '../src/access-token.js';
import { UserError } from '../src/errors.js';
import { mintAgentIdentity } from './support/access-token-backend.js';
import { captureStdout, DAY, T0 } from './support/fixtures.js';

const AT = 'at-Zk3v9Qm2xPq7Lr8Ts1Wn4Yb6Hc0Jd5Fg';

async function inspect(token: string, now = T0) {
  const warnings: string[] = [];
  const result = await captureStdout(() => inspectAccessToken(token, now, (m) => warnings.push(m)));
  return { ...result, warnings, value: result.value as AccessToken | undefined };
}

/** The error message must never hold the token nor any part of it (payload, agent key). */
function expectNoSecret(text: string, ...secrets: string[]) {
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe('inspectAccessToken', () => {
  test('an at- token is a Codex access token, masked, with no expiry the client can see', async () => {
    const { value, masks, warnings, error } = await inspect(AT);
    expect(error).toBeUndefined();
    expect(value).toEqual({ kind: 'personal' });
    expect(masks).toContain(AT);
    expect(warnings).toEqual([]);
    expect(expiresAtOutput(value!)).toBe('');
  });

  test('a JWT with 30 days left: its exp is known, the token, payload and agent key are masked, no warning', async () => {
    const agent = mintAgentIdentity({ exp: new Date(T0 + 30 * DAY) });
    const { value, masks, warnings, stdout } = await inspect(agent.jwt);
    const exp = Math.floor(agent.exp.getTime() / 1000) * 1000;
    expect(value).toEqual({ kind: 'agent-identity', expiresAt: exp });
    expect(expiresAtOutput(value!)).toBe(new Date(exp).toISOString());
    expect(masks).toEqual(expect.arrayContaining([agent.jwt, agent.jwt.split('.')[1], agent.privateKey]));
    expect(warnings).toEqual([]);
    // nothing but the masks was printed
    expect(stdout.replace(/^::add-mask::.*\n/gm, '')).toBe('');
  });

  test('a JWT with two days left warns with its date and what to do', async () => {
    const agent = mintAgentIdentity({ exp: new Date(T0 + 2 * DAY) });
    const { value, warnings } = await inspect(agent.jwt);
    expect(value?.kind).toBe('agent-identity');
    const date = new Date(Math.floor(agent.exp.getTime() / 1000) * 1000).toISOString();
    expect(warnings).toEqual([
      `Input \`access-token\` expires on ${date} (in 2.0 days): jobs after that date will fail. Create a new Codex access token in ChatGPT (the workspace's access tokens page), within the workspace's expiration limit, and update the secret passed as \`access-token\`.`,
    ]);
    expectNoSecret(warnings.join(''), agent.jwt, agent.privateKey);
  });

  test('a JWT with 8 days left does not warn', async () => {
    const { warnings } = await inspect(mintAgentIdentity({ exp: new Date(T0 + 8 * DAY) }).jwt);
    expect(warnings).toEqual([]);
  });

  test('an expired JWT fails, naming the input and the date it expired', async () => {
    const agent = mintAgentIdentity({ exp: new Date(T0 - 3 * DAY) });
    const { error, masks } = await inspect(agent.jwt);
    expect(error).toBeInstanceOf(UserError);
    const date = new Date(Math.floor(agent.exp.getTime() / 1000) * 1000).toISOString();
    expect((error as Error).message).toBe(
      `Input \`access-token\` is an agent-identity token that expired on ${date}: Codex would refuse it. Create a new Codex access token in ChatGPT (the workspace's access tokens page), within the workspace's expiration limit, and update the secret passed as \`access-token\`.`,
    );
    expect(masks).toEqual(expect.arrayContaining([agent.jwt, agent.privateKey]));
    expectNoSecret((error as Error).message, agent.jwt.split('.')[1] as string, agent.privateKey);
  });

  test('an OpenAI API key points to `openai-api-key`', async () => {
    const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';
    const { error, masks } = await inspect(key);
    expect((error as Error).message).toBe(
      'Input `access-token` holds an OpenAI API key (`sk-…`), not a Codex access token. Pass an API key as `openai-api-key` instead, or create a Codex access token in the ChatGPT workspace settings for `access-token`.',
    );
    expect(masks).toContain(key);
  });

  test.each([
    ['raw JSON', '{"auth_mode":"chatgpt","tokens":{"refresh_token":"rt_secret"}}'],
    ['base64 JSON', Buffer.from('{"auth_mode":"chatgpt","tokens":{"refresh_token":"rt_secret"}}').toString('base64')],
  ])('an auth.json (%s) points to `auth-json`', async (_, text) => {
    const { error } = await inspect(text);
    expect((error as Error).message).toMatch(/^Input `access-token` holds JSON \(a Codex auth.json\?\), not a Codex access token\. Pass a ChatGPT auth.json as `auth-json` instead/);
    expectNoSecret((error as Error).message, 'rt_secret');
  });

  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  test.each([
    ['no exp', `${b64({ alg: 'RS256' })}.${b64({ iss: 'x', agent_private_key: 'SECRETKEY' })}.c2ln`],
    ['exp not a number', `${b64({ alg: 'RS256' })}.${b64({ exp: '2030-01-01', agent_private_key: 'SECRETKEY' })}.c2ln`],
    ['payload not JSON', `${b64({ alg: 'RS256' })}.${Buffer.from('SECRETKEY not json').toString('base64url')}.c2ln`],
    ['header not JSON', `bm9wZQ.${b64({ exp: 2_000_000_000, agent_private_key: 'SECRETKEY' })}.c2ln`],
  ])('a JWT that is not an agent identity (%s) is an input error', async (_, jwt) => {
    const { error, masks } = await inspect(jwt);
    expect((error as Error).message).toMatch(/^Input `access-token` looks like a JWT, but not an agent-identity token: its claims cannot be read, or carry no `exp`\./);
    expect(masks).toEqual(expect.arrayContaining([jwt, jwt.split('.')[1]]));
    expectNoSecret((error as Error).message, 'SECRETKEY', jwt);
  });

  test.each([
    ['a GitHub token', 'ghp_0123456789abcdefghijklmnopqrstuvwxyz'],
    ['a truncated at- token', 'at-abc'],
    ['two lines', `${AT}\nextra`],
    ['an at- token with a space', 'at-abcdefgh ijklmnop'],
    ['four JWT segments', 'eyJh.eyJi.c2ln.more'],
  ])('%s is not a Codex access token', async (_, token) => {
    const { error, masks } = await inspect(token);
    expect((error as Error).message).toBe(
      'Input `access-token` is not a Codex access token: expected the `at-…` token a workspace member creates in the ChatGPT workspace settings, or an agent-identity JWT. Check that the secret holds the whole token, on one line.',
    );
    expect(masks).toContain(token);
  });
});

describe('loginFailure', () => {
  test.each([
    'Reading access token from stdin... Error logging in with access token: personal access token metadata request failed with status 401 Unauthorized',
    'Error logging in with access token: personal access token metadata request failed with status 403 Forbidden',
    'Error logging in with access token: failed to verify agent identity JWT',
    'Error logging in with access token: agent identity JWT kid k1 is not trusted',
  ])('a refusal names the input and the next step: %s', (said) => {
    const message = loginFailure(1, said).message;
    expect(message).toMatch(
      /^The `access-token` secret was refused when Codex signed in: the token has expired or been revoked, or its member may not use Codex Local\. Create a new Codex access token in ChatGPT \(the workspace's access tokens page\), within the workspace's expiration limit, and update the secret passed as `access-token`\. \(Codex said: .+\)$/,
    );
    expect(message).not.toContain('Reading access token');
    expect(message).not.toMatch(/sign in again|auth-json|Seed/i);
  });

  test('Codex advice that does not fit CI is not repeated', () => {
    const message = loginFailure(1, 'Error logging in with access token: status 401 Unauthorized. Please log out and sign in again.').message;
    expect(message).toContain('(Codex said: status 401 Unauthorized.)');
    expect(message).not.toMatch(/log out/i);
  });

  test('a failure that is not a refusal says what Codex said', () => {
    expect(loginFailure(1, 'Error logging in with access token: failed to request agent identity JWKS').message).toBe(
      'Codex could not sign in with `access-token` (`codex login --with-access-token` exited 1): failed to request agent identity JWKS',
    );
  });
});
