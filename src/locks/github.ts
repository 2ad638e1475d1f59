import { randomBytes } from 'node:crypto';
import { runUrl } from '../context.js';
import { UserError } from '../errors.js';
import { createGithubApi, GithubApiError, repoPath, type FetchLike, type GithubApi } from '../github.js';
import { canAskAbout, runAttemptStatus } from './run-status.js';
import { LEASE_MS, leaseMsFrom, RELEASE_TIMEOUT_MS, type Acquired, type Lock, type LockDeps, type LockHandle, type ReleaseDeps } from './lock.js';

/**
 * `lock: github` (DESIGN §4): a FIFO queue of refs `refs/codex-auth-locks/<key>/<ticket>` in
 * `lock-repository`, made with the git refs API, whose create is atomic (422 when the name exists).
 *
 * A ticket's name is `<seq>-<nonce>.<owner>`: `seq` is the arrival time in ms (13 digits), so names sort in
 * arrival order; `nonce` is 8 random hex digits; `owner` is base64url JSON `{r, i, a, j, n, l}` — repository,
 * run id, run attempt, job, runner name and lease in seconds (fields are dropped, job first, to keep a
 * name within 240 characters; without `r` only the lease can end a ticket). Everything a waiter needs is
 * in the listing itself. Every ticket points at an existing commit (GITHUB_SHA when the lock lives in
 * this repository, else the default branch's head), which it keeps reachable and nothing else.
 *
 * The first ticket holds the lock. Names are chosen by clients, so a slow clock or a slow request can put a
 * new ticket before one that already holds. A ticket therefore counts only once its first listing shows no
 * ticket after it — or still shows one of the tickets listed when it was named: if a holder Y sorts after
 * our x, Y's own listing did not show x, so x was made after that listing; Y, still holding, is in x's first
 * listing; and a ticket listed before x was named, still there, was there when Y listed, before Y, so Y
 * could not have found itself first. Otherwise the ticket is queued again after the last one seen: in a
 * storm of simultaneous arrivals most tickets are queued again once, and once is enough.
 *
 * Waiting: each waiter polls only the ref of the ticket just ahead of it (a conditional GET, answered 304
 * for as long as it exists, which GitHub does not charge), lists the queue again when that ticket is gone,
 * and meanwhile estimates its place from the pace the queue was seen to move: about each second near the
 * front, further back about a quarter of the expected wait (1–30 s), never more than 6 charged polls a
 * minute (a burst of 4). The waiter just behind the holder checks the holder's lease and, from 3 s into the
 * hold, its run attempt (GET …/actions/runs/{id}/attempts/{n}, conditional; then every third of the hold,
 * 3–60 s), and removes its ticket, logging whose it was, when the lease ran out or the run completed or is
 * gone (a run that 404s counts as gone only when its repository is visible to the token). Further back the
 * ticket ahead is checked every 2 minutes, so dead waiters are passed over too.
 *
 * Cost: uncontended acquire + release is 3 requests (create, list, delete; 4 when the lock lives in
 * another repository, to find a commit). Contended, about 6–10 charged requests per acquire, whatever the
 * queue's length and however often others come and go; see scripts/bench-lock.mjs for measured figures.
 */

export const REF_NAMESPACE = 'codex-auth-locks';

/** How often a waiter near the front polls, and the bounds for everyone else. */
const HEAD_POLL_MS = 1000;
const MIN_POLL_MS = 1000;
const MAX_POLL_MS = 30_000;
/** Until the queue has been seen to move, a hold is assumed to take this long (short: a poll too many is a free 304). */
const INITIAL_HOLD_MS = 2000;
/** Charged requests a waiter may spend: a sustained rate, and a burst. */
const BUDGET_PER_MINUTE = 6;
const BUDGET_BURST = 4;
/** The holder's successor first asks about the holder's run after this, then every third of its hold (bounded). */
const FIRST_RUN_CHECK_MS = 3000;
const RUN_CHECK_MIN_MS = 3000;
const RUN_CHECK_MAX_MS = 60_000;
/** Further back, the run of the ticket ahead is checked this rarely; listings are refreshed as rarely. */
const STALLED_MS = 120_000;
/** A ticket just made may take a moment to show in listings. */
const VISIBLE_WITHIN_MS = 10_000;
/** Git allows long names, but a ref component is a file name in many stores. */
const MAX_NAME_LENGTH = 240;

/** A ticket as listed: its place in the queue and who queued it. */
export interface Ticket {
  ref: string;
  seq: number;
  repository: string;
  runId: string;
  runAttempt: string;
  job: string;
  runnerName: string;
  /** ms since the epoch; after this the owner is presumed dead */
  leaseUntil: number;
}

type TicketOwner = Omit<Ticket, 'ref' | 'seq' | 'leaseUntil'> & { leaseSeconds: number };

/** The ticket name for `owner` queued at `seq`; fields that make it too long are dropped, job first. */
export function ticketName(seq: number, nonce: string, owner: TicketOwner): string {
  const fields = { r: owner.repository, i: owner.runId, a: owner.runAttempt, j: owner.job.slice(0, 64), n: owner.runnerName.slice(0, 64), l: owner.leaseSeconds };
  const head = `${String(Math.max(0, Math.floor(seq))).padStart(13, '0')}-${nonce}.`;
  for (const drop of [[], ['j'], ['j', 'n'], ['j', 'n', 'r']] as const) {
    const kept = Object.fromEntries(Object.entries(fields).filter(([k]) => !(drop as readonly string[]).includes(k)));
    const name = head + Buffer.from(JSON.stringify(kept)).toString('base64url');
    if (name.length <= MAX_NAME_LENGTH) return name;
  }
  return head + Buffer.from(JSON.stringify({ l: owner.leaseSeconds })).toString('base64url');
}

const NAME = /^(\d{13})-([0-9a-f]{8})\.([A-Za-z0-9_-]+)$/;

/** Parses a ticket ref under `prefix`; null for anything else (foreign refs are ignored). */
export function parseTicket(ref: string, prefix: string): Ticket | null {
  if (!ref.startsWith(prefix)) return null;
  const match = NAME.exec(ref.slice(prefix.length));
  if (!match) return null;
  let owner: Record<string, unknown>;
  try {
    owner = JSON.parse(Buffer.from(match[3] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!owner || typeof owner !== 'object') return null;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const seq = Number(match[1]);
  const lease = typeof owner.l === 'number' && owner.l > 0 ? owner.l * 1000 : LEASE_MS;
  return { ref, seq, repository: text(owner.r), runId: text(owner.i), runAttempt: text(owner.a) || '1', job: text(owner.j), runnerName: text(owner.n), leaseUntil: seq + lease };
}

/** The edges the lock gets besides LockDeps; tests and the benchmark pass their own. */
export interface GithubLockEdges {
  fetch?: FetchLike;
  /** GITHUB_SHA and CODEX_AUTH_LOCK_LEASE_SECONDS are read from here; default process.env */
  env?: NodeJS.ProcessEnv;
  random?: () => number;
}

export class GithubLock implements Lock {
  private readonly env: NodeJS.ProcessEnv;
  private readonly random: () => number;
  private readonly apis = new Map<string, Promise<GithubApi>>();

  constructor(
    private readonly deps: LockDeps,
    private readonly edges: GithubLockEdges = {},
  ) {
    this.env = edges.env ?? process.env;
    this.random = edges.random ?? Math.random;
  }

  async acquire({ timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<Acquired> {
    if (this.deps.key.includes('..') || /(\.lock|\.)$/.test(this.deps.key)) {
      throw new UserError(`Input \`key\` is '${this.deps.key}', which cannot name a git ref for \`lock: github\`: avoid '..' and a trailing '.' or '.lock'.`);
    }
    const api = await this.api(this.deps.ctx.apiUrl);
    const waiter = new Waiter(this.deps, new RefQueue(this.deps, api, this.env), api, this.random, this.leaseSeconds());
    return waiter.run(timeoutMs, signal);
  }

  release(handle: LockHandle): Promise<void> {
    return releaseTicket(handle, this.deps, () => this.api(this.deps.ctx.apiUrl));
  }

  /** CODEX_AUTH_LOCK_LEASE_SECONDS: how long a ticket may live without its post step (tests, and jobs longer than 6 h). */
  private leaseSeconds(): number {
    return leaseMsFrom(this.env) / 1000;
  }

  private api(apiUrl: string): Promise<GithubApi> {
    let api = this.apis.get(apiUrl);
    if (!api) {
      const { clock, log, githubToken } = this.deps;
      api = createGithubApi({ apiUrl, token: githubToken, clock, log, fetch: this.edges.fetch, random: this.random });
      this.apis.set(apiUrl, api);
    }
    return api;
  }
}

/**
 * Deletes the caller's own ticket; a ticket already gone (404, or GitHub's 422) is fine. Post's release, and
 * GithubLock's (which passes its own client).
 */
export async function releaseTicket(handle: LockHandle, deps: ReleaseDeps, api?: () => Promise<GithubApi>): Promise<void> {
  if (handle.kind !== 'github') return;
  if (!handle.ref.startsWith(`refs/${REF_NAMESPACE}/`)) throw new Error(`Refusing to delete ${handle.ref}: not a codex-auth lock ticket`);
  const { ctx, clock, log, githubToken } = deps;
  // The API URL is the run's, never the handle's: a handle comes back through state, which post does not trust.
  const client = await (api ? api() : createGithubApi({ apiUrl: ctx.apiUrl, token: githubToken, clock, log }));
  const gone = await deleteRef(client, handle.repository, handle.ref, { deadline: clock.now() + RELEASE_TIMEOUT_MS });
  if (gone) log.info(`The lock ticket ${handle.ref} was already gone (another job took this one for dead).`);
}

/** When a call gives up, and what cancels it: a waiter's calls end with its `lock-timeout`. */
interface Call {
  deadline?: number;
  signal?: AbortSignal;
}

/** Returns true when the ref was already gone. */
async function deleteRef(api: GithubApi, repository: string, ref: string, call: Call): Promise<boolean> {
  const res = await api.request('DELETE', `${repoPath(repository)}/git/${ref}`, { accept: [404, 422], ...call });
  return res.status !== 204;
}

type RunState = { alive: true } | { alive: false; reason: string } | { alive: null };

/** The queue's refs in `lock-repository`: create, list, delete, and what the runs API says of an owner. */
class RefQueue {
  readonly prefix: string;
  private sha: string | null = null;
  private readonly noticed = new Set<string>();

  constructor(
    private readonly deps: LockDeps,
    private readonly api: GithubApi,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.prefix = `refs/${REF_NAMESPACE}/${deps.key}/`;
  }

  get repo(): string {
    return this.deps.lockRepository;
  }

  /** Creates `refs/…/<name>`; a 422 "already exists" is our own create retried after a lost answer. */
  async create(name: string, call: Call): Promise<string> {
    const ref = this.prefix + name;
    const sha = await this.anchor(call);
    const path = `${repoPath(this.repo)}/git/refs`;
    const res = await this.api.request<{ message?: string }>('POST', path, { body: { ref, sha }, accept: [401, 403, 404, 422], ...call });
    if (res.status === 201 || (res.status === 422 && /already exists/i.test(res.data?.message ?? ''))) return ref;
    if (res.status === 422 && this.sha === this.env.GITHUB_SHA && /object|sha/i.test(res.data?.message ?? '')) {
      this.sha = await this.headSha(call); // GITHUB_SHA is not in that repository after all
      return this.create(name, call);
    }
    throw this.createError(res.status, 'POST', path);
  }

  async list(call: Call): Promise<Ticket[]> {
    const res = await this.api.request<{ ref?: unknown }[]>('GET', `${repoPath(this.repo)}/git/matching-refs/${this.prefix.slice('refs/'.length, -1)}`, { conditional: true, ...call });
    const refs = Array.isArray(res.data) ? res.data : [];
    const tickets = refs.map((r) => (typeof r.ref === 'string' ? parseTicket(r.ref, this.prefix) : null)).filter((t): t is Ticket => t !== null);
    return tickets.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /** Whether a ref still exists: a conditional GET, free (304) for as long as it does. */
  async exists(ref: string, call: Call): Promise<boolean> {
    const res = await this.api.request('GET', `${repoPath(this.repo)}/git/${ref.replace(/^refs\//, 'ref/')}`, { conditional: true, accept: [404], ...call });
    return res.status !== 404;
  }

  /** Returns true when it was already gone. */
  remove(ref: string, call: Call): Promise<boolean> {
    return deleteRef(this.api, this.repo, ref, call);
  }

  /** What the runs API says of a ticket's run attempt; null when it cannot tell (then only the lease counts). */
  async runState(t: Ticket, call: Call): Promise<RunState> {
    if (!canAskAbout(t)) return { alive: null };
    const run = await runAttemptStatus(this.api, t, { unreadable: [403], ...call });
    if (run.state === 'running') return { alive: true };
    if (run.state === 'completed') return { alive: false, reason: `its run attempt completed${run.conclusion ? ` (${run.conclusion})` : ''}` };
    if (run.state === 'missing') {
      // A run we cannot see looks the same as one that is gone: ask whether the repository is visible at all.
      const repo = await this.api.request('GET', repoPath(t.repository), { conditional: true, accept: [403, 404], ...call });
      if (repo.status === 200) return { alive: false, reason: 'its run no longer exists' };
    }
    this.noticeOnce(t.repository, `Cannot read the workflow runs of ${t.repository} (HTTP ${run.state === 'missing' ? 404 : run.status}), so a holder there that died is only recognized when its lease runs out. Give the \`github-token\` \`actions: read\` on ${t.repository} for faster recovery.`);
    return { alive: null };
  }

  private noticeOnce(key: string, message: string): void {
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    this.deps.log.info(message);
  }

  /** A commit for tickets to point at: GITHUB_SHA when the lock lives in this repository, else the default branch head. */
  private async anchor(call: Call): Promise<string> {
    if (this.sha) return this.sha;
    const own = this.env.GITHUB_SHA ?? '';
    const sameRepo = this.repo.toLowerCase() === this.deps.ctx.repository.toLowerCase();
    this.sha = sameRepo && /^[0-9a-f]{40}$/.test(own) ? own : await this.headSha(call);
    return this.sha;
  }

  private async headSha(call: Call): Promise<string> {
    const path = `${repoPath(this.repo)}/commits?per_page=1`;
    const res = await this.api.request<{ sha?: unknown }[]>('GET', path, { accept: [401, 403, 404, 409], ...call });
    if (res.status === 409) throw new UserError(`\`lock-repository\` ${this.repo} has no commits, and lock refs must point at one. Push a commit to it, or point \`lock-repository\` at another repository.`);
    if (res.status !== 200) throw this.createError(res.status, 'GET', path);
    const sha = Array.isArray(res.data) ? res.data[0]?.sha : undefined;
    if (typeof sha !== 'string') throw new Error(`GET ${path}: no commit in the answer`);
    return sha;
  }

  private createError(status: number, method: string, path: string): Error {
    const where = `(${method} ${path}: HTTP ${status})`;
    if (status === 401) return new UserError(`\`lock: github\` could not use the \`github-token\` ${where}: it is empty, expired or not a token. Pass \`github-token: \${{ github.token }}\` (the default) or a valid token.`);
    if (status === 403 || status === 404) {
      return new UserError(
        `\`lock: github\` could not create its lock ref in ${this.repo} ${where}: the \`github-token\` needs write access to that repository's contents. Add to the job (or workflow):\n` +
          'permissions:\n  contents: write\n  actions: read\n' +
          `When \`lock-repository\` is another repository than this one, pass a \`github-token\` (a fine-grained personal access token or a GitHub App token) with Contents: read and write and Actions: read on ${this.repo}.`,
      );
    }
    return new GithubApiError(method, path, status, '');
  }
}

/**
 * A waiter's polling budget, a token bucket: BUDGET_PER_MINUTE charged requests a minute, bursts of
 * BUDGET_BURST. It is charged with what GitHub charged (a 304 costs nothing); queueing, listing a new ticket
 * and removing dead ones are not polls and are passed over.
 */
class PollBudget {
  private tokens = BUDGET_BURST;
  private tokensAt: number;
  private charged: number;

  constructor(
    private readonly api: GithubApi,
    now: number,
  ) {
    this.tokensAt = now;
    this.charged = api.stats.charged;
  }

  /** What GitHub charged since the last call is not a poll. */
  passOver(): void {
    this.charged = this.api.stats.charged;
  }

  /** Charges the budget with what GitHub charged since the last call. */
  spend(now: number): void {
    this.refill(now);
    this.tokens = Math.max(-1, this.tokens - (this.api.stats.charged - this.charged));
    this.charged = this.api.stats.charged;
  }

  /** How long the next poll must wait for a token (0 when one is there). */
  waitMs(now: number): number {
    return this.refill(now) >= 1 ? 0 : ((1 - this.tokens) * 60_000) / BUDGET_PER_MINUTE;
  }

  private refill(now: number): number {
    this.tokens = Math.min(BUDGET_BURST, this.tokens + ((now - this.tokensAt) * BUDGET_PER_MINUTE) / 60_000);
    this.tokensAt = now;
    return this.tokens;
  }
}

/** This job's ticket. `basis`: the tickets listed when it was named (empty for the first). */
interface OwnTicket {
  ref: string;
  createdAt: number;
  seen: boolean;
  settled: boolean;
  basis: Set<string>;
}

/** The ticket just ahead, which a waiter watches and checks. */
interface Ahead {
  ticket: Ticket;
  since: number;
  frontSince: number | null;
  checkAt: number;
}

/** Where a listing puts this job's ticket. */
type Place =
  | { kind: 'holding' }
  | { kind: 'waiting'; ahead: Ticket }
  /** just made, and not in listings yet */
  | { kind: 'not-listed-yet' }
  /** gone, or possibly named before a ticket that already holds: `own` is the ticket queued instead */
  | { kind: 'requeued'; own: OwnTicket };

/** One acquire: the ticket, what was seen of the queue, and when to poll. */
class Waiter {
  private own: OwnTicket | null = null;
  private ahead: Ahead | null = null;
  /** the place last listed, and the front ticket then (for messages) */
  private view = { position: 0, at: 0, front: '', frontSince: 0 };
  private holdEstimate = INITIAL_HOLD_MS;
  private announced = '';
  private readonly budget: PollBudget;
  private started = 0;
  private deadline = 0;
  private signal: AbortSignal | undefined;

  constructor(
    private readonly deps: LockDeps,
    private readonly queue: RefQueue,
    private readonly api: GithubApi,
    private readonly random: () => number,
    private readonly leaseSeconds: number,
  ) {
    this.budget = new PollBudget(api, deps.clock.now());
  }

  async run(timeoutMs: number, signal?: AbortSignal): Promise<Acquired> {
    const { clock } = this.deps;
    this.started = clock.now();
    this.deadline = this.started + timeoutMs;
    this.signal = signal;
    const requests = this.api.stats.requests;
    try {
      let own = await this.enqueue([]);
      for (;;) {
        signal?.throwIfAborted();
        const settling = !own.settled;
        const tickets = await this.queue.list(this.call);
        if (settling) this.budget.passOver();
        else this.budget.spend(clock.now());
        const place = await this.place(own, tickets);
        if (place.kind === 'holding') return this.acquired(own, requests);
        if (place.kind === 'requeued') own = place.own;
        if (clock.now() >= this.deadline) throw this.timeout(tickets);
        if (place.kind === 'requeued') continue;
        if (place.kind === 'not-listed-yet') await clock.sleep(Math.min(300, this.deadline - clock.now()), signal);
        else await this.watch(place.ahead, signal);
      }
    } catch (error) {
      await this.abandon();
      throw error;
    }
  }

  /** Every call made while waiting ends with the wait: at `lock-timeout`, or when the job is cancelled. */
  private get call(): Call {
    return { deadline: this.deadline, signal: this.signal };
  }

  /** Queues a ticket, named after the later of now and the last of `seen` (the listing, when queueing again). */
  private async enqueue(seen: Ticket[]): Promise<OwnTicket> {
    const now = this.deps.clock.now();
    const seq = Math.max(now, ...seen.map((t) => t.seq + 1));
    const { ctx } = this.deps;
    const name = ticketName(seq, randomBytes(4).toString('hex'), { repository: ctx.repository, runId: ctx.runId, runAttempt: ctx.runAttempt, job: ctx.job, runnerName: ctx.runnerName, leaseSeconds: this.leaseSeconds });
    const own: OwnTicket = { ref: this.queue.prefix + name, createdAt: now, seen: false, settled: false, basis: new Set(seen.map((t) => t.ref)) };
    this.own = own;
    try {
      await this.queue.create(name, this.call);
    } catch (error) {
      // A definite answer means no ticket was made; after a lost answer, one may exist and is removed.
      if (error instanceof UserError || error instanceof GithubApiError) this.own = null;
      throw error;
    } finally {
      this.budget.passOver();
    }
    return own;
  }

  private async requeue(own: OwnTicket, tickets: Ticket[]): Promise<OwnTicket> {
    await this.queue.remove(own.ref, this.call);
    this.own = null;
    this.budget.passOver();
    return this.enqueue(tickets.filter((t) => t.ref !== own.ref));
  }

  /**
   * Our place in the queue; queued again ('requeued') when our ticket is gone, or when it may have been
   * named before a ticket that already holds (see the comment at the top). A ticket after ours in its first listing is
   * harmless when a ticket of the listing ours was named from is still there: that one existed all along, so
   * no ticket named after it can have found itself first.
   */
  private async place(own: OwnTicket, tickets: Ticket[]): Promise<Place> {
    const now = this.deps.clock.now();
    const index = tickets.findIndex((t) => t.ref === own.ref);
    if (index < 0) {
      if (!own.seen && now - own.createdAt < VISIBLE_WITHIN_MS) return { kind: 'not-listed-yet' };
      this.deps.log.warning(`This job's lock ticket ${own.ref} is gone (another job took this run for dead?); queueing again.`);
      return { kind: 'requeued', own: await this.requeue(own, tickets) };
    }
    own.seen = true;
    if (!own.settled && index < tickets.length - 1 && !tickets.some((t) => own.basis.has(t.ref))) {
      this.deps.log.debug(`Ticket ${own.ref} was named before ${tickets.length - 1 - index} ticket(s) made before it; queueing again after them.`);
      return { kind: 'requeued', own: await this.requeue(own, tickets) };
    }
    own.settled = true;
    this.observe(tickets, index, now);
    const ahead = tickets[index - 1];
    return ahead ? { kind: 'waiting', ahead } : { kind: 'holding' };
  }

  /** Learns from each listing how fast the queue moves (it sets how often we poll), and who holds. */
  private observe(tickets: Ticket[], position: number, now: number): void {
    const { view } = this;
    if (view.at && position < view.position) {
      const sample = (now - view.at) / (view.position - position);
      this.holdEstimate = clamp((this.holdEstimate + sample) / 2, 200, MAX_POLL_MS);
    }
    const front = tickets[0] as Ticket;
    this.view = { position, at: now, front: front.ref, frontSince: view.front === front.ref ? view.frontSince : now };
    if (position > 0 && this.announced !== front.ref) {
      this.announced = front.ref;
      this.deps.log.info(`Waiting for the lock \`${this.deps.key}\` in ${this.queue.repo}: held by ${describe(front, this.deps)}; ${position - 1} more ahead of this job.`);
    }
  }

  /** Where we are likely to be by now: listings are rare, so the place is estimated from the queue's pace. */
  private estimatedPosition(now: number): number {
    return Math.max(1, this.view.position - (now - this.view.at) / this.holdEstimate);
  }

  /**
   * Waits for the ticket just ahead to go, polling that one ref: a conditional GET, free while it stays, so
   * that a long queue or others coming and going cost nothing. Checks that ticket's lease and run on the
   * way (the one just behind the holder is thus the one that finds a dead holder). Returns to list again
   * when it is gone or removed, and now and then.
   */
  private async watch(ahead: Ticket, signal?: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const watched = this.ahead?.ticket.ref === ahead.ref ? this.ahead : { ticket: ahead, since: clock.now(), frontSince: null, checkAt: 0 };
    this.ahead = watched;
    const relistAt = clock.now() + STALLED_MS;
    for (;;) {
      if (await this.removeIfDead(watched)) return;
      await clock.sleep(this.delay(), signal);
      const now = clock.now();
      if (now >= this.deadline || now >= relistAt) return;
      const exists = await this.queue.exists(ahead.ref, this.call);
      this.budget.spend(clock.now());
      if (!exists) return;
    }
  }

  /**
   * Removes the ticket ahead when its lease ran out or its run attempt is over. Its run is asked about every
   * few seconds once it is probably the holder (the longer it holds, the less often), else every 2 minutes.
   */
  private async removeIfDead(ahead: Ahead): Promise<boolean> {
    const { ticket } = ahead;
    const now = this.deps.clock.now();
    let reason = ticket.leaseUntil <= now ? `its lease ran out at ${new Date(ticket.leaseUntil).toISOString()}` : '';
    if (!reason) {
      const holding = this.view.position === 1 || this.estimatedPosition(now) <= 1;
      if (holding && ahead.frontSince === null) {
        ahead.frontSince = this.view.position === 1 ? this.view.frontSince : now;
        ahead.checkAt = Math.min(ahead.checkAt || Infinity, ahead.frontSince + FIRST_RUN_CHECK_MS);
      }
      if (!ahead.checkAt) ahead.checkAt = ahead.since + STALLED_MS;
      if (now < ahead.checkAt) return false;
      const state = await this.queue.runState(ticket, this.call);
      this.budget.spend(this.deps.clock.now());
      ahead.checkAt = now + (ahead.frontSince === null ? STALLED_MS : clamp((now - ahead.frontSince) / 3, RUN_CHECK_MIN_MS, RUN_CHECK_MAX_MS));
      if (state.alive !== false) return false;
      reason = state.reason;
    }
    const gone = await this.queue.remove(ticket.ref, this.call);
    this.budget.passOver();
    if (!gone) this.deps.log.info(`Removed the lock ticket of ${describe(ticket, this.deps)}: ${reason}.`);
    return true;
  }

  /** Near the front, each second; further back, about a quarter of the expected wait; within the budget. */
  private delay(): number {
    const now = this.deps.clock.now();
    const position = this.estimatedPosition(now);
    const base = position <= 2 ? HEAD_POLL_MS : clamp(0.25 * (position - 1) * this.holdEstimate, MIN_POLL_MS, MAX_POLL_MS);
    const jittered = base * (0.75 + 0.5 * this.random());
    const wait = Math.max(jittered, this.budget.waitMs(now), this.api.pace());
    return Math.max(1, Math.min(wait, this.deadline - now));
  }

  private acquired(own: OwnTicket, requestsBefore: number): Acquired {
    const waitedMs = this.deps.clock.now() - this.started;
    const { requests } = this.api.stats;
    this.deps.log.info(`Acquired the lock \`${this.deps.key}\` in ${this.queue.repo} after ${(waitedMs / 1000).toFixed(1)} s (${requests - requestsBefore} API requests): ${own.ref}.`);
    return { handle: { kind: 'github', repository: this.queue.repo, ref: own.ref }, waitedMs };
  }

  private timeout(tickets: Ticket[]): UserError {
    const holder = tickets[0];
    const now = this.deps.clock.now();
    const waited = Math.round((now - this.started) / 1000);
    const own = tickets.findIndex((t) => t.ref === this.own?.ref);
    const heldFor = holder && this.view.front === holder.ref ? Math.round((now - this.view.frontSince) / 1000) : 0;
    const queuedFor = holder ? Math.max(0, Math.round((now - holder.seq) / 1000)) : 0;
    const how = heldFor > 0 ? `has held it for at least ${heldFor} s and queued ${queuedFor} s ago` : `queued ${queuedFor} s ago`;
    const who = holder ? `${describe(holder, this.deps)}, which ${how}` : 'another job';
    const remove = holder ? ` If you know that run is gone, delete its ref: \`gh api -X DELETE repos/${this.queue.repo}/git/${holder.ref}\`.` : '';
    return new UserError(
      `Timed out after ${waited} s waiting for the lock \`${this.deps.key}\` in ${this.queue.repo}, held by ${who}${own > 1 ? ` (${own - 1} more ahead of this job)` : ''}. Wait for that run to finish, or raise \`lock-timeout\`.${remove}`,
    );
  }

  /** After a failure or a timeout: our ticket must not block the queue. */
  private async abandon(): Promise<void> {
    const own = this.own;
    this.own = null;
    if (!own) return;
    // Not cut short by a cancel or the timeout that got us here: a ticket left behind blocks the queue.
    await this.queue.remove(own.ref, { deadline: this.deps.clock.now() + RELEASE_TIMEOUT_MS }).catch((error: unknown) => {
      this.deps.log.warning(`Could not remove this job's lock ticket ${own.ref} (${error instanceof Error ? error.message : String(error)}); it is removed when this run completes.`);
    });
  }
}

function describe(t: Ticket, deps: LockDeps): string {
  const run = t.repository && t.runId ? runUrl(deps.ctx, t.repository, t.runId) : 'an unknown run';
  const job = t.job ? `job '${t.job}' of ` : '';
  const runner = t.runnerName ? ` on runner '${t.runnerName}'` : '';
  return `${job}${run} (attempt ${t.runAttempt})${runner}, queued at ${new Date(t.seq).toISOString()}`;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
