import type { Clock, Log } from './log.js';

/**
 * A small GitHub REST client on `fetch`, for the github lock, the file lock's runs check, the github-secret
 * store and the cache store's pruning.
 *
 * Why not octokit: bundled, `@actions/github`'s octokit adds about 540 kB and ~45 ms to a step's start
 * (measured against a plain `fetch`), and it treats a 304 as an error. The lock lives on conditional
 * requests (a 304 is not charged to the rate limit), so this client keeps each GET's ETag and body, and
 * counts what it spends, so the figures it reports are what GitHub charged.
 *
 * Retries: network errors and 5xx with exponential backoff and jitter; 429 and rate-limit 403s after
 * `retry-after`, or until `x-ratelimit-reset` when `x-ratelimit-remaining` is 0 (secondary limits without
 * either: one minute, as GitHub asks). No retry is ever slept past the call's deadline: the caller's
 * `deadline`, else DEFAULT_DEADLINE_MS from the call's start. A rate limit that resets after it fails at
 * once (RateLimitError, naming the reset time) instead of sleeping until then, which could be an hour.
 */

export interface GithubResponse<T> {
  status: number;
  /** parsed JSON; on a 304 the body cached with the ETag; null for an empty body */
  data: T;
  /** answered 304 from the ETag cache: not charged to the rate limit */
  notModified: boolean;
}

export interface RateLimit {
  limit: number;
  remaining: number;
  /** ms since the epoch */
  resetAt: number;
}

export interface RequestOptions {
  body?: unknown;
  /** GET only: send If-None-Match with the last ETag, and return the cached body on 304 */
  conditional?: boolean;
  /** statuses returned to the caller instead of thrown (e.g. 404 and 422 where they carry meaning) */
  accept?: number[];
  /**
   * when the call gives up (ms since the epoch): no retry sleeps past it, and an attempt is cut at it (but
   * gets MIN_ATTEMPT_MS at least). Default: DEFAULT_DEADLINE_MS from the call's start.
   */
  deadline?: number;
  signal?: AbortSignal;
}

/** An HTTP error: names method, path and status; GitHub's `message` is kept for callers, not shown. */
export class GithubApiError extends Error {
  override name = 'GithubApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    /** GitHub's `message` field (e.g. `Reference already exists`): for decisions, never for logs */
    readonly apiMessage: string,
    readonly rateLimited = false,
  ) {
    super(`${method} ${path}: HTTP ${status}${rateLimited ? ' (rate limited)' : ''}`);
  }
}

/**
 * GitHub's rate limit answered, and it resets after the call's deadline: waiting would outlast what the
 * caller allowed (`lock-timeout`, or the call's own deadline), so the call fails at once.
 */
export class RateLimitError extends GithubApiError {
  override name = 'RateLimitError';
  constructor(
    method: string,
    path: string,
    status: number,
    apiMessage: string,
    /** when GitHub says it may be asked again (ms since the epoch) */
    readonly resetAt: number,
    deadline: number,
  ) {
    super(method, path, status, apiMessage, true);
    this.message = `${method} ${path}: HTTP ${status} (rate limited until ${new Date(resetAt).toISOString()}, after this call's deadline ${new Date(deadline).toISOString()}). Wait until then, or give the step a token with its own rate limit (a GitHub App token has more requests an hour than \`github.token\`).`;
  }
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface GithubApiOptions {
  apiUrl: string;
  token: string;
  clock: Clock;
  log: Log;
  /** default: global fetch, or undici's through the runner's proxy when HTTPS_PROXY applies */
  fetch?: FetchLike;
  random?: () => number;
  /** attempts for network errors and 5xx; default 4 */
  attempts?: number;
  /** one attempt's time limit; default 30 s */
  attemptTimeoutMs?: number;
}

interface Cached {
  etag: string;
  data: unknown;
}

const SECONDARY_LIMIT_WAIT_MS = 60_000;
const MAX_RATE_WAITS = 3;
/**
 * A call without a deadline of its own gives up after this long, retries and rate-limit waits included:
 * long enough for a secondary rate limit's minute (twice), far shorter than a primary limit's hour.
 */
export const DEFAULT_DEADLINE_MS = 5 * 60_000;
/** An attempt cut by the deadline still gets this long, so a call started just before it can finish. */
const MIN_ATTEMPT_MS = 5_000;

export class GithubApi {
  /** what this client sent: all requests, those GitHub charged (not 304), and 304s */
  readonly stats = { requests: 0, charged: 0, notModified: 0 };
  rate: RateLimit | null = null;
  private readonly cache = new Map<string, Cached>();
  private readonly base: string;
  private readonly fetch: FetchLike;
  private readonly random: () => number;

  constructor(private readonly options: GithubApiOptions & { fetch: FetchLike }) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.fetch = options.fetch;
    this.random = options.random ?? Math.random;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<GithubResponse<T>> {
    const { clock } = this.options;
    const maxAttempts = this.options.attempts ?? 4;
    const deadline = options.deadline ?? clock.now() + DEFAULT_DEADLINE_MS;
    let failures = 0;
    let rateWaits = 0;
    for (;;) {
      let response: Response;
      try {
        response = await this.send(method, path, options, deadline);
      } catch (error) {
        if (options.signal?.aborted) throw error;
        failures++;
        const wait = this.backoff(failures);
        if (failures >= maxAttempts || !this.fits(wait, deadline)) throw new Error(`${method} ${path} failed`, { cause: error });
        this.options.log.debug(`${method} ${path}: ${errorText(error)}; retrying in ${Math.round(wait)} ms`);
        await clock.sleep(wait, options.signal);
        continue;
      }
      this.noteRate(response.headers);
      const { status } = response;
      if (status === 304) return this.fromCache<T>(method, path);
      this.stats.charged++;
      const text = await response.text();
      const data = parseJson(text);
      if (status >= 200 && status < 300) {
        const etag = response.headers.get('etag');
        if (method === 'GET' && options.conditional && etag) this.cache.set(path, { etag, data });
        return { status, data: data as T, notModified: false };
      }
      const apiMessage = messageOf(data);
      const limited = this.rateLimitWait(status, response.headers, apiMessage, rateWaits);
      if (limited !== null) {
        rateWaits++;
        const rateWait = limited.waitMs;
        if (!this.fits(rateWait, deadline)) throw new RateLimitError(method, path, status, apiMessage, limited.resetAt, deadline);
        if (rateWaits > MAX_RATE_WAITS) throw new GithubApiError(method, path, status, apiMessage, true);
        this.options.log.info(`GitHub's API rate limit answered ${method} ${path} with HTTP ${status}; waiting ${Math.ceil(rateWait / 1000)} s as it asks.`);
        await clock.sleep(rateWait, options.signal);
        continue;
      }
      if (options.accept?.includes(status)) return { status, data: data as T, notModified: false };
      if (status >= 500 && ++failures < maxAttempts) {
        const wait = this.backoff(failures);
        if (this.fits(wait, deadline)) {
          this.options.log.debug(`${method} ${path}: HTTP ${status}; retrying in ${Math.round(wait)} ms`);
          await clock.sleep(wait, options.signal);
          continue;
        }
      }
      throw new GithubApiError(method, path, status, apiMessage);
    }
  }

  /**
   * How long to wait before the next optional request (a poll) so that what is left of the rate limit
   * lasts until it resets: 0 while more than a tenth is left.
   */
  pace(): number {
    const rate = this.rate;
    if (!rate || rate.limit <= 0 || rate.remaining > rate.limit / 10) return 0;
    const untilReset = Math.max(0, rate.resetAt - this.options.clock.now());
    return rate.remaining <= 0 ? untilReset + 1000 : untilReset / rate.remaining;
  }

  private async send(method: string, path: string, options: RequestOptions, deadline: number): Promise<Response> {
    const headers: Record<string, string> = {
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'codex-auth',
    };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    const cached = options.conditional && method === 'GET' ? this.cache.get(path) : undefined;
    if (cached) headers['if-none-match'] = cached.etag;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    this.stats.requests++;
    const left = Math.max(MIN_ATTEMPT_MS, Math.ceil(deadline - this.options.clock.now()));
    const limit = AbortSignal.timeout(Math.min(this.options.attemptTimeoutMs ?? 30_000, left));
    const signal = options.signal ? AbortSignal.any([options.signal, limit]) : limit;
    return this.fetch(`${this.base}${path}`, { method, headers, body, signal });
  }

  private fromCache<T>(method: string, path: string): GithubResponse<T> {
    const cached = this.cache.get(path);
    if (!cached) throw new GithubApiError(method, path, 304, 'Not Modified without a cached copy');
    this.stats.notModified++;
    return { status: 200, data: cached.data as T, notModified: true };
  }

  private noteRate(headers: Headers): void {
    const limit = Number(headers.get('x-ratelimit-limit'));
    const remaining = Number(headers.get('x-ratelimit-remaining'));
    const reset = Number(headers.get('x-ratelimit-reset'));
    if (headers.has('x-ratelimit-remaining') && Number.isFinite(remaining) && Number.isFinite(reset)) {
      this.rate = { limit: Number.isFinite(limit) ? limit : 0, remaining, resetAt: reset * 1000 };
    }
  }

  /**
   * null when the response is not a rate limit; else how long to wait before trying again (with jitter),
   * and when GitHub says the limit lifts (ms since the epoch).
   */
  private rateLimitWait(status: number, headers: Headers, apiMessage: string, waitsSoFar: number): { waitMs: number; resetAt: number } | null {
    if (status !== 429 && status !== 403) return null;
    const now = this.options.clock.now();
    const retryAfter = Number(headers.get('retry-after'));
    const jitter = 1000 * this.random();
    if (headers.has('retry-after') && Number.isFinite(retryAfter)) return { waitMs: retryAfter * 1000 + jitter, resetAt: now + retryAfter * 1000 };
    if (headers.get('x-ratelimit-remaining') === '0') {
      const reset = Number(headers.get('x-ratelimit-reset')) * 1000;
      if (Number.isFinite(reset)) return { waitMs: Math.max(0, reset - now) + 1000 + jitter, resetAt: Math.max(now, reset) };
    }
    if (status === 429 || /rate limit/i.test(apiMessage)) {
      const wait = SECONDARY_LIMIT_WAIT_MS * 2 ** waitsSoFar;
      return { waitMs: wait + jitter, resetAt: now + wait };
    }
    return null;
  }

  private backoff(failures: number): number {
    const base = Math.min(8000, 500 * 2 ** (failures - 1));
    return base * (0.5 + this.random());
  }

  private fits(waitMs: number, deadline: number): boolean {
    return this.options.clock.now() + waitMs < deadline;
  }
}

/** A client for `apiUrl`; on a runner behind a proxy (HTTPS_PROXY, NO_PROXY), requests go through it. */
export async function createGithubApi(options: GithubApiOptions): Promise<GithubApi> {
  const fetch = options.fetch ?? (await proxyFetch(options.apiUrl)) ?? ((url, init) => globalThis.fetch(url, init));
  return new GithubApi({ ...options, fetch });
}

/** fetch for `url`: through the runner's proxy when one applies (Node's own fetch ignores proxy variables). */
export async function fetchFor(url: string): Promise<FetchLike> {
  return (await proxyFetch(url)) ?? ((target, init) => globalThis.fetch(target, init));
}

/**
 * Node's fetch ignores proxy variables. Only when one is set (and NO_PROXY does not exempt the API) are
 * `@actions/http-client`'s proxy rules and undici's ProxyAgent loaded, as `@actions/github` does.
 */
async function proxyFetch(apiUrl: string): Promise<FetchLike | null> {
  const env = process.env;
  if (!(env.https_proxy || env.HTTPS_PROXY || env.http_proxy || env.HTTP_PROXY)) return null;
  const { HttpClient } = await import('@actions/http-client');
  const dispatcher = new HttpClient().getAgentDispatcher(apiUrl);
  if (!dispatcher) return null;
  const undici = await import('undici');
  return (url, init) => undici.fetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function messageOf(data: unknown): string {
  return data && typeof data === 'object' && typeof (data as { message?: unknown }).message === 'string' ? (data as { message: string }).message : '';
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}

/** `owner/repo` → `/repos/owner/repo`, each part encoded. */
export function repoPath(repository: string): string {
  const [owner = '', repo = ''] = repository.split('/');
  return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
}
