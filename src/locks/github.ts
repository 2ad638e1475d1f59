import { randomBytes } from 'node:crypto';
import { runUrl } from '../context.js';
import { UserError } from '../errors.js';
import { createGithubApi, GithubApiError, repoPath, type FetchLike, type GithubApi } from '../github.js';
import { LEASE_MS, type Acquired, type Lock, type LockDeps, type LockHandle } from './lock.js';

/**
 * `lock: github` (DESIGN §4): a FIFO queue of refs `refs/codex-auth-locks/<key>/<ticket>` in
 * `lock-repository`, made with the git refs API, whose create is atomic (422 when the name exists).
 *
 * A ticket's name is `<seq>-<nonce>.<owner>`: `seq` is the arrival time in ms (13 digits), so names sort in
 * arrival order; `nonce` is 8 random hex digits; `owner` is base64url JSON `{r, i, a, j, n, l}` — repository,
 * run id, run attempt, job, runner name and lease in seconds. Everything a waiter needs (order, the run to
 * ask about, the lease) is in the listing itself, so waiting costs one conditional GET a poll. Every
 * ticket points at an existing commit (the workflow's GITHUB_SHA when the lock lives in this repository,
 * else the default branch's head), which it keeps reachable and nothing else.
 *
 * The first live ticket holds the lock. Names are chosen by clients, so a slow clock or a slow request can
 * put a new ticket before one that already holds: a ticket therefore counts only once the first listing
 * that shows it shows nothing after it; otherwise it is queued again after the last one seen. (If a holder
 * Y sorted after our x, Y's listing did not show x, so x was made after it — and Y, still holding, is in
 * our first listing after x.) A waiter removes the front ticket when its lease ran out or the runs API says
 * its run attempt completed or is gone, and logs whose it was.
 *
 * Cost: only the next in line polls often (each second); the others poll at a pace set by how fast the
 * queue moves, at most 6 charged requests a minute; a poll is a conditional GET, which GitHub does not
 * charge when it answers 304. Uncontended acquire + release: 3 requests (4 when the lock lives in another
 * repository: one more to find a commit).
 */

export const REF_NAMESPACE = 'codex-auth-locks';

/** How often the next in line polls, and the bounds for everyone else. */
const HEAD_POLL_MS = 1000;
const MIN_POLL_MS = 1000;
const MAX_POLL_MS = 30_000;
/** Until the queue has been seen to move, a hold is assumed to take this long. */
const INITIAL_HOLD_MS = 5000;
/** Charged requests a waiter may spend: a sustained rate, and a burst. */
const BUDGET_PER_MINUTE = 6;
const BUDGET_BURST = 4;
/** The next in line first asks about the holder's run after this, then every third of its hold (bounded). */
const FIRST_RUN_CHECK_MS = 3000;
const RUN_CHECK_MIN_MS = 3000;
const RUN_CHECK_MAX_MS = 60_000;
/** Further back, the holder's run is checked only when the queue has not moved for this long. */
const STALLED_MS = 120_000;
/** A ticket just made may take a moment to show in listings. */
const VISIBLE_WITHIN_MS = 10_000;
const REQUEUED = -1;
const NOT_LISTED_YET = -2;
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
    const api = await this.api(this.deps.ctx.apiUrl);
    const waiter = new Waiter(this.deps, new RefQueue(this.deps, api, this.env), api, this.random, this.leaseSeconds());
    return waiter.run(timeoutMs, signal);
  }

  /** Deletes the caller's own ticket; a ticket already gone (404, or GitHub's 422) is fine. */
  async release(handle: LockHandle): Promise<void> {
    if (handle.kind !== 'github') return;
    if (!handle.ref.startsWith(`refs/${REF_NAMESPACE}/`)) throw new Error(`Refusing to delete ${handle.ref}: not a codex-auth lock ticket`);
    const api = await this.api(handle.apiUrl);
    const gone = await deleteRef(api, handle.repository, handle.ref);
    if (gone) this.deps.log.info(`The lock ticket ${handle.ref} was already gone (another job took this one for dead).`);
  }

  /** CODEX_AUTH_LOCK_LEASE_SECONDS: how long a ticket may live without its post step (tests, and jobs longer than 6 h). */
  private leaseSeconds(): number {
    const raw = this.env.CODEX_AUTH_LOCK_LEASE_SECONDS;
    if (raw === undefined || raw === '') return LEASE_MS / 1000;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new UserError(`CODEX_AUTH_LOCK_LEASE_SECONDS is '${raw}': expected a whole number of seconds, at least 1.`);
    return Number(raw);
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

/** Returns true when the ref was already gone. */
async function deleteRef(api: GithubApi, repository: string, ref: string): Promise<boolean> {
  const res = await api.request('DELETE', `${repoPath(repository)}/git/${ref}`, { accept: [404, 422] });
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
  async create(name: string, deadline: number): Promise<string> {
    const ref = this.prefix + name;
    const sha = await this.anchor(deadline);
    const path = `${repoPath(this.repo)}/git/refs`;
    const res = await this.api.request<{ message?: string }>('POST', path, { body: { ref, sha }, accept: [401, 403, 404, 422], deadline });
    if (res.status === 201 || (res.status === 422 && /already exists/i.test(res.data?.message ?? ''))) return ref;
    if (res.status === 422 && this.sha === this.env.GITHUB_SHA && /object|sha/i.test(res.data?.message ?? '')) {
      this.sha = await this.headSha(deadline); // GITHUB_SHA is not in that repository after all
      return this.create(name, deadline);
    }
    throw this.createError(res.status, 'POST', path);
  }

  async list(): Promise<Ticket[]> {
    const res = await this.api.request<{ ref?: unknown }[]>('GET', `${repoPath(this.repo)}/git/matching-refs/${this.prefix.slice('refs/'.length, -1)}`, { conditional: true });
    const refs = Array.isArray(res.data) ? res.data : [];
    const tickets = refs.map((r) => (typeof r.ref === 'string' ? parseTicket(r.ref, this.prefix) : null)).filter((t): t is Ticket => t !== null);
    return tickets.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /** Returns true when it was already gone. */
  remove(ref: string): Promise<boolean> {
    return deleteRef(this.api, this.repo, ref);
  }

  /** What the runs API says of a ticket's run attempt; null when it cannot tell (then only the lease counts). */
  async runState(t: Ticket): Promise<RunState> {
    if (!/^[\w.-]+\/[\w.-]+$/.test(t.repository) || !/^\d+$/.test(t.runId) || !/^\d+$/.test(t.runAttempt)) return { alive: null };
    const run = await this.api.request<{ status?: string; conclusion?: string | null }>('GET', `${repoPath(t.repository)}/actions/runs/${t.runId}/attempts/${t.runAttempt}`, { conditional: true, accept: [403, 404] });
    if (run.status === 200) {
      if (run.data?.status !== 'completed') return { alive: true };
      return { alive: false, reason: `its run attempt completed${run.data.conclusion ? ` (${run.data.conclusion})` : ''}` };
    }
    if (run.status === 404) {
      // A run we cannot see looks the same as one that is gone: ask whether the repository is visible at all.
      const repo = await this.api.request('GET', repoPath(t.repository), { conditional: true, accept: [403, 404] });
      if (repo.status === 200) return { alive: false, reason: 'its run no longer exists' };
    }
    this.noticeOnce(t.repository, `Cannot read the workflow runs of ${t.repository} (HTTP ${run.status}), so a holder there that died is only recognized when its lease runs out. Give the \`github-token\` \`actions: read\` on ${t.repository} for faster recovery.`);
    return { alive: null };
  }

  private noticeOnce(key: string, message: string): void {
    if (this.noticed.has(key)) return;
    this.noticed.add(key);
    this.deps.log.info(message);
  }

  /** A commit for tickets to point at: GITHUB_SHA when the lock lives in this repository, else the default branch head. */
  private async anchor(deadline: number): Promise<string> {
    if (this.sha) return this.sha;
    const own = this.env.GITHUB_SHA ?? '';
    const sameRepo = this.repo.toLowerCase() === this.deps.ctx.repository.toLowerCase();
    this.sha = sameRepo && /^[0-9a-f]{40}$/.test(own) ? own : await this.headSha(deadline);
    return this.sha;
  }

  private async headSha(deadline: number): Promise<string> {
    const path = `${repoPath(this.repo)}/commits?per_page=1`;
    const res = await this.api.request<{ sha?: unknown }[]>('GET', path, { accept: [401, 403, 404, 409], deadline });
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

/** One acquire: the ticket, what was seen of the queue, and the polling policy. */
class Waiter {
  private own: { ref: string; createdAt: number; seen: boolean; settled: boolean } | null = null;
  private front: { ref: string; since: number } | null = null;
  private ahead = new Set<string>();
  private holdEstimate = INITIAL_HOLD_MS;
  private readonly runCheckAt = new Map<string, number>();
  private announced = '';
  private tokens = BUDGET_BURST;
  private tokensAt: number;
  private charged: number;
  private started = 0;
  private deadline = 0;

  constructor(
    private readonly deps: LockDeps,
    private readonly queue: RefQueue,
    private readonly api: GithubApi,
    private readonly random: () => number,
    private readonly leaseSeconds: number,
  ) {
    this.tokensAt = deps.clock.now();
    this.charged = api.stats.charged;
  }

  async run(timeoutMs: number, signal?: AbortSignal): Promise<Acquired> {
    const { clock } = this.deps;
    this.started = clock.now();
    this.deadline = this.started + timeoutMs;
    const requests = this.api.stats.requests;
    try {
      await this.enqueue(0);
      for (;;) {
        signal?.throwIfAborted();
        const tickets = await this.queue.list();
        this.spend();
        const position = await this.place(tickets);
        if (position === 0) return this.acquired(requests);
        if (position > 0 && (await this.removeDeadFront(tickets, position))) continue;
        if (clock.now() >= this.deadline) throw this.timeout(tickets, position);
        if (position === REQUEUED) continue;
        await clock.sleep(position === NOT_LISTED_YET ? Math.min(300, this.deadline - clock.now()) : this.delay(position), signal);
      }
    } catch (error) {
      await this.abandon();
      throw error;
    }
  }

  /** Queues a ticket: named after the later of now and `after` (the last ticket seen, when queueing again). */
  private async enqueue(after: number): Promise<void> {
    const now = this.deps.clock.now();
    const seq = Math.max(now, after + 1);
    const { ctx } = this.deps;
    const name = ticketName(seq, randomBytes(4).toString('hex'), { repository: ctx.repository, runId: ctx.runId, runAttempt: ctx.runAttempt, job: ctx.job, runnerName: ctx.runnerName, leaseSeconds: this.leaseSeconds });
    this.own = { ref: this.queue.prefix + name, createdAt: now, seen: false, settled: false };
    try {
      await this.queue.create(name, this.deadline);
    } catch (error) {
      // A definite answer means no ticket was made; after a lost answer, one may exist and is removed.
      if (error instanceof UserError || error instanceof GithubApiError) this.own = null;
      throw error;
    } finally {
      this.uncharged();
    }
  }

  private async requeue(tickets: Ticket[]): Promise<void> {
    if (this.own) await this.queue.remove(this.own.ref);
    this.own = null;
    this.uncharged();
    await this.enqueue(Math.max(0, ...tickets.map((t) => t.seq)));
  }

  /**
   * Our place in the queue (0 = holding); NOT_LISTED_YET when a new ticket does not show yet; REQUEUED when
   * it is gone, or when its first listing shows a ticket after it (see the comment at the top).
   */
  private async place(tickets: Ticket[]): Promise<number> {
    const own = this.own as NonNullable<Waiter['own']>;
    const now = this.deps.clock.now();
    const index = tickets.findIndex((t) => t.ref === own.ref);
    if (index < 0) {
      if (!own.seen && now - own.createdAt < VISIBLE_WITHIN_MS) return NOT_LISTED_YET;
      this.deps.log.warning(`This job's lock ticket ${own.ref} is gone (another job took this run for dead?); queueing again.`);
      await this.requeue(tickets);
      return REQUEUED;
    }
    own.seen = true;
    if (!own.settled && index < tickets.length - 1) {
      this.deps.log.debug(`Ticket ${own.ref} was named before ${tickets.length - 1 - index} ticket(s) made earlier; queueing again after them.`);
      await this.requeue(tickets);
      return REQUEUED;
    }
    own.settled = true;
    this.observe(tickets.slice(0, index), now);
    return index;
  }

  /** Follows the front of the queue: how fast it moves sets how often the others poll. */
  private observe(ahead: Ticket[], now: number): void {
    const first = ahead[0];
    if (!first) return;
    const left = [...this.ahead].filter((ref) => !ahead.some((t) => t.ref === ref)).length;
    if (this.front && this.front.ref !== first.ref && left > 0) {
      const sample = (now - this.front.since) / left;
      this.holdEstimate = Math.max(200, (this.holdEstimate + sample) / 2);
    }
    if (!this.front || this.front.ref !== first.ref) {
      this.front = { ref: first.ref, since: now };
      this.announce(first, ahead.length);
    } else {
      this.holdEstimate = Math.max(this.holdEstimate, now - this.front.since);
    }
    this.ahead = new Set(ahead.map((t) => t.ref));
  }

  private announce(holder: Ticket, ahead: number): void {
    if (this.announced === holder.ref) return;
    this.announced = holder.ref;
    this.deps.log.info(`Waiting for the lock \`${this.deps.key}\` in ${this.queue.repo}: held by ${describe(holder, this.deps)}; ${ahead - 1} more ahead of this job.`);
  }

  /** The front ticket is removed when its lease ran out, or (checked at a measured pace) its run is over. */
  private async removeDeadFront(tickets: Ticket[], position: number): Promise<boolean> {
    const front = tickets[0] as Ticket;
    const now = this.deps.clock.now();
    let reason = front.leaseUntil <= now ? `its lease ran out at ${new Date(front.leaseUntil).toISOString()}` : '';
    if (!reason && this.runCheckDue(front, position, now)) {
      const state = await this.queue.runState(front);
      this.spend();
      const heldFor = now - (this.front?.since ?? now);
      this.runCheckAt.set(front.ref, now + clamp(heldFor / 3, RUN_CHECK_MIN_MS, RUN_CHECK_MAX_MS));
      if (state.alive === false) reason = state.reason;
    }
    if (!reason) return false;
    const gone = await this.queue.remove(front.ref);
    this.uncharged();
    if (!gone) this.deps.log.info(`Removed the lock ticket of ${describe(front, this.deps)}: ${reason}.`);
    return true;
  }

  private runCheckDue(front: Ticket, position: number, now: number): boolean {
    const since = this.front?.since ?? now;
    if (position > 1 && now - since < STALLED_MS) return false;
    if (!this.runCheckAt.has(front.ref)) this.runCheckAt.set(front.ref, since + (position > 1 ? STALLED_MS : FIRST_RUN_CHECK_MS));
    return now >= (this.runCheckAt.get(front.ref) as number) && this.tokens >= 1;
  }

  /** The next in line polls each second; the others at half their expected wait; all within the budget. */
  private delay(position: number): number {
    const now = this.deps.clock.now();
    const base = position <= 1 ? HEAD_POLL_MS : clamp(0.5 * (position - 1) * this.holdEstimate, MIN_POLL_MS, MAX_POLL_MS);
    const jittered = base * (0.75 + 0.5 * this.random());
    const budget = this.refill(now) >= 1 ? 0 : ((1 - this.tokens) * 60_000) / BUDGET_PER_MINUTE;
    const wait = Math.max(jittered, budget, this.api.pace());
    return Math.max(1, Math.min(wait, this.deadline - now));
  }

  /** Queueing and removing dead tickets are not polls: they do not count against the polling budget. */
  private uncharged(): void {
    this.charged = this.api.stats.charged;
  }

  /** Charges the polling budget with what GitHub charged since the last call (a 304 costs nothing). */
  private spend(): void {
    this.refill(this.deps.clock.now());
    this.tokens -= this.api.stats.charged - this.charged;
    this.charged = this.api.stats.charged;
  }

  private refill(now: number): number {
    this.tokens = Math.min(BUDGET_BURST, this.tokens + ((now - this.tokensAt) * BUDGET_PER_MINUTE) / 60_000);
    this.tokensAt = now;
    return this.tokens;
  }

  private acquired(requestsBefore: number): Acquired {
    const own = this.own as NonNullable<Waiter['own']>;
    const waitedMs = this.deps.clock.now() - this.started;
    const { requests } = this.api.stats;
    this.deps.log.info(`Acquired the lock \`${this.deps.key}\` in ${this.queue.repo} after ${(waitedMs / 1000).toFixed(1)} s (${requests - requestsBefore} API requests): ${own.ref}.`);
    return { handle: { kind: 'github', repository: this.queue.repo, ref: own.ref, apiUrl: this.deps.ctx.apiUrl }, waitedMs };
  }

  private timeout(tickets: Ticket[], position: number): UserError {
    const holder = tickets[0];
    const waited = Math.round((this.deps.clock.now() - this.started) / 1000);
    const heldFor = this.front ? Math.round((this.deps.clock.now() - this.front.since) / 1000) : 0;
    const who = holder ? `${describe(holder, this.deps)}, which has held it for at least ${heldFor} s` : 'another job';
    const remove = holder ? ` If you know that run is gone, delete its ref: \`gh api -X DELETE repos/${this.queue.repo}/git/${holder.ref}\`.` : '';
    return new UserError(
      `Timed out after ${waited} s waiting for the lock \`${this.deps.key}\` in ${this.queue.repo}, held by ${who}${position > 1 ? ` (${position - 1} more ahead of this job)` : ''}. Wait for that run to finish, or raise \`lock-timeout\`.${remove}`,
    );
  }

  /** After a failure or a timeout: our ticket must not block the queue. */
  private async abandon(): Promise<void> {
    const own = this.own;
    this.own = null;
    if (!own) return;
    await this.queue.remove(own.ref).catch((error: unknown) => {
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
