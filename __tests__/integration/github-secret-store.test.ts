/**
 * `store: github-secret` as the runner runs it (built dist/, main then post with state), against the
 * loopback GitHub API stand-in, with `lock: github` on the same stand-in: an ephemeral round trip.
 * Between main and post the test rewrites auth.json as Codex does when it refreshes (a new file with a
 * newer `last_refresh` and rotated tokens); the stand-in opens the sealed secret with its private key.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';
import { leakedSecrets, newRunner, replaceAuthFile, runPostAfter, runStep, stepLogs, type Runner, type StepOptions } from '../support/runner.js';

jest.setTimeout(60_000);

const REPO = 'octo/repo';
const SECRET_TOKEN = 'github_pat_11SECRETWRITER';

let api: GithubApiStandIn;
const runners: Runner[] = [];

beforeAll(async () => {
  api = await startGithubApi();
});
afterAll(async () => {
  await api.stop();
  for (const r of runners) r.remove();
});

function job(runId: number, inputs: Record<string, string>): StepOptions {
  const runner = newRunner({ environment: 'github-hosted' });
  runners.push(runner);
  return {
    runner,
    inputs: { store: 'github-secret', lock: 'github', 'codex-home': path.join(runner.dir, 'codex-home'), 'github-token': `ghs_run_${runId}`, 'secret-token': SECRET_TOKEN, ...inputs },
    env: { ...api.env, GITHUB_SHA: api.headSha(REPO) },
    job: { runId: String(runId), repository: REPO },
  };
}

const post = runPostAfter;

describe('store: github-secret', () => {
  test('round trip: job 1 seeds and writes the refreshed file back sealed; job 2 restores it and writes nothing', async () => {
    const staleRt = makeRefreshToken();
    const freshRt = makeRefreshToken();
    const seed = makeAuthJson({ accountId: 'acct-gs', lastRefresh: new Date(Date.now() - 9 * 86_400_000), accessExp: null, refreshToken: staleRt });
    const refreshed = makeAuthJson({ accountId: 'acct-gs', lastRefresh: new Date(), refreshToken: freshRt });

    const first = job(8001, { 'auth-json': seed });
    const main1 = await runStep('main', first);
    expect(main1.exitCode).toBe(0);
    expect(main1.outputs.source).toBe('seed');
    expect(main1.outputs.stale).toBe('true');
    const home1 = first.inputs?.['codex-home'] as string;
    expect(readFileSync(path.join(home1, 'auth.json'), 'utf8')).toBe(seed);
    replaceAuthFile(home1, refreshed);
    const post1 = await post(first, main1);
    expect(post1.exitCode).toBe(0);
    expect(post1.warnings).toEqual([]);
    expect(post1.stdout).toContain('Persisted the refreshed auth.json to the github-secret store.');
    const secret = api.secret(REPO, 'CODEX_AUTH_JSON');
    expect(secret?.value).toBe(refreshed);
    expect(secret?.encryptedValue).not.toContain(freshRt);
    expect(existsSync(path.join(home1, 'auth.json'))).toBe(false); // cleanup on an ephemeral store

    // The runner hands job 2 the secret as it is now.
    const second = job(8002, { 'auth-json': secret?.value as string });
    const main2 = await runStep('main', second);
    expect(main2.exitCode).toBe(0);
    expect(main2.outputs.source).toBe('github-secret');
    expect(main2.outputs.stale).toBe('false');
    const post2 = await post(second, main2);
    expect(post2.exitCode).toBe(0);
    expect(post2.stdout).toContain('auth.json is unchanged: nothing to persist.');
    expect(api.secret(REPO, 'CODEX_AUTH_JSON')?.writes).toBe(1);
    expect(api.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    expect(api.refs(REPO, 'refs/codex-auth-locks/')).toEqual([]);

    const tokens = [staleRt, freshRt, SECRET_TOKEN, ...[seed, refreshed].flatMap((t) => Object.values((JSON.parse(t) as { tokens: Record<string, string> }).tokens))].filter((t) => t.length > 20);
    expect(leakedSecrets(stepLogs(main1, post1, main2, post2), tokens)).toEqual([]);
  });

  test('without secret-token, main fails before anything is written, naming the token to make', async () => {
    const seed = makeAuthJson({ accountId: 'acct-gs', lastRefresh: new Date(), refreshToken: makeRefreshToken() });
    const o = job(8003, { 'auth-json': seed, 'secret-token': '' });
    const main = await runStep('main', o);
    expect(main.exitCode).toBe(1);
    expect(main.errors.join('\n')).toContain("GITHUB_TOKEN cannot write Actions secrets");
    expect(main.errors.join('\n')).toContain('Secrets: Read and write');
    expect(existsSync(path.join(o.inputs?.['codex-home'] as string, 'auth.json'))).toBe(false);
    const p = await post(o, main);
    expect(p.exitCode).toBe(0);
    expect(api.refs(REPO, 'refs/codex-auth-locks/')).toEqual([]);
  });
});
