/**
 * `refresh: force` end to end (DESIGN §5.1): the built action rotates the tokens through the real Codex
 * CLI's app-server, without a model turn, against the single-use token endpoint of the loopback stand-in
 * (a presented refresh token is spent; presenting it again answers `refresh_token_reused`). A refresh that
 * did not happen (a reused token, a token endpoint answering 500, where app-server's reply looks like
 * success) fails main with a diagnosis and leaves the store byte-identical.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCodexBackend, type CodexBackend } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { leakedSecrets, newRunner, recordedSteps, ROOT, stepLogs, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(180_000);

const MANAGER = path.join(ROOT, '__tests__', 'support', 'secret-manager.mjs');
let backend: CodexBackend;
let dir: string;
const runners: Runner[] = [];
const steps: StepResult[] = [];
const { main, post } = recordedSteps(steps);

beforeAll(async () => {
  backend = await startCodexBackend();
  dir = mkdtempSync(path.join(os.tmpdir(), 'keep-fresh-it-'));
});

afterAll(async () => {
  await backend.stop();
  for (const r of runners) r.remove();
  rmSync(dir, { recursive: true, force: true });
});

const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;

function commandInputs(file: string): Record<string, string> {
  return { store: 'command', 'restore-command': `node '${MANAGER}' get '${file}'`, 'persist-command': `node '${MANAGER}' put '${file}'` };
}

/** A job's options: the stand-in's env and codex on PATH; `runner` reused for the runner store. */
function options(runId: string, inputs: Record<string, string>, runner?: Runner): StepOptions {
  const r = runner ?? newRunner({ environment: 'github-hosted' });
  if (!runner) runners.push(r);
  return {
    runner: r,
    inputs: { 'codex-args': JSON.stringify(backend.args()), lock: 'none', refresh: 'force', ...inputs },
    env: { ...backend.env(path.join(r.home, '.codex'), {}), CODEX_HOME: '', PATH: `${path.dirname(codexBinary())}:${process.env.PATH}` },
    job: { runId },
  };
}

async function job(o: StepOptions) {
  const m = await main(o);
  const p = await post(o, m);
  return { main: m, post: p };
}

/** 3 forced jobs in a row: 3 rotations, each presenting the token the job before stored, 0 model turns. */
async function threeInARow(store: string, read: () => string, optionsFor: (i: number) => StepOptions) {
  const responses = backend.responsesRequests.length;
  const refreshes = backend.tokenRequests.length;
  for (let i = 0; i < 3; i++) {
    const before = read();
    const o = optionsFor(i);
    const { main: m, post: p } = await job(o);
    expect([m.exitCode, m.errors]).toEqual([0, []]);
    expect([p.exitCode, p.errors]).toEqual([0, []]);
    expect(m.outputs.refreshed).toBe('true');
    expect(m.stdout).toContain('Codex rotated the tokens');
    const after = read();
    expect(refreshTokenOf(after)).not.toBe(refreshTokenOf(before));
    const post = backend.tokenRequests.at(-1)!;
    // the job restored the previous job's token and presented it, once
    expect(post.refreshToken).toBe(refreshTokenOf(before));
    expect(post.outcome).toBe('rotated');
    expect(m.outputs['expires-at']).toBe(new Date((JSON.parse(Buffer.from(JSON.parse(after).tokens.access_token.split('.')[1], 'base64url').toString()) as { exp: number }).exp * 1000).toISOString());
    expect(p.summary).toContain('Access token expires');
    expect(p.summary).toContain('<td>Lock scope</td><td>job');
  }
  const mine = backend.tokenRequests.slice(refreshes);
  expect(mine.map((r) => [r.refreshReason, r.outcome])).toEqual([['forced', 'rotated'], ['forced', 'rotated'], ['forced', 'rotated']]);
  expect(backend.responsesRequests.length - responses).toBe(0);
  // the refresh POST is Codex's own: its JSON shape and its user agent, not this action's
  for (const r of mine) {
    expect(Object.keys(r.json as object).sort()).toEqual(['client_id', 'grant_type', 'refresh_reason', 'refresh_token']);
    expect(r.userAgent).toMatch(/^codex[\w-]*\/0\.\d+\.\d+ /);
  }
  return store;
}

describe('refresh: force, without a model turn', () => {
  test('runner store: 3 jobs in a row on one runner give 3 rotations, 0 reuse, 0 model requests', async () => {
    const { authJson } = backend.issue({ accountId: 'acct-runner' });
    const runner = newRunner({ environment: 'self-hosted' });
    runners.push(runner);
    const home = path.join(runner.dir, 'codex-home');
    const file = path.join(home, 'auth.json');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(file, authJson, { mode: 0o600 }); // the runner already holds the stream
    await threeInARow('runner', () => readFileSync(file, 'utf8'), (i) => options(`rf-runner-${i}`, { store: 'runner', 'auth-json': authJson, 'codex-home': home, lock: 'file' }, runner));
    // app-server's leftovers (sqlite, installation_id, lock files) never reach codex-home
    expect(readdirSync(home).filter((n) => !n.startsWith('.codex-auth'))).toEqual(['auth.json']);
  });

  test('command store: 3 jobs on fresh runners, each restoring the previous job\'s token', async () => {
    const { authJson } = backend.issue({ accountId: 'acct-command' });
    const file = path.join(dir, 'stream.json');
    writeFileSync(file, authJson);
    await threeInARow('command', () => readFileSync(file, 'utf8'), (i) => options(`rf-command-${i}`, { ...commandInputs(file), 'auth-json': authJson }));
  });

  test('a reused refresh token: a clear error, a byte-identical store, nothing persisted', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-reused' });
    const file = path.join(dir, 'reused.json');
    writeFileSync(file, authJson);
    backend.rotate(family); // another run spent the stored token
    const o = options('rf-reused', commandInputs(file));
    const { main: m, post: p } = await job(o);
    expect(m.exitCode).not.toBe(0);
    const error = m.errors.join('\n');
    expect(error).toContain('Codex did not refresh the tokens (auth.json is byte-identical: Codex did not rotate the tokens).');
    expect(error).toContain('The token endpoint refused the stored refresh token (already used, expired or revoked): this token family is dead. Nothing was persisted: the store keeps its copy.');
    expect(error).toContain('Seed again: run `codex login` on a trusted machine and put the new ~/.codex/auth.json in your secret manager');
    expect(m.summary).toContain('Codex auth: refresh failed');
    expect(backend.tokenRequests.at(-1)).toMatchObject({ refreshReason: 'forced', outcome: 'reused' });
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toContain('auth.json is unchanged: nothing to persist.');
    expect(readFileSync(file, 'utf8')).toBe(authJson);
    expect(readFileSync(`${file}.calls`, 'utf8').trim().split('\n')).toEqual(['get']);
  });

  test('runner store, a reused refresh token: the same error, and codex-home keeps its bytes', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-runner-reused' });
    const runner = newRunner({ environment: 'self-hosted' });
    runners.push(runner);
    const home = path.join(runner.dir, 'codex-home');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(path.join(home, 'auth.json'), authJson, { mode: 0o600 });
    backend.rotate(family);
    const { main: m, post: p } = await job(options('rf-runner-reused', { store: 'runner', 'codex-home': home, lock: 'file' }, runner));
    expect(m.exitCode).not.toBe(0);
    expect(m.errors.join('\n')).toContain('The token endpoint refused the stored refresh token (already used, expired or revoked)');
    expect([p.exitCode, p.errors]).toEqual([0, []]);
    expect(readFileSync(path.join(home, 'auth.json'), 'utf8')).toBe(authJson);
    expect(readdirSync(home).filter((n) => !n.startsWith('.codex-auth'))).toEqual(['auth.json']);
  });

  test('a token endpoint answering 500 (app-server still answers like success): the same, and the token is still good', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-500' });
    const file = path.join(dir, 'down.json');
    writeFileSync(file, authJson);
    backend.settings.refreshServerError = true;
    try {
      const { main: m, post: p } = await job(options('rf-500', commandInputs(file)));
      expect(m.exitCode).not.toBe(0);
      const error = m.errors.join('\n');
      expect(error).toContain('Codex did not refresh the tokens (auth.json is byte-identical: Codex did not rotate the tokens). Nothing changed: auth.json and the store keep their copy.');
      expect(error).toMatch(/Codex said: .*Failed to refresh token/);
      expect(error).toContain('The token endpoint failed (a server error): run the job again later; the stored refresh token is still good.');
      expect(error).not.toContain('Seed again');
      expect(p.exitCode).toBe(0);
      expect(backend.tokenRequests.at(-1)).toMatchObject({ outcome: 'server-error', refreshToken: family.refreshToken });
    } finally {
      backend.settings.refreshServerError = false;
    }
    expect(readFileSync(file, 'utf8')).toBe(authJson);
    expect(family.rotations).toBe(0);
  });

  test('with a prompt: the refresh first, then codex exec with the new tokens; post persists', async () => {
    const { family, authJson } = backend.issue({ accountId: 'acct-prompt' });
    const file = path.join(dir, 'prompt.json');
    writeFileSync(file, authJson);
    const responses = backend.responsesRequests.length;
    const { main: m, post: p } = await job(options('rf-prompt', { ...commandInputs(file), prompt: 'Reply with the single word OK.' }));
    expect([m.exitCode, m.errors]).toEqual([0, []]);
    expect(m.outputs).toMatchObject({ 'exit-code': '0', 'final-message': 'OK', refreshed: 'true' });
    expect(family.rotations).toBe(1);
    const turns = backend.responsesRequests.slice(responses);
    expect(turns.length).toBe(1);
    expect(turns[0]!.accessToken).toBe(family.accessToken); // exec ran on the rotated file
    expect([p.exitCode, p.errors]).toEqual([0, []]);
    expect(refreshTokenOf(readFileSync(file, 'utf8'))).toBe(family.refreshToken);
    expect(existsSync(path.join(m.outputs['codex-home'] as string, 'auth.json'))).toBe(false);
  });
});

test('no token reached any log', () => {
  const secrets = backend.families.flatMap((f) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens]);
  expect(secrets.length).toBeGreaterThan(10);
  expect(leakedSecrets(stepLogs(...steps), secrets)).toEqual([]);
});
