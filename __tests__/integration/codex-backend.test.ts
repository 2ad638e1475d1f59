/**
 * Proves the loopback Codex backend against the real Codex CLI (no action code): the refresh rules
 * of DESIGN.md §5 must show up as requests on the stand-in and as rewrites (or not) of auth.json.
 */
import { afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCodexBackend, issueSeed, type CodexBackend } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';

jest.setTimeout(120_000);

const PROMPT = 'Reply with the single word OK.';
const EXEC_TIMEOUT_MS = 30_000;

let codex: string;
const backends: CodexBackend[] = [];
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

beforeAll(() => {
  codex = codexBinary();
});

afterEach(async () => {
  for (const child of children) killGroup(child);
  children.clear();
  await Promise.all(backends.splice(0).map((b) => b.stop()));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is already gone
  }
}

async function backend(...args: Parameters<typeof startCodexBackend>): Promise<CodexBackend> {
  const b = await startCodexBackend(...args);
  backends.push(b);
  return b;
}

/** A temp CODEX_HOME (0700) holding `authJson` as auth.json (0600), and a separate work dir. */
function codexHome(authJson: string): { home: string; work: string; authPath: string } {
  const root = mkdtempSync(path.join(os.tmpdir(), 'codex-backend-it-'));
  tempDirs.push(root);
  const home = path.join(root, 'home');
  const work = path.join(root, 'work');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(work, { mode: 0o700 });
  const authPath = path.join(home, 'auth.json');
  writeFileSync(authPath, authJson, { mode: 0o600 });
  return { home, work, authPath };
}

interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `codex exec` with stdin closed, in its own process group (the npm wrapper starts a native binary). */
function codexExec(b: CodexBackend, home: string, work: string, extra: string[] = []): Promise<ExecResult> {
  const started = Date.now();
  const child = spawn(codex, ['exec', ...b.args(), ...extra, PROMPT], {
    cwd: work,
    env: b.env(home),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => killGroup(child), EXEC_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function readAuth(authPath: string): { refreshToken: string; accessToken: string; lastRefresh: number; raw: Record<string, unknown> } {
  const raw = JSON.parse(readFileSync(authPath, 'utf8')) as { tokens: Record<string, string>; last_refresh: string };
  return {
    refreshToken: raw.tokens.refresh_token!,
    accessToken: raw.tokens.access_token!,
    lastRefresh: Date.parse(raw.last_refresh),
    raw,
  };
}

describe('the Codex backend stand-in, driven by the real codex CLI', () => {
  test.each<[string, true | 'age', string]>([
    ['an expired access token', true, 'proactive_expiry'],
    ['no exp and last_refresh 9 days old', 'age', 'scheduled'],
  ])('a stale seed (%s) is refreshed exactly once and auth.json is rewritten', async (_name, stale, reason) => {
    const b = await backend();
    const seed = issueSeed(b, { stale });
    const seedRefreshToken = seed.family.refreshToken;
    const seedLastRefresh = Date.parse((JSON.parse(seed.authJson) as { last_refresh: string }).last_refresh);
    const { home, work, authPath } = codexHome(seed.authJson);

    const result = await codexExec(b, home, work);

    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe('OK');
    expect(b.tokenRequests).toHaveLength(1);
    expect(b.tokenRequests[0]).toMatchObject({ refreshToken: seedRefreshToken, refreshReason: reason, outcome: 'rotated', status: 200 });
    expect(b.tokenRequests[0]!.json).toMatchObject({ grant_type: 'refresh_token', client_id: 'app_EMoamEEZ73f0CkXaXp7hrann' });

    const after = readAuth(authPath);
    expect(after.refreshToken).toBe(seed.family.refreshToken);
    expect(after.refreshToken).not.toBe(seedRefreshToken);
    expect(after.accessToken).toBe(seed.family.accessToken);
    expect(after.lastRefresh).toBeGreaterThan(seedLastRefresh);
    expect(after.raw).toMatchObject({ auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens: { account_id: seed.family.identity.accountId } });
    expect(statSync(authPath).mode & 0o777).toBe(0o600);

    // The refresh finished before the model call, which carried the new access token.
    const responses = b.responsesRequests.filter((r) => r.status === 200);
    expect(responses).toHaveLength(1);
    expect(responses[0]!.accessToken).toBe(seed.family.accessToken);
    expect(responses[0]!.contentEncoding).toBe('zstd');
    expect(responses[0]!.at).toBeGreaterThanOrEqual(b.tokenRequests[0]!.doneAt!);
  });

  test('a fresh auth.json is used as is: no refresh, file byte-identical', async () => {
    const b = await backend({ replyText: 'OK' });
    const seed = issueSeed(b, { stale: false });
    const { home, work, authPath } = codexHome(seed.authJson);
    const lastMessage = path.join(work, 'last-message.txt');

    const result = await codexExec(b, home, work, ['--output-last-message', lastMessage]);

    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe('OK');
    expect(readFileSync(lastMessage, 'utf8').trim()).toBe('OK');
    expect(b.tokenRequests).toHaveLength(0);
    expect(readFileSync(authPath, 'utf8')).toBe(seed.authJson);
    expect(b.responsesRequests.map((r) => r.accessToken)).toEqual([seed.family.accessToken]);
    expect(b.requests.some((r) => r.kind === 'responses-websocket' && r.status === 426)).toBe(true);
  });

  test('an already-used refresh token: exit 1, "refresh token was already used", auth.json byte-identical', async () => {
    const b = await backend();
    const seed = issueSeed(b, { stale: true });
    const usedToken = seed.family.refreshToken;
    b.rotate(seed.family); // another runner refreshed first
    const { home, work, authPath } = codexHome(seed.authJson);

    const result = await codexExec(b, home, work);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Your access token could not be refreshed because your refresh token was already used. Please log out and sign in again.');
    expect(readFileSync(authPath, 'utf8')).toBe(seed.authJson);
    expect(b.tokenRequests.length).toBeGreaterThanOrEqual(1);
    for (const r of b.tokenRequests) expect(r).toMatchObject({ refreshToken: usedToken, outcome: 'reused', status: 401 });
    expect(b.families[0]!.rotations).toBe(1);
  });

  test('a 401 on a fresh-looking file makes Codex refresh (unauthorized_recovery) and retry', async () => {
    const b = await backend();
    const seed = issueSeed(b, { stale: false });
    b.revokeAccessToken(seed.family);
    const { home, work, authPath } = codexHome(seed.authJson);

    const result = await codexExec(b, home, work);

    expect(result).toMatchObject({ code: 0 });
    expect(b.tokenRequests.map((r) => [r.refreshReason, r.outcome])).toEqual([['unauthorized_recovery', 'rotated']]);
    expect(readAuth(authPath).refreshToken).toBe(seed.family.refreshToken);
    expect(b.responsesRequests.map((r) => r.status)).toContain(401);
    expect(b.responsesRequests.at(-1)).toMatchObject({ status: 200, accessToken: seed.family.accessToken });
  });
});
