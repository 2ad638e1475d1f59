import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { parseAuthFile, type AuthFile } from '../auth-file.js';
import { errorMessage, UserError } from '../errors.js';
import { fetchFor } from '../github.js';
import { jsonOrNull } from '../json.js';
import { open, seal, sealKey, SealError, type SealKey } from './seal.js';
import { swapDecision, type PersistResult, type Store, type StoreDeps, type Stored } from './store.js';

const TWIRP_PATH = 'twirp/github.actions.results.api.v1.CacheService';
/** Our own lookups retry 5xx and network errors this often, waiting RETRY_MS, then twice that. */
const ATTEMPTS = 3;
const RETRY_MS = 2000;
const TIMEOUT_MS = 30_000;
/** A stream keeps this many entries after a save: the new one and the one before it. */
export const KEEP_ENTRIES = 2;

/** An entry the cache service matched: its key and a signed URL of its archive (a secret: never logged). */
interface Entry {
  key: string;
  url: string;
}

interface Service {
  url: string;
  token: string;
}

/** A failed call to the cache service or the REST API: method, path and status, never a body. */
class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

/**
 * `store: cache`: the refreshed auth.json, sealed (seal.ts), as an Actions cache entry per save, keyed
 * `<key>-<run id>-<attempt>-<time ms>`; restore takes the newest entry of the stream.
 *
 * `@actions/cache` moves the bytes, but it reports a cache service that fails as a miss (it logs and
 * returns undefined). A miss would make main use the seed, whose refresh token may have been rotated long
 * ago. So the store looks entries up itself with the service's Twirp API, where a failure is a failure,
 * and only hands the download and upload to `@actions/cache`.
 */
export class CacheStore implements Store {
  readonly kind = 'cache' as const;
  readonly inPlace = false;
  private readonly sealKey: SealKey;
  /**
   * The cache version is a hash of the path strings @actions/cache is given (DESIGN §6), so this must be
   * the same string on every runner: a fixed relative name, resolved inside a private temp dir that
   * stands in for the workspace while @actions/cache runs (see inWorkspace). RUNNER_TEMP and the
   * workspace differ between runners and must not be part of it. The stream key is in the name, so
   * streams whose keys share a prefix (`codex-auth`, `codex-auth-prod`) never see each other's entries.
   */
  private readonly file: string;
  private version: Promise<string> | null = null;

  constructor(private readonly deps: StoreDeps) {
    const { encryptionKey, authJson, key } = deps.inputs;
    const seedText = !encryptionKey && authJson ? parseAuthFile(authJson, 'Input `auth-json`').text : '';
    this.sealKey = sealKey({ encryptionKey, seedText, stream: key });
    this.file = `codex-auth.${key}.sealed`;
  }

  async restore(): Promise<Stored | null> {
    const service = await this.ready();
    try {
      const entry = await this.lookup(service);
      if (!entry) {
        this.deps.log.info(`The Actions cache holds no entry of \`${this.deps.inputs.key}\` yet.`);
        return null;
      }
      this.deps.log.info(`Found Actions cache entry ${entry.key}.`);
      return await this.read(entry);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      throw new Error(
        `Could not read the Actions cache (${error.message}). The \`auth-json\` seed was NOT used instead: the cache may hold a newer auth.json, and the seed's refresh token may have been rotated long ago, so signing in with it could fail or get the login revoked. Re-run the job when the cache service answers again.`,
        { cause: error },
      );
    }
  }

  async persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult> {
    const service = await this.ready();
    const current = await this.current(service, baseVersion);
    const decided = swapDecision(current, next);
    if (decided) return decided;
    const { ctx, inputs, clock } = this.deps;
    const key = `${inputs.key}-${ctx.runId || 'local'}-${ctx.runAttempt}-${clock.now()}`;
    await this.save(key, seal(this.sealKey, next.text));
    await this.prune(key);
    return 'written';
  }

  /** DESIGN §3.8 and the conditions the cache service sets; returns where the service is. */
  private async ready(): Promise<Service> {
    await assertDefaultBranch(this.deps.ctx);
    return cacheService(process.env, this.deps.ctx.serverUrl);
  }

  /** What the cache holds now, when it moved on since `baseVersion`; null when it did not, or cannot say. */
  private async current(service: Service, baseVersion: string | null): Promise<Stored | null> {
    try {
      const entry = await this.lookup(service);
      return entry && entry.key !== baseVersion ? await this.read(entry) : null;
    } catch (error) {
      this.deps.log.warning(`Could not check what the Actions cache holds now (${errorMessage(error)}); saving this job's auth.json without that check.`);
      return null;
    }
  }

  /** The newest entry of the stream, by prefix. Throws ServiceError when the service cannot say. */
  private async lookup(service: Service): Promise<Entry | null> {
    const prefix = `${this.deps.inputs.key}-`;
    // The primary key matches exactly, restore keys by prefix: the prefix as both finds the newest entry.
    const body = { key: prefix, restore_keys: [prefix], version: await this.cacheVersion() };
    const answer = await this.twirp(service, 'GetCacheEntryDownloadURL', body);
    const key = answer.matched_key ?? answer.matchedKey;
    const url = answer.signed_download_url ?? answer.signedDownloadUrl;
    if (answer.ok !== true) return null;
    if (typeof key !== 'string' || typeof url !== 'string') throw new ServiceError('POST GetCacheEntryDownloadURL: an answer without a key or URL', null);
    return { key, url };
  }

  private async twirp(service: Service, method: string, body: unknown): Promise<Record<string, unknown>> {
    let failure = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (attempt > 1) await this.deps.clock.sleep(RETRY_MS * (attempt - 1));
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

  private async read(entry: Entry): Promise<Stored | null> {
    const bytes = await this.download(entry);
    if (!bytes) return null;
    let text: string;
    try {
      text = open(this.sealKey, bytes);
    } catch (error) {
      if (!(error instanceof SealError)) throw error;
      if (error.reason === 'unsupported-version') {
        throw new UserError(`Actions cache entry ${entry.key} was sealed by a newer version of codex-auth: use that version on this workflow too, or another \`key\`.`);
      }
      this.deps.log.warning(`Actions cache entry ${entry.key} cannot be opened: ${error.message}. It is treated as missing (once after a new seed or key, that is expected).`);
      return null;
    }
    return { auth: parseAuthFile(text, `The auth.json in Actions cache entry ${entry.key}`), version: entry.key };
  }

  /** The sealed bytes of an entry; null when its archive is damaged. Throws ServiceError when it cannot be fetched. */
  private async download(entry: Entry): Promise<Buffer | null> {
    const dir = await this.scratchDir();
    try {
      const { restoreCache } = await import('@actions/cache');
      const hit = await inWorkspace(dir, () => restoreCache([this.file], entry.key, [], { timeoutInMs: TIMEOUT_MS }));
      const bytes = hit === entry.key ? await fs.readFile(path.join(dir, this.file)).catch(() => null) : null;
      if (bytes) return bytes;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    // @actions/cache says neither why: a blob the service still serves means the archive itself is bad.
    await assertReachable(entry);
    this.deps.log.warning(`Actions cache entry ${entry.key} was found but its archive could not be unpacked (damaged: see the warning above). It is treated as missing.`);
    return null;
  }

  private async save(key: string, sealed: Buffer): Promise<void> {
    const dir = await this.scratchDir();
    try {
      await fs.writeFile(path.join(dir, this.file), sealed, { mode: 0o600 });
      const { saveCache } = await import('@actions/cache');
      const id = await inWorkspace(dir, () => saveCache([this.file], key));
      if (id === -1) {
        throw new Error(
          `Failed to save Actions cache entry ${key}: the cache service did not take it (the reason is in the log above). This run's refresh spent the stored copy's refresh token, so the next run may fail with a reused refresh token: if it does, sign in again with \`codex login\` and update the \`auth-json\` secret.`,
        );
      }
      this.deps.log.info(`Saved the sealed auth.json as Actions cache entry ${key}.`);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** Deletes all but the newest KEEP_ENTRIES entries of the stream; a failure is only said. */
  private async prune(saved: string): Promise<void> {
    const { inputs, log } = this.deps;
    const rest = this.restClient();
    if (!rest) return log.info(`Not deleting older Actions cache entries of \`${inputs.key}\`: \`github-token\` is empty.`);
    try {
      const version = await this.cacheVersion();
      const list = await rest.list(`${inputs.key}-`);
      const older = list.filter((e) => e.key.startsWith(`${inputs.key}-`) && e.version === version && e.key !== saved);
      const doomed = older.sort((a, b) => b.created - a.created || b.id - a.id).slice(KEEP_ENTRIES - 1);
      for (const entry of doomed) await rest.remove(entry.id);
      if (doomed.length) log.info(`Deleted ${doomed.length} older Actions cache entr${doomed.length === 1 ? 'y' : 'ies'} of \`${inputs.key}\`.`);
    } catch (error) {
      if (error instanceof ServiceError && error.status === 403) {
        log.info(`Older Actions cache entries of \`${inputs.key}\` were kept: \`github-token\` may not delete caches. Add \`permissions: actions: write\` to the job to keep at most ${KEEP_ENTRIES} per stream (unused entries expire after 7 days anyway).`);
      } else {
        log.warning(`Could not delete older Actions cache entries of \`${inputs.key}\`: ${errorMessage(error)}. They expire after 7 days unused.`);
      }
    }
  }

  private restClient(): ReturnType<typeof cachesApi> | null {
    const { inputs, ctx } = this.deps;
    return inputs.githubToken && ctx.repository ? cachesApi(ctx.apiUrl, ctx.repository, inputs.githubToken) : null;
  }

  private cacheVersion(): Promise<string> {
    this.version ??= cacheVersion(this.file);
    return this.version;
  }

  /** mkdtemp makes it 0700: the sealed file is never in the workspace, where a later step could pick it up. */
  private scratchDir(): Promise<string> {
    return fs.mkdtemp(path.join(this.deps.ctx.runnerTemp, 'codex-auth-cache-'));
  }
}

/**
 * Refuses to run off the default branch (DESIGN §3.8). A cache saved on another ref is visible only to
 * that ref, so a refresh there would leave the default branch a copy whose refresh token is spent.
 * When the event does not say which branch is the default, the run is allowed.
 */
async function assertDefaultBranch(ctx: StoreDeps['ctx']): Promise<void> {
  const defaultBranch = await defaultBranchOf(ctx.eventPath);
  if (!defaultBranch || ctx.refName === defaultBranch) return;
  throw new UserError(
    `Refusing to use \`store: cache\` on '${ctx.refName}', which is not the default branch '${defaultBranch}': a cache saved here is visible only to this ref, so a token refreshed here would leave '${defaultBranch}' a copy whose refresh token is already spent. Run this workflow on '${defaultBranch}', or use \`store: github-secret\` or \`store: command\`, which every branch shares.`,
  );
}

const EventPayload = z.object({ repository: z.optional(z.object({ default_branch: z.optional(z.string()) })) });

async function defaultBranchOf(eventPath: string): Promise<string | null> {
  if (!eventPath) return null;
  try {
    return jsonOrNull(EventPayload, await fs.readFile(eventPath, 'utf8'))?.repository?.default_branch || null;
  } catch {
    return null;
  }
}

function cacheService(env: NodeJS.ProcessEnv, serverUrl: string): Service {
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

/**
 * The version @actions/cache files an entry under (its internal `getCacheVersion`): sha256 of the path
 * strings, the compression it will use (zstd when a `zstd` binary answers, else gzip), `windows-only` on
 * Windows, and a salt. The store looks entries up itself, so it must compute the same string; the
 * round-trip tests fail if a later @actions/cache changes the recipe.
 */
async function cacheVersion(file: string): Promise<string> {
  const zstd = await new Promise<boolean>((resolve) => {
    // a deadline like every command's (a zstd that does not answer counts as none)
    execFile('zstd', ['--quiet', '--version'], { timeout: 30_000 }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`.trim() !== ''));
  });
  const parts = [file, zstd ? 'zstd-without-long' : 'gzip', ...(process.platform === 'win32' ? ['windows-only'] : []), '1.0'];
  return createHash('sha256').update(parts.join('|')).digest('hex');
}

/**
 * @actions/cache archives paths relative to GITHUB_WORKSPACE, resolves relative patterns against the
 * working directory, and extracts into GITHUB_WORKSPACE. Pointing both at a private dir for the length of
 * one call keeps the path string fixed and the file out of the real workspace. Nothing else runs in this
 * process meanwhile: main and post call stores one at a time.
 */
async function inWorkspace<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = { cwd: process.cwd(), workspace: process.env.GITHUB_WORKSPACE };
  process.env.GITHUB_WORKSPACE = dir;
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(saved.cwd);
    if (saved.workspace === undefined) delete process.env.GITHUB_WORKSPACE;
    else process.env.GITHUB_WORKSPACE = saved.workspace;
  }
}

async function assertReachable(entry: Entry): Promise<void> {
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

const CacheList = z.object({
  actions_caches: z.array(z.object({ id: z.number(), key: z.string(), version: z.string(), created_at: z.string() })),
});

/** GitHub's REST routes for the caches of a repository (list needs `actions: read`, delete `actions: write`). */
function cachesApi(apiUrl: string, repository: string, token: string) {
  const base = `${apiUrl.replace(/\/+$/, '')}/repos/${repository}/actions/caches`;
  const call = async (method: string, suffix: string, query = ''): Promise<Response> => {
    const url = `${base}${suffix}${query}`;
    const res = await (await fetchFor(url))(url, {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'codex-auth' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!res.ok && !(method === 'DELETE' && res.status === 404)) throw new ServiceError(`${method} /repos/${repository}/actions/caches${suffix}: HTTP ${res.status}`, res.status);
    return res;
  };
  return {
    async list(prefix: string) {
      const res = await call('GET', '', `?key=${encodeURIComponent(prefix)}&per_page=100&sort=created_at&direction=desc`);
      const parsed = CacheList.safeParse(await res.json().catch(() => null));
      if (!parsed.success) throw new ServiceError(`GET /repos/${repository}/actions/caches: an answer of an unexpected shape`, res.status);
      return parsed.data.actions_caches.map((e) => ({ id: e.id, key: e.key, version: e.version, created: Date.parse(e.created_at) || 0 }));
    },
    async remove(id: number) {
      await call('DELETE', `/${id}`);
    },
  };
}
