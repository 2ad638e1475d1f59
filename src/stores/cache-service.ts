import { UserError } from '../errors.js';
import { fetchFor } from '../github.js';
import type { Clock } from '../log.js';

/**
 * The Actions cache service (v2) as the cache store uses it: where it is (the runner's variables), and
 * its Twirp API, whose failures are failures (see stores/cache.ts on why the store does not rely on
 * `@actions/cache` to look entries up). Network errors, 5xx and 429 are retried; nothing a call returns
 * or fails with carries a body or a signed URL.
 */

const TWIRP_PATH = 'twirp/github.actions.results.api.v1.CacheService';
/** Our own lookups retry 5xx and network errors this often, waiting RETRY_MS, then twice that. */
const ATTEMPTS = 3;
const RETRY_MS = 2000;
export const TIMEOUT_MS = 30_000;

/** An entry the cache service matched: its key and a signed URL of its archive (a secret: never logged). */
export interface Entry {
  key: string;
  url: string;
}

export interface Service {
  url: string;
  token: string;
}

/** A failed call to the cache service: method, path and status, never a body. */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/** Where the cache service is for this step; a UserError saying why when it cannot be used. */
export function cacheService(env: NodeJS.ProcessEnv, serverUrl: string): Service {
  const host = new URL(serverUrl).hostname.toLowerCase();
  if (host !== 'github.com' && !host.endsWith('.ghe.com') && !host.endsWith('.localhost')) {
    throw new UserError(`\`store: cache\` needs the Actions cache service v2, which ${serverUrl} (GitHub Enterprise Server) does not offer: use \`store: command\` or \`store: github-secret\` there.`);
  }
  const url = env.ACTIONS_RESULTS_URL;
  const token = env.ACTIONS_RUNTIME_TOKEN;
  if (!env.ACTIONS_CACHE_SERVICE_V2 || !url || !token) {
    throw new UserError(
      '`store: cache` cannot reach the Actions cache: ACTIONS_CACHE_SERVICE_V2, ACTIONS_RESULTS_URL and ACTIONS_RUNTIME_TOKEN are not all set for this step. The runner sets them for JavaScript actions on github.com: update the runner, or use `store: command` or `store: github-secret`.',
    );
  }
  const mode = (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
  if (['none', 'read', 'write-only'].includes(mode)) {
    throw new UserError(`The Actions cache is \`${mode}\` for this run (ACTIONS_CACHE_MODE), and \`store: cache\` must both read and write it: run the workflow from a trusted event on the default branch, or use \`store: command\` or \`store: github-secret\`.`);
  }
  return { url, token };
}

/** One Twirp call, retried (network errors, 5xx and 429: ATTEMPTS in all); throws ServiceError. */
export async function twirp(service: Service, method: string, body: unknown, clock: Clock): Promise<Record<string, unknown>> {
  let failure = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (attempt > 1) await clock.sleep(RETRY_MS * (attempt - 1));
    const url = new URL(`${TWIRP_PATH}/${method}`, service.url).href;
    const res = await (await fetchFor(url))(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.token}`, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }).catch(networkFailure);
    if (typeof res === 'string') {
      failure = res;
      continue;
    }
    if (res.ok) return twirpAnswer(res, method);
    failure = `HTTP ${res.status}${await twirpCode(res)}`;
    if (res.status < 500 && res.status !== 429) throw new ServiceError(`POST ${method}: ${failure}`, res.status);
  }
  throw new ServiceError(`POST ${method}: ${failure}, ${ATTEMPTS} attempts`, null);
}

/** Throws ServiceError when an entry's archive cannot be fetched (the blob is gone, or the service fails). */
export async function assertReachable(entry: Entry): Promise<void> {
  const res = await (await fetchFor(entry.url))(entry.url, { method: 'HEAD', signal: AbortSignal.timeout(TIMEOUT_MS) }).catch(networkFailure);
  if (typeof res === 'string') throw new ServiceError(`HEAD the archive of ${entry.key}: ${res}`, null);
  if (!res.ok) throw new ServiceError(`HEAD the archive of ${entry.key}: HTTP ${res.status}`, res.status);
}

/** fetch rejects with `fetch failed` and the reason in `cause` (ECONNREFUSED, a timeout…). */
function networkFailure(error: unknown): string {
  const { message, cause } = (error ?? {}) as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const reason = cause?.code ?? cause?.message;
  return `${typeof message === 'string' ? message : String(error)}${reason ? ` (${String(reason)})` : ''}`;
}

async function twirpAnswer(res: Response, method: string): Promise<Record<string, unknown>> {
  const body: unknown = await res.json().catch(() => null);
  if (!body || typeof body !== 'object') throw new ServiceError(`POST ${method}: HTTP ${res.status} with an answer that is not JSON`, res.status);
  return body as Record<string, unknown>;
}

async function twirpCode(res: Response): Promise<string> {
  const body = (await res.json().catch(() => null)) as { code?: unknown } | null;
  return typeof body?.code === 'string' && /^[a-z_]{1,40}$/.test(body.code) ? ` (${body.code})` : '';
}
