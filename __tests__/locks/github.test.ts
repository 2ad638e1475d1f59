/**
 * `lock: github` and the REST client under it, against the loopback GitHub API stand-in: request counts
 * as the stand-in charged them, FIFO, the first-listing rule against slow clocks, dead holders (run
 * completed, run gone, lease), timeout and permission messages, rate limits. Time is an injected clock
 * where the test needs minutes to pass.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { readContext } from '../../src/context.js';
import { UserError } from '../../src/errors.js';
import { RateLimitError } from '../../src/github.js';
import type { Acquired, LockDeps, LockHandle } from '../../src/locks/lock.js';
import { GithubLock, parseTicket, ticketName, type GithubLockEdges } from '../../src/locks/github.js';
import type { Clock, Log } from '../../src/log.js';
import { systemClock } from '../../src/log.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';

const REPO = 'octo/repo';
const PREFIX = 'refs/codex-auth-locks/codex-auth/';

interface TestLog extends Log {
  lines: string[];
}

function testLog(): TestLog {
  const lines: string[] = [];
  return { lines, info: (m) => void lines.push(m), warning: (m) => void lines.push(`warning: ${m}`), debug: () => undefined };
}

/** Time that moves only when someone sleeps: minutes pass in milliseconds. */
function fakeClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      t += ms;
      await new Promise((r) => setImmediate(r));
      signal?.throwIfAborted();
    },
    advance: (ms) => void (t += ms),
  };
}

/**
 * Simulated time for several waiters at once: each sleeper wakes at its own time; when the process has
 * been quiet for a few real milliseconds, time jumps to the next wake-up.
 */
function simClock(start = Date.now()): Clock {
  let t = start;
  const sleepers: { at: number; wake: () => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const tick = () => {
    timer = null;
    sleepers.sort((a, b) => a.at - b.at);
    const first = sleepers[0];
    if (!first) return;
    t = Math.max(t, first.at);
    while (sleepers[0] && sleepers[0].at <= t) (sleepers.shift() as { wake: () => void }).wake();
    if (sleepers.length) timer = setTimeout(tick, 3);
  };
  return {
    now: () => t,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        sleepers.push({ at: t + ms, wake: resolve });
        timer ??= setTimeout(tick, 3);
      }),
  };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await delay(5);
  }
}

let api: GithubApiStandIn;
beforeEach(async () => {
  api = await startGithubApi();
});
afterEach(async () => {
  await api.stop();
});

interface Job {
  lock: GithubLock;
  log: TestLog;
  token: string;
  deps: LockDeps;
}

function job(o: { runId: string; clock?: Clock; repository?: string; lockRepository?: string; env?: Record<string, string>; edges?: GithubLockEdges }): Job {
  const repository = o.repository ?? REPO;
  const token = `ghs_token_${o.runId}`;
  const ctx = readContext({ GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: o.runId, GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'codex', RUNNER_NAME: `runner-${o.runId}`, GITHUB_API_URL: api.url, GITHUB_SERVER_URL: 'https://github.example' });
  const log = testLog();
  const deps: LockDeps = { ctx, log, clock: o.clock ?? systemClock, codexHome: '/unused', key: 'codex-auth', lockRepository: o.lockRepository ?? REPO, githubToken: token };
  const env = { GITHUB_SHA: api.headSha(repository), ...o.env };
  return { lock: new GithubLock(deps, { env, ...o.edges }), log, token, deps };
}

const ticketRefs = () => api.refs(REPO, PREFIX).map((r) => r.ref);
const byToken = (token: string) => api.requests.filter((r) => r.token === token);

describe('ticket names', () => {
  test('carry the owner, sort by arrival, and stay short', () => {
    const owner = { repository: 'octo/repo', runId: '42', runAttempt: '2', job: 'build', runnerName: 'r1', leaseSeconds: 60 };
    const a = ticketName(1_700_000_000_000, '0000abcd', owner);
    const b = ticketName(1_700_000_000_001, '00000000', owner);
    expect(a < b).toBe(true);
    expect(parseTicket(PREFIX + a, PREFIX)).toEqual({ ref: PREFIX + a, seq: 1_700_000_000_000, repository: 'octo/repo', runId: '42', runAttempt: '2', job: 'build', runnerName: 'r1', leaseUntil: 1_700_000_060_000 });
    const long = ticketName(1, 'ffffffff', { ...owner, repository: `${'o'.repeat(39)}/${'r'.repeat(100)}`, job: 'j'.repeat(200), runnerName: 'n'.repeat(200) });
    expect(long.length).toBeLessThanOrEqual(240);
    expect(parseTicket(PREFIX + long, PREFIX)?.runId).toBe('42');
    expect(parseTicket('refs/codex-auth-locks/codex-auth/not-a-ticket', PREFIX)).toBeNull();
    expect(parseTicket(`refs/heads/${a}`, PREFIX)).toBeNull();
  });
});

describe('GithubLock', () => {
  test('uncontended acquire + release costs 3 requests in this repository, 4 in another', async () => {
    const a = job({ runId: '101' });
    const acquired = await a.lock.acquire({ timeoutMs: 10_000 });
    expect(acquired.handle).toEqual({ kind: 'github', repository: REPO, ref: expect.stringMatching(/^refs\/codex-auth-locks\/codex-auth\/\d{13}-[0-9a-f]{8}\./) });
    const ticket = parseTicket((acquired.handle as { ref: string }).ref, PREFIX);
    expect(ticket).toMatchObject({ repository: REPO, runId: '101', runAttempt: '1', job: 'codex', runnerName: 'runner-101' });
    await a.lock.release(acquired.handle);
    expect(ticketRefs()).toEqual([]);
    expect(byToken(a.token).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 201', 'GET 200', 'DELETE 204']);

    const b = job({ runId: '102', lockRepository: 'octo/locks' });
    await b.lock.release((await b.lock.acquire({ timeoutMs: 10_000 })).handle);
    expect(byToken(b.token).map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'POST 201', 'GET 200', 'DELETE 204']);
    expect(api.charged(b.token)).toBe(4);
  });

  test('release is idempotent, deletes only its own ticket, and refuses refs that are not tickets', async () => {
    const a = job({ runId: '201' });
    const b = job({ runId: '202' });
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const waiting = b.lock.acquire({ timeoutMs: 20_000 });
    await until(() => ticketRefs().length === 2);
    await a.lock.release(held.handle);
    await a.lock.release(held.handle);
    expect(a.log.lines.join('\n')).toContain('already gone');
    const second = await waiting;
    expect(ticketRefs()).toEqual([(second.handle as { ref: string }).ref]);
    await expect(a.lock.release({ kind: 'github', repository: REPO, ref: 'refs/heads/main' })).rejects.toThrow(/Refusing to delete refs\/heads\/main/);
    await b.lock.release(second.handle);
    await a.lock.release({ kind: 'file', path: '/x', token: 't' });
    expect(ticketRefs()).toEqual([]);
  });

  test('serves waiters in arrival order', async () => {
    const [a, b, c] = ['301', '302', '303'].map((runId) => job({ runId })) as [Job, Job, Job];
    const order: string[] = [];
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const track = (name: string, p: Promise<Acquired>) => p.then((x) => (order.push(name), x));
    // Generous waits: this test checks the order, not the speed, and a loaded machine is slow.
    const bWait = track('b', b.lock.acquire({ timeoutMs: 60_000 }));
    await until(() => ticketRefs().length === 2);
    const cWait = track('c', c.lock.acquire({ timeoutMs: 60_000 }));
    await until(() => ticketRefs().length === 3);
    await delay(1500);
    expect(order).toEqual([]);
    await a.lock.release(held.handle);
    const bHeld = await bWait;
    await delay(500);
    expect(order).toEqual(['b']);
    await b.lock.release(bHeld.handle);
    await c.lock.release((await cWait).handle);
    expect(order).toEqual(['b', 'c']);
  }, 90_000);

  test('a ticket named before the holder (a slow clock) is queued again after it', async () => {
    const a = job({ runId: '401' });
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const slow: Clock = { now: () => Date.now() - 60_000, sleep: systemClock.sleep };
    const b = job({ runId: '402', clock: slow });
    let bHeld: Acquired | null = null;
    const waiting = b.lock.acquire({ timeoutMs: 20_000 }).then((x) => (bHeld = x));
    await until(() => api.refLog.filter((e) => e.token === b.token && e.kind === 'create').length === 2);
    await delay(1500);
    expect(bHeld).toBeNull();
    const [first, second] = ticketRefs();
    expect(first).toBe((held.handle as { ref: string }).ref);
    expect(parseTicket(second as string, PREFIX)?.runId).toBe('402');
    await a.lock.release(held.handle);
    await waiting;
    await b.lock.release((bHeld as unknown as Acquired).handle);
  });

  test('removes a holder whose run completed, and says whose it was', async () => {
    const a = job({ runId: '501' });
    await a.lock.acquire({ timeoutMs: 10_000 });
    api.setRunStatus(REPO, '501', 'completed', 'cancelled');
    const clock = fakeClock();
    const b = job({ runId: '502', clock });
    const acquired = await b.lock.acquire({ timeoutMs: 600_000 });
    expect(acquired.waitedMs).toBeLessThan(10_000);
    const log = b.log.lines.join('\n');
    expect(log).toContain("Removed the lock ticket of job 'codex' of https://github.example/octo/repo/actions/runs/501 (attempt 1) on runner 'runner-501'");
    expect(log).toContain('its run attempt completed (cancelled)');
    expect(ticketRefs()).toEqual([(acquired.handle as { ref: string }).ref]);
  });

  test('a run that is gone is dead only when its repository is visible; else the lease decides', async () => {
    const visible = job({ runId: '601', repository: 'octo/other' });
    await visible.lock.acquire({ timeoutMs: 10_000 });
    api.deleteRun('octo/other', '601');
    const b = job({ runId: '602', clock: fakeClock() });
    await b.lock.release((await b.lock.acquire({ timeoutMs: 600_000 })).handle);
    expect(b.log.lines.join('\n')).toContain('its run no longer exists');

    const hidden = job({ runId: '603', repository: 'secret/repo', env: { CODEX_AUTH_LOCK_LEASE_SECONDS: '600' } });
    await hidden.lock.acquire({ timeoutMs: 10_000 });
    api.hideRepo('secret/repo');
    const clock = fakeClock();
    const c = job({ runId: '604', clock });
    const acquired = await c.lock.acquire({ timeoutMs: 7200_000 });
    expect(acquired.waitedMs).toBeGreaterThan(500_000);
    const log = c.log.lines.join('\n');
    expect(log).toContain('Cannot read the workflow runs of secret/repo (HTTP 404)');
    expect(log).toMatch(/its lease ran out/);
  });

  test('takes over a live-looking holder once its lease runs out', async () => {
    const clock = fakeClock();
    const a = job({ runId: '701', clock, env: { CODEX_AUTH_LOCK_LEASE_SECONDS: '30' } });
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const b = job({ runId: '702', clock });
    const acquired = await b.lock.acquire({ timeoutMs: 600_000 });
    const ticket = parseTicket((held.handle as { ref: string }).ref, PREFIX) as NonNullable<ReturnType<typeof parseTicket>>;
    expect(clock.now()).toBeGreaterThanOrEqual(ticket.leaseUntil);
    expect(acquired.waitedMs).toBeLessThan(40_000);
    expect(b.log.lines.join('\n')).toContain('its lease ran out');
  });

  test('times out naming the holder, its run and how long it has held; the own ticket is removed', async () => {
    const a = job({ runId: '801' });
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const clock = fakeClock();
    const b = job({ runId: '802', clock });
    const error = await b.lock.acquire({ timeoutMs: 300_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    const message = (error as Error).message;
    expect(message).toContain('Timed out after 300 s waiting for the lock `codex-auth` in octo/repo');
    expect(message).toContain("job 'codex' of https://github.example/octo/repo/actions/runs/801 (attempt 1) on runner 'runner-801'");
    expect(message).toMatch(/held it for at least (29\d|300) s/);
    expect(message).toContain('`lock-timeout`');
    expect(ticketRefs()).toEqual([(held.handle as { ref: string }).ref]);
  });

  test('a token without contents: write fails at once with the permissions block to add', async () => {
    const a = job({ runId: '901' });
    api.grant(a.token, { contents: 'read' });
    const error = await a.lock.acquire({ timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain('POST /repos/octo/repo/git/refs: HTTP 403');
    expect((error as Error).message).toContain('permissions:\n  contents: write\n  actions: read');
    expect(byToken(a.token)).toHaveLength(1);

    const b = job({ runId: '902', lockRepository: 'octo/elsewhere' });
    api.grant(b.token, { contents: 'none', denyAs: 404 });
    await expect(b.lock.acquire({ timeoutMs: 10_000 })).rejects.toThrow(/HTTP 404[\s\S]*contents: write[\s\S]*fine-grained personal access token/);
  });

  test('an aborted wait removes its ticket', async () => {
    const a = job({ runId: '1001' });
    const held = await a.lock.acquire({ timeoutMs: 10_000 });
    const b = job({ runId: '1002' });
    const abort = new AbortController();
    const waiting = b.lock.acquire({ timeoutMs: 60_000, signal: abort.signal });
    await until(() => ticketRefs().length === 2);
    abort.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(ticketRefs()).toEqual([(held.handle as { ref: string }).ref]);
  });

  test('waiters behind a long hold spend at most 6 charged requests a minute while the queue changes', async () => {
    const clock = simClock();
    const holder = job({ runId: '1101' });
    const held = await holder.lock.acquire({ timeoutMs: 10_000 });
    const waiters = ['1102', '1103', '1104'].map((runId) => job({ runId, clock }));
    const started = clock.now();
    const pending = waiters.map((w) => w.lock.acquire({ timeoutMs: 3600_000 }));
    // Other jobs join and leave behind them every 20 simulated seconds: each change makes the listing new.
    const minutes = 10;
    let next = started;
    let n = 0;
    while (clock.now() < started + minutes * 60_000) {
      if (clock.now() >= next) {
        next += 20_000;
        const name = ticketName(clock.now(), (n++ % 2 ? 'ffffffff' : 'fffffff0'), { repository: REPO, runId: '9999', runAttempt: '1', job: 'x', runnerName: 'y', leaseSeconds: 3600 });
        const created = await fetch(`${api.url}/repos/${REPO}/git/refs`, { method: 'POST', headers: { authorization: 'Bearer other' }, body: JSON.stringify({ ref: PREFIX + name, sha: api.headSha(REPO) }) });
        expect(created.status).toBe(201);
        for (const r of api.refs(REPO, PREFIX).filter((x) => x.token === 'other' && x.ref !== PREFIX + name)) {
          await fetch(`${api.url}/repos/${REPO}/git/${r.ref}`, { method: 'DELETE', headers: { authorization: 'Bearer other' } });
        }
      }
      await delay(2);
    }
    await holder.lock.release(held.handle);
    await Promise.all(pending.map((p, i) => p.then((x) => (waiters[i] as Job).lock.release(x.handle))));
    for (const w of waiters) {
      const charged = api.charged(w.token);
      const all = byToken(w.token).length;
      expect(charged).toBeLessThanOrEqual(3 * minutes); // 30 changes behind them cost them nothing
      expect(all).toBeGreaterThan(charged); // the rest were 304s
    }
  });
});

describe('deadlines of the github lock', () => {
  test('a waiter whose `lock-timeout` ends before a rate limit resets fails at once, naming the reset; no ticket is left', async () => {
    const a = job({ runId: '901' });
    await a.lock.acquire({ timeoutMs: 10_000 });
    const b = job({ runId: '902' });
    api.setRateLimit(b.token, 0, 3600);
    const started = Date.now();
    const error = await b.lock.acquire({ timeoutMs: 600_000 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as Error).message).toMatch(/HTTP 403 \(rate limited until \d{4}-\d\d-\d\dT[\d:.]+Z, after this call's deadline/);
    expect(ticketRefs()).toHaveLength(1);
  });

  test('a waiter rate-limited while it waits stops at `lock-timeout`, not at the reset an hour later', async () => {
    const clock = fakeClock();
    const a = job({ runId: '911' });
    await a.lock.acquire({ timeoutMs: 10_000 });
    const b = job({ runId: '912', clock });
    const waiting = b.lock.acquire({ timeoutMs: 120_000 }).catch((e: unknown) => e);
    await until(() => ticketRefs().length === 2);
    api.setRateLimit(b.token, 0, 3600);
    const started = clock.now();
    const error = await waiting;
    expect(error).toBeInstanceOf(RateLimitError);
    expect(clock.now() - started).toBeLessThanOrEqual(120_000);
  });

  test("post's release gives up after RELEASE_TIMEOUT_MS instead of waiting out the rate limit", async () => {
    const a = job({ runId: '921' });
    const { handle } = await a.lock.acquire({ timeoutMs: 10_000 });
    api.setRateLimit(a.token, 0, 3600);
    const started = Date.now();
    await expect(a.lock.release(handle)).rejects.toThrow(/rate limited until .*after this call's deadline/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

export type { LockHandle };
