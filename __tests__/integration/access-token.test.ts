/**
 * Access-token mode end to end (built dist/, main then post) with the real Codex CLI against the loopback
 * stand-in serving both token shapes (DESIGN §5.2): an `at-…` Codex access token checked through whoami,
 * and an agent-identity JWT verified against the stand-in's JWKS. Every refusal is explained for CI, a
 * refused token costs no model turn, and no form of any token or agent key reaches the logs.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { serveWorkspaceTokens, type WorkspaceTokens } from '../support/access-token-backend.js';
import { startCodexBackend, type CodexBackend } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, recordedSteps, stepLogs, type Runner, type StepResult } from '../support/runner.js';

jest.setTimeout(120_000);

const PROMPT = 'Reply with the single word OK.';
const DAY = 86_400_000;
const FIX = "Create a new Codex access token in ChatGPT (the workspace's access tokens page), within the workspace's expiration limit, and update the secret passed as `access-token`.";

let backend: CodexBackend;
let tokens: WorkspaceTokens;
let runner: Runner;
const logs: StepResult[] = [];
/** Every secret a test handed to the action: tokens, JWT payloads, agent keys. */
const secrets: string[] = [];
const steps = recordedSteps(logs);
let homes = 0;

beforeAll(async () => {
  backend = await startCodexBackend();
  tokens = serveWorkspaceTokens(backend);
  runner = newRunner({ name: 'self-hosted-at' });
});

afterAll(async () => {
  await backend.stop();
  runner.remove();
});

function options(token: string, inputs: Record<string, string> = {}) {
  secrets.push(token);
  const home = path.join(runner.dir, `codex-home-${++homes}`);
  return {
    home,
    step: {
      runner,
      inputs: { 'access-token': token, 'codex-home': home, 'codex-args': JSON.stringify(backend.args()), ...inputs },
      env: { ...backend.env(home, {}), ...tokens.env(), PATH: `${path.dirname(codexBinary())}:${process.env.PATH}` },
    },
  };
}

async function job(token: string, inputs: Record<string, string> = {}) {
  const { home, step } = options(token, inputs);
  const first = backend.requests.length;
  const main = await steps.main(step);
  const post = await steps.post(step, main);
  const requests = backend.requests.slice(first);
  return { main, post, home, requests, turns: requests.filter((r) => r.kind === 'responses') };
}

/** An agent-identity JWT expiring `days` from now; its payload and agent key join the leak scan. */
function agentToken(days: number) {
  const agent = tokens.agentIdentity({ exp: new Date(Date.now() + days * DAY) });
  secrets.push(agent.jwt.split('.')[1] as string, agent.privateKey);
  return agent;
}

const isoOf = (exp: Date) => new Date(Math.floor(exp.getTime() / 1000) * 1000).toISOString();

describe('an at- Codex access token', () => {
  test('works end to end: one model turn with the token as Bearer and the account id, no token endpoint, no auth.json after post', async () => {
    const personal = tokens.personal({ accountId: 'acct-ws-business' });
    const { main, post, home, requests, turns } = await job(personal.token, { prompt: PROMPT });
    expect([main.exitCode, main.errors]).toEqual([0, []]);
    expect(main.outputs).toMatchObject({ source: 'access-token', 'codex-home': home, 'exit-code': '0', 'final-message': 'OK', 'expires-at': '' });
    expect(main.masks).toContain(personal.token);
    expect(turns).toHaveLength(1);
    expect(turns[0]).toMatchObject({ status: 200, accessToken: personal.token, accountHeader: 'acct-ws-business' });
    expect(requests.filter((r) => r.kind === 'refresh')).toEqual([]);
    expect(requests.some((r) => r.kind === 'whoami' && r.status === 200)).toBe(true);
    expect([post.exitCode, post.errors]).toEqual([0, []]);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('refused by whoami: the step fails with the login refusal, and no model turn', async () => {
    const personal = tokens.personal();
    personal.refused = true;
    const { main, post, home, requests, turns } = await job(personal.token, { prompt: PROMPT });
    expect(main.exitCode).toBe(1);
    expect(main.errors).toEqual([
      `The \`access-token\` secret was refused when Codex signed in: the token has expired or been revoked, or its member may not use Codex Local. ${FIX} (Codex said: personal access token metadata request failed with status 401 Unauthorized)`,
    ]);
    expect(main.summary).toContain('refused');
    expect(main.summary).toContain('The `access-token` secret was refused');
    expect(requests.map((r) => `${r.kind} ${r.status}`)).toEqual(['whoami 401']);
    expect(turns).toEqual([]);
    expect(post.exitCode).toBe(0);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('refused by the backend mid-run: the mid-run message, never the auth-json diagnosis, and no model turn', async () => {
    const personal = tokens.personal();
    personal.refusedByBackend = true;
    const { main, post, home, requests, turns } = await job(personal.token, { prompt: PROMPT });
    expect(main.exitCode).toBe(1);
    // Codex itself said to log out and sign in again; the step's error does not repeat it
    expect(main.stderr + main.stdout).toMatch(/could not be refreshed automatically/);
    expect(main.errors).toEqual([
      `codex exec failed (exit 1). The Codex backend refused \`access-token\` during the run: the token was most likely revoked or has expired. ${FIX} A weekly check (this action with \`access-token\` and no \`prompt\`) catches this before the week's jobs do.`,
    ]);
    expect(main.errors.join('\n')).not.toMatch(/sign in again|Seed|refresh token|auth-json/i);
    expect(main.outputs['exit-code']).toBe('1');
    expect(requests.some((r) => r.kind === 'config-bundle' && r.status === 401)).toBe(true);
    expect(turns).toEqual([]);
    expect(post.exitCode).toBe(0);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('an API key in `access-token` fails before Codex runs: no request reaches the stand-in', async () => {
    const key = 'sk-proj-pasted-into-the-wrong-input-0123456789';
    const { main, post, requests } = await job(key, { prompt: PROMPT });
    expect(main.exitCode).toBe(1);
    expect(main.errors).toEqual([
      'Input `access-token` holds an OpenAI API key (`sk-…`), not a Codex access token. Pass an API key as `openai-api-key` instead, or create a Codex access token in the ChatGPT workspace settings for `access-token`.',
    ]);
    expect(main.masks).toContain(key);
    expect(requests).toEqual([]);
    expect(post.exitCode).toBe(0);
  });
});

describe('an agent-identity JWT', () => {
  test('a model turn authorised by a verified AgentAssertion, and `expires-at` equal to its exp', async () => {
    const agent = agentToken(30);
    const { main, post, home, turns } = await job(agent.jwt, { prompt: PROMPT });
    expect([main.exitCode, main.errors, main.warnings]).toEqual([0, [], []]);
    expect(main.outputs).toMatchObject({ source: 'access-token', 'expires-at': isoOf(agent.exp), 'final-message': 'OK' });
    expect(main.masks).toEqual(expect.arrayContaining([agent.jwt, agent.privateKey]));
    expect(turns).toHaveLength(1);
    const call = tokens.calls.find((c) => c.entry === turns[0]);
    expect(call).toMatchObject({ scheme: 'agent-assertion', runtimeId: agent.runtimeId, verified: true });
    expect(agent.tasks).toContain(call?.taskId);
    expect(post.exitCode).toBe(0);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('an expired JWT fails before Codex runs, saying it expired and when', async () => {
    const agent = agentToken(-2);
    const { main, requests } = await job(agent.jwt, { prompt: PROMPT });
    expect(main.exitCode).toBe(1);
    expect(main.errors).toEqual([`Input \`access-token\` is an agent-identity token that expired on ${isoOf(agent.exp)}: Codex would refuse it. ${FIX}`]);
    expect(requests).toEqual([]);
  });

  test('a JWT the workspace did not sign is refused at sign-in, with no model turn', async () => {
    const agent = tokens.agentIdentity({ exp: new Date(Date.now() + 30 * DAY), untrusted: true });
    secrets.push(agent.jwt.split('.')[1] as string, agent.privateKey);
    const { main, requests, turns } = await job(agent.jwt, { prompt: PROMPT });
    expect(main.exitCode).toBe(1);
    expect(main.errors).toEqual([
      `The \`access-token\` secret was refused when Codex signed in: the token has expired or been revoked, or its member may not use Codex Local. ${FIX} (Codex said: failed to verify agent identity JWT)`,
    ]);
    expect(requests.map((r) => r.kind)).toEqual(['jwks']);
    expect(turns).toEqual([]);
  });

  test('a JWT with two days left: the job succeeds, and the warning names the date', async () => {
    const agent = agentToken(2);
    const { main, post, turns } = await job(agent.jwt, { prompt: PROMPT });
    expect([main.exitCode, main.errors]).toEqual([0, []]);
    expect(main.warnings).toHaveLength(1);
    expect(main.warnings[0]).toMatch(new RegExp(`^Input \`access-token\` expires on ${isoOf(agent.exp).replace(/\./g, '\\.')} \\(in [12]\\.\\d days\\): jobs after that date will fail\\. `));
    expect(main.outputs['expires-at']).toBe(isoOf(agent.exp));
    expect(turns).toHaveLength(1);
    expect(post.exitCode).toBe(0);
  });
});

describe('the scheduled check (no `prompt`)', () => {
  test('signs in (whoami), reports, and cleans up, with no model turn', async () => {
    const personal = tokens.personal();
    const { main, post, home, requests, turns } = await job(personal.token);
    expect([main.exitCode, main.errors]).toEqual([0, []]);
    expect(main.stdout).toContain('`access-token` is valid: the workspace accepted it (whoami).');
    expect(main.summary).toMatch(/Codex access token \(`at-…`\)[\s\S]*accepted: the workspace accepted it \(whoami\)/);
    expect(requests.map((r) => r.kind)).toEqual(['whoami']);
    expect(turns).toEqual([]);
    expect(post.exitCode).toBe(0);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('a JWT: verified against the JWKS, reported with its expiry', async () => {
    const agent = agentToken(10);
    const { main, requests } = await job(agent.jwt);
    expect([main.exitCode, main.errors]).toEqual([0, []]);
    expect(main.outputs['expires-at']).toBe(isoOf(agent.exp));
    expect(main.stdout).toContain(`Expires: ${isoOf(agent.exp)}.`);
    expect(requests.map((r) => r.kind)).toEqual(['jwks']);
  });

  test('a revoked token fails the check, with the login refusal', async () => {
    const personal = tokens.personal();
    personal.refused = true;
    const { main } = await job(personal.token);
    expect(main.exitCode).toBe(1);
    expect(main.errors[0]).toMatch(/^The `access-token` secret was refused when Codex signed in/);
  });
});

test('leaks: no form of any token, JWT payload or agent key in any log, summary, output, state or env', () => {
  expect(logs.length).toBeGreaterThanOrEqual(20);
  expect(secrets.length).toBeGreaterThanOrEqual(14);
  expect(leakedSecrets(stepLogs(...logs), secrets)).toEqual([]);
});
