/**
 * `store: command` end to end, as the runner runs the built action (dist/, main then post), with a
 * file-backed secret manager script behind `restore-command` / `persist-command`. Restore-only: a
 * stand-in for Codex rewrites auth.json between main and post, as a refresh does. Each job runs on a
 * fresh runner directory.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { leakedSecrets, newRunner, recordedSteps, replaceAuthFile, ROOT, stepLogs, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(60_000);

const DAY = 86_400_000;
const MANAGER = path.join(ROOT, '__tests__', 'support', 'secret-manager.mjs');
let dir: string;
let secretFile: string;
const runners: Runner[] = [];
const steps: StepResult[] = [];
const secrets: string[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'command-store-it-'));
  secretFile = path.join(dir, 'codex-auth.json');
});

afterAll(() => {
  for (const r of runners) r.remove();
  rmSync(dir, { recursive: true, force: true });
});

function authJson(lastRefresh: number): string {
  const text = makeAuthJson({ accountId: 'acct-it', lastRefresh: new Date(lastRefresh), accessExp: new Date(lastRefresh + 3600_000), refreshToken: makeRefreshToken() });
  secrets.push(...Object.values((JSON.parse(text) as { tokens: Record<string, string> }).tokens).filter((t) => t.length > 20));
  return text;
}

function step(seed: string, runId: string, env: Record<string, string> = {}): StepOptions {
  const runner = newRunner({ environment: 'github-hosted' });
  runners.push(runner);
  return {
    runner,
    inputs: {
      'auth-json': seed,
      store: 'command',
      lock: 'none',
      'restore-command': `node '${MANAGER}' get "$SECRET_FILE"`,
      'persist-command': `node '${MANAGER}' put "$SECRET_FILE"`,
    },
    env: { SECRET_FILE: secretFile, ...env },
    job: { runId },
  };
}

const { main, post } = recordedSteps(steps);

describe('store: command, the ephemeral round trip', () => {
  const seed = authJson(Date.now() - 9 * DAY);
  const refreshed = authJson(Date.now() - 60_000);

  test('job 1 seeds, Codex refreshes, post pipes the file to `persist-command`; job 2 on a fresh runner restores it', async () => {
    const one = step(seed, '601');
    const main1 = await main(one);
    expect(main1.errors).toEqual([]);
    expect(main1.exitCode).toBe(0);
    expect(main1.outputs).toMatchObject({ source: 'seed', stale: 'true' });
    expect(main1.stdout).toContain('`restore-command` printed nothing: no auth.json is stored yet.');
    replaceAuthFile(main1.outputs['codex-home'] as string, refreshed);
    const post1 = await post(one, main1);
    expect(post1.errors).toEqual([]);
    expect(post1.exitCode).toBe(0);
    expect(post1.stdout).toContain('Persisted the refreshed auth.json to the command store.');
    expect(post1.stdout).toContain('persist-command: secret-manager: stored');
    expect(readFileSync(secretFile, 'utf8')).toBe(refreshed);

    const two = step(seed, '602');
    const main2 = await main(two);
    expect(main2.exitCode).toBe(0);
    expect(main2.outputs).toMatchObject({ source: 'command', stale: 'false' });
    expect(readFileSync(path.join(main2.outputs['codex-home'] as string, 'auth.json'), 'utf8')).toBe(refreshed);
    const post2 = await post(two, main2);
    expect(post2.exitCode).toBe(0);
    expect(post2.stdout).toContain('auth.json is unchanged: nothing to persist.');
    expect(readFileSync(`${secretFile}.calls`, 'utf8').trim().split('\n')).toEqual(['get', 'get', 'put', 'get']);
  });

  test('a failing `restore-command` fails main and writes no auth.json: the seed is not used', async () => {
    const o = step(seed, '603', { SECRET_MANAGER_FAIL: 'get' });
    const failed = await main(o);
    expect(failed.exitCode).not.toBe(0);
    expect(failed.errors.join('\n')).toMatch(/`restore-command` exited with code 3, so the stored auth.json could not be read\. The `auth-json` seed was NOT used/);
    expect(failed.stdout).toContain('restore-command: secret-manager: get denied');
    expect(existsSync(path.join(o.runner.home, '.codex', 'auth.json'))).toBe(false);
  });

  test('a failing `persist-command` fails post, and cleanup still runs', async () => {
    const o = step(seed, '604');
    const main4 = await main(o);
    expect(main4.exitCode).toBe(0);
    const newer = authJson(Date.now());
    replaceAuthFile(main4.outputs['codex-home'] as string, newer);
    const failed = await post({ ...o, env: { ...o.env, SECRET_MANAGER_FAIL: 'put' } }, main4);
    expect(failed.exitCode).not.toBe(0);
    expect(failed.errors.join('\n')).toMatch(/Failed to persist the refreshed auth.json: `persist-command` exited with code 3: the refreshed auth.json was NOT stored/);
    expect(existsSync(path.join(main4.outputs['codex-home'] as string, 'auth.json'))).toBe(false);
    expect(readFileSync(secretFile, 'utf8')).toBe(refreshed);
  });

  test('no token in any log, output, state or summary of any step above', () => {
    expect(steps.length).toBeGreaterThanOrEqual(6);
    expect(leakedSecrets(stepLogs(...steps), secrets)).toEqual([]);
  });
});
