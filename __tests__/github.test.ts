/**
 * GithubApi.request, the REST client under the github lock, the github-secret store and the runs check:
 * conditional requests (ETag, 304 not charged), retries on network errors and 5xx, rate limits (retry-after,
 * x-ratelimit-*, secondary limits) within the call's deadline, and URL-encoded names. Against the loopback
 * GitHub API stand-in, or a bare loopback server where the test needs to see or shape each exchange.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGithubApi, DEFAULT_DEADLINE_MS, GithubApiError, RateLimitError, repoPath } from '../src/github.js';
import type { Clock, Log } from '../src/log.js';
import { systemClock } from '../src/log.js';
import { fakeClock } from './support/fixtures.js';
import { startGithubApi, type GithubApiStandIn } from './support/github-api.js';

const REPO = 'octo/repo';

interface TestLog extends Log {
  lines: string[];
}

function testLog(): TestLog {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(m), warning: (m) => void lines.push(`warning: ${m}`), debug: (m) => void lines.push(`debug: ${m}`) };
}

let api: GithubApiStandIn;
beforeEach(async () => {
  api = await startGithubApi();
});
afterEach(async () => {
  await api.stop();
});

describe('GithubApi', () => {
  const client = (clock: Clock, log: Log = testLog()) => createGithubApi({ apiUrl: api.url, token: 'ghs_client', clock, log });

  test('a conditional GET answered 304 returns the cached body and is not charged', async () => {
    const gh = await client(systemClock);
    const first = await gh.request('GET', `/repos/${REPO}/git/matching-refs/codex-auth-locks/x`, { conditional: true });
    const second = await gh.request('GET', `/repos/${REPO}/git/matching-refs/codex-auth-locks/x`, { conditional: true });
    expect(first).toEqual({ status: 200, data: [], notModified: false });
    expect(second).toEqual({ status: 200, data: [], notModified: true });
    expect(gh.stats).toEqual({ requests: 2, charged: 1, notModified: 1 });
    expect(api.charged('ghs_client')).toBe(1);
    expect(gh.rate).toMatchObject({ limit: 5000, remaining: 4999 });
  });

  test('waits as retry-after asks, backs off on 5xx, and names method, path and status on failure', async () => {
    const clock = fakeClock();
    const log = testLog();
    const gh = await client(clock, log);
    api.failNext(1, 429, { 'retry-after': '7' });
    api.failNext(2, 502);
    const before = clock.now();
    const res = await gh.request('GET', `/repos/${REPO}`);
    expect(res.status).toBe(200);
    expect(clock.now() - before).toBeGreaterThanOrEqual(7000);
    expect(log.lines.join('\n')).toContain('rate limit answered GET /repos/octo/repo with HTTP 429; waiting');
    const error = await gh.request('GET', `/repos/${REPO}/nothing`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GithubApiError);
    expect((error as Error).message).toBe('GET /repos/octo/repo/nothing: HTTP 404');
  });

  test('a spent rate limit is waited out until its reset, within the deadline only', async () => {
    const gh = await client(systemClock);
    api.setRateLimit('ghs_client', 0, 1);
    const started = Date.now();
    const res = await gh.request('GET', `/repos/${REPO}`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    api.setRateLimit('ghs_client', 0, 600);
    const error = await gh.request('GET', `/repos/${REPO}`, { deadline: Date.now() + 5000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 403, rateLimited: true });
    expect(gh.pace()).toBeGreaterThan(500_000);
  });

  test('a rate limit that resets after the deadline fails at once, naming the reset time and the deadline', async () => {
    const gh = await client(systemClock);
    api.setRateLimit('ghs_client', 0, 1800);
    const started = Date.now();
    const deadline = started + 60_000;
    const error = await gh.request('GET', `/repos/${REPO}`, { deadline }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(RateLimitError);
    const resetAt = gh.rate?.resetAt ?? 0;
    expect(resetAt).toBeGreaterThan(started + 1_700_000);
    expect(error).toMatchObject({ status: 403, rateLimited: true, resetAt });
    expect((error as Error).message).toBe(
      `GET /repos/octo/repo: HTTP 403 (rate limited until ${new Date(resetAt).toISOString()}, after this call's deadline ${new Date(deadline).toISOString()}). Wait until then, or give the step a token with its own rate limit (a GitHub App token has more requests an hour than \`github.token\`).`,
    );
    expect(api.requests.filter((r) => r.token === 'ghs_client')).toHaveLength(1);
  });

  test('a call without a deadline gets DEFAULT_DEADLINE_MS: it never sleeps until an hour-away reset', async () => {
    const clock = fakeClock();
    const gh = await client(clock);
    api.setRateLimit('ghs_client', 0, 3600);
    const before = clock.now();
    const error = await gh.request('GET', `/repos/${REPO}`).catch((e: unknown) => e);
    expect(clock.now()).toBe(before); // not a single sleep
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as Error).message).toContain(`after this call's deadline ${new Date(before + DEFAULT_DEADLINE_MS).toISOString()}`);
    // a reset within those 5 minutes is still waited for
    api.setRateLimit('ghs_client', 0, 120);
    const waited = clock.now();
    api.setRateLimit('ghs_client', 5000, 3600);
    api.failNext(1, 403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor((clock.now() + 120_000) / 1000)) });
    expect((await gh.request('GET', `/repos/${REPO}`)).status).toBe(200);
    expect(clock.now() - waited).toBeGreaterThanOrEqual(119_000);
  });

  test('an abort signal ends a rate-limit wait', async () => {
    const gh = await client(systemClock);
    api.setRateLimit('ghs_client', 0, 60);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('cancelled')), 100);
    const started = Date.now();
    await expect(gh.request('GET', `/repos/${REPO}`, { signal: controller.signal })).rejects.toThrow('cancelled');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/** One exchange as the bare server saw it. */
interface Seen {
  method: string;
  /** the raw request target, as sent on the wire */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Answer = { status: number; headers?: Record<string, string>; body?: unknown };

/** A loopback server that answers from a script, one answer a request (the last one repeats), and logs each. */
async function scripted(answers: Answer[]): Promise<{ url: string; seen: Seen[]; stop(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const answer = answers[Math.min(seen.length, answers.length) - 1] as Answer;
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('GithubApi on the wire', () => {
  const on = (url: string, clock: Clock = fakeClock(), log: Log = testLog()) => createGithubApi({ apiUrl: `${url}/`, token: 'ghs_wire', clock, log, random: () => 0.5 });

  test('sends the token, the API version and JSON; a conditional GET sends the ETag it was given and returns the cached body on 304', async () => {
    const server = await scripted([
      { status: 200, headers: { etag: '"v1"' }, body: { n: 1 } },
      { status: 304, headers: { etag: '"v1"' } },
      { status: 201, body: { ref: 'refs/x' } },
    ]);
    try {
      const gh = await on(server.url);
      expect(await gh.request('GET', '/repos/o/r', { conditional: true })).toEqual({ status: 200, data: { n: 1 }, notModified: false });
      expect(await gh.request('GET', '/repos/o/r', { conditional: true })).toEqual({ status: 200, data: { n: 1 }, notModified: true });
      expect(server.seen[0]?.headers).toMatchObject({ authorization: 'Bearer ghs_wire', 'x-github-api-version': '2022-11-28', accept: 'application/vnd.github+json' });
      expect(server.seen[0]?.headers['if-none-match']).toBeUndefined();
      expect(server.seen[1]?.headers['if-none-match']).toBe('"v1"');
      expect(gh.stats).toEqual({ requests: 2, charged: 1, notModified: 1 });

      await gh.request('POST', '/repos/o/r/git/refs', { body: { ref: 'refs/x', sha: 'abc' } });
      expect(server.seen[2]).toMatchObject({ method: 'POST', body: '{"ref":"refs/x","sha":"abc"}' });
      expect(server.seen[2]?.headers['content-type']).toBe('application/json');
    } finally {
      await server.stop();
    }
  });

  test('a GET that is not conditional never sends If-None-Match, and a 304 without a cached copy is an error', async () => {
    const server = await scripted([{ status: 200, headers: { etag: '"v1"' }, body: {} }, { status: 304 }]);
    try {
      const gh = await on(server.url);
      await gh.request('GET', '/repos/o/r');
      const error = await gh.request('GET', '/repos/o/r').catch((e: unknown) => e);
      expect(server.seen[1]?.headers['if-none-match']).toBeUndefined();
      expect(error).toBeInstanceOf(GithubApiError);
      expect((error as Error).message).toBe('GET /repos/o/r: HTTP 304');
    } finally {
      await server.stop();
    }
  });

  test('5xx is retried with backoff up to 4 attempts, then fails naming the status; an accepted status is returned, not thrown', async () => {
    const server = await scripted([{ status: 503, body: { message: 'busy' } }]);
    try {
      const clock = fakeClock();
      const gh = await on(server.url, clock);
      const error = await gh.request('GET', '/repos/o/r').catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 503, apiMessage: 'busy', method: 'GET', path: '/repos/o/r' });
      expect(server.seen).toHaveLength(4);
      // 500 ms doubling, times 0.5 + random (0.5 here)
      expect(clock.sleeps).toEqual([500, 1000, 2000]);
      expect(await gh.request('GET', '/repos/o/r', { accept: [503] })).toEqual({ status: 503, data: { message: 'busy' }, notModified: false });
    } finally {
      await server.stop();
    }
  });

  test('a 5xx then a success returns the success; 4xx is not retried', async () => {
    const server = await scripted([{ status: 502 }, { status: 200, body: { ok: true } }, { status: 422, body: { message: 'Reference already exists' } }]);
    try {
      const gh = await on(server.url);
      expect((await gh.request('GET', '/repos/o/r')).data).toEqual({ ok: true });
      const error = await gh.request('POST', '/repos/o/r/git/refs', { body: {} }).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 422, apiMessage: 'Reference already exists' });
      expect((error as Error).message).toBe('POST /repos/o/r/git/refs: HTTP 422');
      expect(server.seen).toHaveLength(3);
    } finally {
      await server.stop();
    }
  });

  test('network errors are retried, then fail naming method and path with the cause', async () => {
    const server = await scripted([{ status: 200 }]);
    await server.stop(); // nothing listens there any more: connection refused
    const clock = fakeClock();
    const gh = await on(server.url, clock);
    const error = await gh.request('GET', '/repos/o/r').catch((e: unknown) => e);
    expect((error as Error).message).toBe('GET /repos/o/r failed');
    expect((error as Error).cause).toMatchObject({ message: 'fetch failed' });
    expect(gh.stats.requests).toBe(4);
    expect(clock.sleeps).toHaveLength(3);
  });

  test('x-ratelimit-* headers are kept as the rate; pace() spreads polls once less than a tenth is left', async () => {
    const clock = fakeClock();
    const reset = Math.floor(clock.now() / 1000) + 100;
    const server = await scripted([
      { status: 200, headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4000', 'x-ratelimit-reset': String(reset) }, body: {} },
      { status: 200, headers: { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '100', 'x-ratelimit-reset': String(reset) }, body: {} },
    ]);
    try {
      const gh = await on(server.url, clock);
      await gh.request('GET', '/rate');
      expect(gh.rate).toEqual({ limit: 5000, remaining: 4000, resetAt: reset * 1000 });
      expect(gh.pace()).toBe(0);
      await gh.request('GET', '/rate');
      expect(gh.pace()).toBeCloseTo((reset * 1000 - clock.now()) / 100, 5);
    } finally {
      await server.stop();
    }
  });

  test('a secondary rate limit (403 saying so, no headers) waits a minute, then doubles; more than 3 waits fail', async () => {
    const server = await scripted([{ status: 403, body: { message: 'You have exceeded a secondary rate limit.' } }]);
    try {
      const clock = fakeClock();
      const log = testLog();
      const gh = await on(server.url, clock, log);
      const error = await gh.request('GET', '/repos/o/r', { deadline: clock.now() + 3_600_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GithubApiError);
      expect(error).toMatchObject({ status: 403, rateLimited: true });
      // each wait has up to a second of jitter (half a second here)
      expect(clock.sleeps).toEqual([60_500, 120_500, 240_500]);
      expect(log.lines.filter((l) => l.startsWith("GitHub's API rate limit answered GET /repos/o/r with HTTP 403"))).toHaveLength(3);
      // a 403 that is no rate limit (a permission) is not waited for
      const denied = await scripted([{ status: 403, body: { message: 'Resource not accessible by integration' } }]);
      try {
        const before = clock.sleeps.length;
        const refused = await (await on(denied.url, clock)).request('GET', '/repos/o/r').catch((e: unknown) => e);
        expect(refused).toMatchObject({ status: 403, rateLimited: false });
        expect(clock.sleeps).toHaveLength(before);
      } finally {
        await denied.stop();
      }
    } finally {
      await server.stop();
    }
  });

  test('names are URL-encoded: repoPath encodes each part, and what goes on the wire is the encoded path', async () => {
    expect(repoPath('octo/repo')).toBe('/repos/octo/repo');
    expect(repoPath('o w/r?x#y')).toBe('/repos/o%20w/r%3Fx%23y');
    expect(repoPath('a/b/../../orgs/evil')).toBe('/repos/a/b');
    const server = await scripted([{ status: 404 }]);
    try {
      const gh = await on(server.url);
      const res = await gh.request('GET', `${repoPath('o w/r?x')}/actions/secrets/NAME`, { accept: [404] });
      expect(res).toEqual({ status: 404, data: null, notModified: false });
      expect(server.seen[0]?.url).toBe('/repos/o%20w/r%3Fx/actions/secrets/NAME');
    } finally {
      await server.stop();
    }
  });
});
