// Benchmarks `lock: github` against the loopback GitHub API stand-in (not a test): N contenders (default 8)
// arrive at once, each holds the lock for a while, then releases it. Prints handoff latency (one release
// answered → the next acquire returns), charged requests per waiter per minute of waiting (as the stand-in
// counted them: a 304 is not charged), the most any waiter was charged in one minute, and the totals.
// The lock and the stand-in are TypeScript; esbuild (a devDependency) builds them into .tmp/ first.
// Usage: node scripts/bench-lock.mjs [--contenders 8] [--hold 8] [--latency 50] [--json]
import * as esbuild from 'esbuild';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const contenders = arg('contenders', 8);
const holdMs = arg('hold', 8) * 1000;
const latencyMs = arg('latency', 50);
const json = process.argv.includes('--json');

const outdir = path.join(root, '.tmp', 'bench-lock');
mkdirSync(outdir, { recursive: true });
const outfile = path.join(outdir, 'lock-bench.mjs');
await esbuild.build({
  stdin: {
    contents: [
      "export { GithubLock } from './src/locks/github.ts';",
      "export { readContext } from './src/context.ts';",
      "export { startGithubApi } from './__tests__/support/github-api.ts';",
    ].join('\n'),
    resolveDir: root,
    loader: 'ts',
  },
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
const { GithubLock, readContext, startGithubApi } = await import(pathToFileURL(outfile).href);

const REPO = 'octo/bench';
const clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
    }),
};
const log = { info: () => {}, warning: (m) => console.error(`warning: ${m}`), debug: () => {} };

function contender(api, i) {
  const ctx = readContext({ GITHUB_REPOSITORY: REPO, GITHUB_RUN_ID: String(9000 + i), GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'bench', RUNNER_NAME: `runner-${i}`, GITHUB_API_URL: api.url, GITHUB_SERVER_URL: 'https://github.example' });
  const token = `ghs_bench_${i}`;
  const lock = new GithubLock({ ctx, log, clock, codexHome: '', key: 'bench', lockRepository: REPO, githubToken: token }, { env: { GITHUB_SHA: api.headSha(REPO) } });
  return { i, token, lock };
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

const api = await startGithubApi();
api.setLatency(latencyMs);
try {
  // Uncontended: one acquire + release, alone.
  const solo = contender(api, 99);
  await solo.lock.release((await solo.lock.acquire({ timeoutMs: 60_000 })).handle);
  const soloRequests = api.requests.filter((r) => r.token === solo.token).length;

  const started = Date.now();
  const events = [];
  const runs = await Promise.all(
    Array.from({ length: contenders }, async (_, i) => {
      const c = contender(api, i);
      const t0 = Date.now();
      const { handle } = await c.lock.acquire({ timeoutMs: 600_000 });
      const acquiredAt = Date.now();
      events.push({ kind: 'acquire', at: acquiredAt, i });
      await clock.sleep(holdMs);
      await c.lock.release(handle);
      const releasedAt = Date.now();
      events.push({ kind: 'release', at: releasedAt, i });
      return { ...c, t0, acquiredAt, releasedAt };
    }),
  );
  const elapsed = Date.now() - started;

  events.sort((a, b) => a.at - b.at);
  const handoffs = [];
  for (let k = 0; k < events.length; k++) {
    if (events[k].kind !== 'release') continue;
    const next = events.slice(k + 1).find((e) => e.kind === 'acquire');
    if (next) handoffs.push(next.at - events[k].at);
  }

  const perWaiter = runs.map((r) => {
    const mine = api.requests.filter((q) => q.token === r.token);
    const waiting = mine.filter((q) => q.at >= r.t0 && q.at <= r.acquiredAt);
    const charged = waiting.filter((q) => q.charged).map((q) => q.at);
    let maxMinute = 0;
    for (const at of charged) maxMinute = Math.max(maxMinute, charged.filter((x) => x >= at && x < at + 60_000).length);
    return { waitMs: r.acquiredAt - r.t0, charged: charged.length, all: mine.length, chargedAll: mine.filter((q) => q.charged).length, maxMinute };
  });
  const waiters = perWaiter.filter((w) => w.waitMs > 1000);
  const rate = (w) => w.charged / (w.waitMs / 60_000);
  const totalWaitMin = waiters.reduce((s, w) => s + w.waitMs, 0) / 60_000;
  const figures = {
    contenders,
    holdSeconds: holdMs / 1000,
    apiLatencyMs: latencyMs,
    elapsedSeconds: +(elapsed / 1000).toFixed(1),
    handoffMs: { p50: quantile(handoffs, 0.5), p95: quantile(handoffs, 0.95), max: Math.max(...handoffs), n: handoffs.length },
    chargedPerWaiterPerMinute: {
      overall: +(waiters.reduce((s, w) => s + w.charged, 0) / totalWaitMin).toFixed(2),
      median: +quantile(waiters.map(rate), 0.5).toFixed(2),
      max: +Math.max(...waiters.map(rate)).toFixed(2),
    },
    maxChargedInAnyMinuteByOneWaiter: Math.max(...perWaiter.map((w) => w.maxMinute)),
    perAcquireAndRelease: { charged: +(perWaiter.reduce((s, w) => s + w.chargedAll, 0) / contenders).toFixed(1), requests: +(perWaiter.reduce((s, w) => s + w.all, 0) / contenders).toFixed(1) },
    uncontendedRequests: soloRequests,
    totalRequests: { all: api.requests.length - soloRequests, charged: api.charged() - api.charged(solo.token), notModified: api.requests.filter((q) => q.status === 304).length },
  };
  if (json) console.log(JSON.stringify(figures));
  else {
    console.log(`lock: github — ${contenders} contenders arriving at once, each holding ${holdMs / 1000} s; stand-in latency ${latencyMs} ms; ${figures.elapsedSeconds} s in all`);
    console.log(`handoff latency (release answered → next acquire)  p50 ${figures.handoffMs.p50} ms  p95 ${figures.handoffMs.p95} ms  max ${figures.handoffMs.max} ms  (${handoffs.length} handoffs)`);
    console.log(`charged requests per waiter per minute of waiting  overall ${figures.chargedPerWaiterPerMinute.overall}  median ${figures.chargedPerWaiterPerMinute.median}  max ${figures.chargedPerWaiterPerMinute.max}  (most in any one minute by one waiter: ${figures.maxChargedInAnyMinuteByOneWaiter})`);
    console.log(`per acquire + release (create, listings, polls, checks, delete)  ${figures.perAcquireAndRelease.charged} charged of ${figures.perAcquireAndRelease.requests} requests; uncontended: ${soloRequests} requests`);
    console.log(`total requests  ${figures.totalRequests.all} (${figures.totalRequests.charged} charged, ${figures.totalRequests.notModified} answered 304 and not charged)`);
  }
} finally {
  await api.stop();
}
