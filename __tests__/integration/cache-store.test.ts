/**
 * `store: cache` end to end, as the runner runs the built action (dist/, main then post), against the
 * loopback Actions cache service with the real @actions/cache client inside the action. Restore-only: a
 * stand-in for Codex rewrites auth.json between main and post, as a refresh does. Each job runs on a
 * fresh runner directory, as on GitHub-hosted runners.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { startCacheService, type CacheService } from '../support/cache-service.js';
import { leakedSecrets, newRunner, recordedSteps, replaceAuthFile, stepLogs, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(120_000);

const DAY = 86_400_000;
const KEY = 'it-cache';
let service: CacheService;
let eventDir: string;
const runners: Runner[] = [];
const steps: StepResult[] = [];
const secrets: string[] = [];

beforeAll(async () => {
  service = await startCacheService();
  eventDir = mkdtempSync(path.join(os.tmpdir(), 'cache-store-it-'));
});

afterAll(async () => {
  await service.stop();
  for (const r of runners) r.remove();
  rmSync(eventDir, { recursive: true, force: true });
});

/** A ChatGPT auth.json whose tokens the leak scan looks for in every log. */
function authJson(lastRefresh: number, accountId = 'acct-it'): string {
  // The access token lives an hour, as a real one does: a file refreshed over an hour ago is stale.
  const text = makeAuthJson({ accountId, lastRefresh: new Date(lastRefresh), accessExp: new Date(lastRefresh + 3600_000), refreshToken: makeRefreshToken() });
  secrets.push(...Object.values((JSON.parse(text) as { tokens: Record<string, string> }).tokens).filter((t) => t.length > 20));
  return text;
}

function eventFile(defaultBranch: string): string {
  const file = path.join(eventDir, `event-${defaultBranch}.json`);
  writeFileSync(file, JSON.stringify({ repository: { full_name: 'octo/repo', default_branch: defaultBranch } }));
  return file;
}

function step(seed: string, runId: string, env: Record<string, string> = {}): StepOptions {
  const runner = newRunner({ environment: 'github-hosted' });
  runners.push(runner);
  return {
    runner,
    inputs: { 'auth-json': seed, store: 'cache', lock: 'none', key: KEY },
    env: { ...service.env, ...env },
    job: { runId, eventPath: eventFile('main') },
  };
}

const { main, post } = recordedSteps(steps);

describe('store: cache, the ephemeral round trip', () => {
  const seed = authJson(Date.now() - 9 * DAY);
  const refreshed = authJson(Date.now() - 60_000);

  test('job 1 seeds, Codex refreshes, post saves a sealed entry; job 2 on a fresh runner restores the refreshed file', async () => {
    const one = step(seed, '501');
    const main1 = await main(one);
    expect(main1.errors).toEqual([]);
    expect(main1.exitCode).toBe(0);
    expect(main1.outputs).toMatchObject({ source: 'seed', stale: 'true', refreshed: 'false' });
    expect(main1.stdout).toContain('The Actions cache holds no entry of `it-cache` yet.');
    replaceAuthFile(main1.outputs['codex-home'] as string, refreshed);
    const post1 = await post(one, main1);
    expect(post1.errors).toEqual([]);
    expect(post1.exitCode).toBe(0);
    expect(post1.stdout).toContain('Persisted the refreshed auth.json to the cache store.');
    expect(existsSync(path.join(main1.outputs['codex-home'] as string, 'auth.json'))).toBe(false);
    expect(service.entries().map((e) => e.key)).toEqual([expect.stringMatching(/^it-cache-501-1-\d+$/)]);

    const two = step(seed, '502');
    const main2 = await main(two);
    expect(main2.exitCode).toBe(0);
    expect(main2.outputs).toMatchObject({ source: 'cache', stale: 'false' });
    expect(readFileSync(path.join(main2.outputs['codex-home'] as string, 'auth.json'), 'utf8')).toBe(refreshed);
    expect(main2.masks).toEqual(expect.arrayContaining([(JSON.parse(refreshed) as { tokens: { refresh_token: string } }).tokens.refresh_token]));
    const post2 = await post(two, main2);
    expect(post2.exitCode).toBe(0);
    expect(post2.stdout).toContain('auth.json is unchanged: nothing to persist.');
    expect(service.entries()).toHaveLength(1);
  });

  test('a new seed (another key) makes the old entry unreadable: said in the log, and the new seed is used', async () => {
    const newSeed = authJson(Date.now());
    const main3 = await main(step(newSeed, '503'));
    expect(main3.exitCode).toBe(0);
    expect(main3.outputs.source).toBe('seed');
    expect(main3.warnings.join('\n')).toMatch(/Actions cache entry it-cache-501-1-\d+ cannot be opened: it was sealed with another key/);
  });

  test('a cache service answering 500 fails main loudly and writes no auth.json: the seed is not used', async () => {
    service.failWith(500);
    try {
      const o = step(seed, '504');
      const failed = await main(o);
      expect(failed.exitCode).not.toBe(0);
      expect(failed.errors.join('\n')).toMatch(/Could not read the Actions cache \(POST GetCacheEntryDownloadURL: HTTP 500.*\)\. The `auth-json` seed was NOT used instead.*rotated long ago/);
      expect(existsSync(path.join(o.runner.home, '.codex', 'auth.json'))).toBe(false);
      expect((await post(o, failed)).exitCode).toBe(0);
    } finally {
      service.failWith(null);
    }
  });

  test('off the default branch, main refuses and names the stores that work there', async () => {
    const refused = await main(step(seed, '505', { GITHUB_REF_NAME: 'feature/x' }));
    expect(refused.exitCode).not.toBe(0);
    expect(refused.errors.join('\n')).toMatch(/Refusing to use `store: cache` on 'feature\/x', which is not the default branch 'main'.*`store: github-secret` or `store: command`/);
  });

  test('no token in any log, output, state or summary of any step above', () => {
    expect(steps.length).toBeGreaterThanOrEqual(7);
    expect(secrets.length).toBeGreaterThanOrEqual(9);
    expect(leakedSecrets(stepLogs(...steps), secrets)).toEqual([]);
  });
});
