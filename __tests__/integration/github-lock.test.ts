/**
 * `lock: github` as the runner runs it: the built dist/ main, then post with main's state, one process
 * each, against the loopback GitHub API stand-in.
 *
 * The storm: one job takes the lock and hangs (its run stays in progress; only a short lease ends it),
 * then 15 more start at once; 3 of them die after main (no post; their runs are marked completed). Every
 * critical section — from main's end (the lock is held by then) to the moment the stand-in deleted the
 * job's ticket — must be disjoint from every other, and the lock must be taken in the order the held
 * tickets were created on the stand-in.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import path from 'node:path';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';
import { newRunner, runStep, type Runner, type StepOptions, type StepResult } from '../support/runner.js';

jest.setTimeout(120_000);

const REPO = 'octo/repo';
const PREFIX = 'refs/codex-auth-locks/codex-auth/';
const JOBS = 16;
const HOLD_MS = 300;
const LEASE_SECONDS = 8;

let api: GithubApiStandIn;
const runners: Runner[] = [];

beforeAll(async () => {
  api = await startGithubApi();
  api.setLatency(5);
});
afterAll(async () => {
  await api.stop();
  for (const r of runners) r.remove();
});

const seed = makeAuthJson({ accountId: 'acct-lock', lastRefresh: new Date(), refreshToken: makeRefreshToken() });

function jobOptions(i: number, env: Record<string, string> = {}): StepOptions {
  const runner = newRunner({ name: `runner-${i}` });
  runners.push(runner);
  return {
    runner,
    inputs: {
      'auth-json': seed,
      store: 'runner',
      'codex-home': path.join(runner.dir, 'codex-home'),
      lock: 'github',
      'github-token': `ghs_job_${i}`,
      'lock-timeout': '120',
    },
    env: { ...api.env, GITHUB_SHA: api.headSha(REPO), ...env },
    job: { runId: String(7000 + i), repository: REPO, job: 'codex' },
  };
}

interface Section {
  job: number;
  ref: string;
  acquiredBy: number;
  releasedAt: number;
  createdAt: number;
  main: StepResult;
  post: StepResult | null;
}

const heldRef = (main: StepResult): string => (JSON.parse(main.state['codex-auth'] ?? '{}') as { lock?: { ref?: string } }).lock?.ref ?? '';

async function runJob(i: number, o: StepOptions, dies: boolean): Promise<{ main: StepResult; post: StepResult | null }> {
  const main = await runStep('main', o);
  if (dies) {
    api.setRunStatus(REPO, 7000 + i, 'completed', 'cancelled');
    return { main, post: null };
  }
  await new Promise((r) => setTimeout(r, HOLD_MS));
  const post = await runStep('post', { ...o, state: main.state, jobEnv: { ...o.jobEnv, ...main.env } });
  return { main, post };
}

describe('lock: github', () => {
  test('a storm of 16 jobs: no overlap, served in ticket order, dead holders recovered by run status and by lease', async () => {
    const started = Date.now();
    const hung = await runStep('main', jobOptions(0, { CODEX_AUTH_LOCK_LEASE_SECONDS: String(LEASE_SECONDS) }));
    expect(hung.exitCode).toBe(0);
    const dying = new Set([4, 8, 12]);
    const results = await Promise.all(Array.from({ length: JOBS - 1 }, (_, k) => runJob(k + 1, jobOptions(k + 1), dying.has(k + 1))));
    // A dying job may be served last: with nobody behind it, nothing removes its ticket. Dead holders are
    // recovered by the next waiter, so one more job comes after the storm and must get the lock too.
    const sweeper = await runJob(JOBS, jobOptions(JOBS), false);
    const all = [{ main: hung, post: null }, ...results, sweeper];
    const elapsed = Date.now() - started;

    for (const [i, r] of all.entries()) {
      expect({ job: i, main: r.main.exitCode, errors: r.main.errors }).toEqual({ job: i, main: 0, errors: [] });
      if (r.post) expect({ job: i, post: r.post.exitCode, warnings: r.post.warnings }).toEqual({ job: i, post: 0, warnings: [] });
    }

    const sections: Section[] = all.map((r, i) => {
      const ref = heldRef(r.main);
      const created = api.refLog.find((e) => e.kind === 'create' && e.ref === ref);
      const deleted = api.refLog.find((e) => e.kind === 'delete' && e.ref === ref);
      expect({ job: i, ref: ref.startsWith(PREFIX), created: !!created, deleted: !!deleted }).toEqual({ job: i, ref: true, created: true, deleted: true });
      return { job: i, ref, acquiredBy: r.main.endedAt, releasedAt: (deleted as { at: number }).at, createdAt: (created as { at: number }).at, main: r.main, post: r.post };
    });

    // Mutual exclusion: sorted by when each held the lock, each section ends before the next begins.
    const byAcquire = [...sections].sort((a, b) => a.acquiredBy - b.acquiredBy);
    for (let k = 1; k < byAcquire.length; k++) {
      const prev = byAcquire[k - 1] as Section;
      const next = byAcquire[k] as Section;
      expect({ prev: prev.job, next: next.job, gap: next.acquiredBy - prev.releasedAt >= 0 }).toEqual({ prev: prev.job, next: next.job, gap: true });
    }
    // FIFO: the lock went round in queue order, the held tickets' names, which is arrival order: a name
    // starts with the time it was given (one clock here, so comparable with the stand-in's). Against the
    // order the stand-in created the refs, only races may differ: a ticket served first although created
    // later must have been named before the other one was created (both were on their way at once).
    expect(byAcquire.map((s) => s.ref)).toEqual([...byAcquire.map((s) => s.ref)].sort());
    const named = (s: Section) => Number(s.ref.slice(PREFIX.length, PREFIX.length + 13));
    for (const s of sections) expect(named(s)).toBeLessThanOrEqual(s.createdAt);
    const inversions = byAcquire.flatMap((a, k) => byAcquire.slice(k + 1).filter((b) => b.createdAt < a.createdAt).map((b) => ({ first: a.job, then: b.job, createdApartMs: a.createdAt - b.createdAt, raced: named(a) <= b.createdAt })));
    expect(inversions.filter((i) => !i.raced)).toEqual([]);

    // Dead holders: the hung one after its lease, the dying ones once their runs completed; each logged.
    const logs = all.map((r) => r.main.stdout).join('\n');
    const hungTicket = sections[0] as Section;
    expect(hungTicket.releasedAt).toBeGreaterThanOrEqual(Number(hungTicket.ref.slice(PREFIX.length, PREFIX.length + 13)) + LEASE_SECONDS * 1000);
    expect(logs).toMatch(new RegExp(`Removed the lock ticket of job 'codex' of https://github.example/octo/repo/actions/runs/7000 \\(attempt 1\\) on runner 'runner-0'.*its lease ran out`));
    for (const i of dying) expect(logs).toMatch(new RegExp(`Removed the lock ticket of job 'codex' of https://github.example/octo/repo/actions/runs/${7000 + i} .*its run attempt completed \\(cancelled\\)`));
    expect(api.refs(REPO, PREFIX)).toEqual([]);

    // Handoffs and cost, for the record.
    const handoffs = byAcquire.slice(1).map((s, k) => s.acquiredBy - (byAcquire[k] as Section).releasedAt).filter((_, k) => !dying.has((byAcquire[k] as Section).job) && k > 0);
    const median = [...handoffs].sort((a, b) => a - b)[Math.floor(handoffs.length / 2)] ?? 0;
    const charged = all.map((_, i) => api.charged(`ghs_job_${i}`));
    const requeued = all.map((_, i) => api.refLog.filter((e) => e.kind === 'create' && e.token === `ghs_job_${i}`).length - 1);
    console.log(
      `storm: ${JOBS} jobs in ${(elapsed / 1000).toFixed(1)} s; handoff (release → next main done) median ${median} ms; ` +
        `charged requests per job ${Math.min(...charged)}–${Math.max(...charged)} (total ${api.charged()}, all requests ${api.requests.length}); tickets queued again ${requeued.reduce((a, b) => a + b, 0)}; served out of creation order: ${JSON.stringify(inversions)}`,
    );
    expect(elapsed).toBeLessThan(90_000);
  });

  test('a token without contents: write fails main at once with the permissions block; post has nothing to release', async () => {
    const o = jobOptions(99);
    api.grant('ghs_job_99', { contents: 'read', actions: 'none' });
    const main = await runStep('main', o);
    expect(main.exitCode).toBe(1);
    expect(main.errors.join('\n')).toContain('permissions:\n  contents: write\n  actions: read');
    expect(api.requests.filter((r) => r.token === 'ghs_job_99')).toHaveLength(1);
    const post = await runStep('post', { ...o, state: main.state });
    expect(post.exitCode).toBe(0);
    expect(post.warnings).toEqual([]);
  });
});
