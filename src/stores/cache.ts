import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { parseAuthFile, type AuthFile } from '../auth-file.js';
import { errorMessage, UserError } from '../errors.js';
import { createGithubApi, GithubApiError, repoPath } from '../github.js';
import { jsonOrNull } from '../json.js';
import { assertReachable, cacheService, ServiceError, TIMEOUT_MS, twirp, type Entry, type Service } from './cache-service.js';
import { open, seal, sealKey, SealError, type SealKey } from './seal.js';
import { swapDecision, type PersistResult, type Store, type StoreDeps, type Stored } from './store.js';

/** How long pruning old entries may take, retries and rate-limit waits included. */
const PRUNE_DEADLINE_MS = 60_000;
/** A stream keeps this many entries after a save: the new one and the one before it. */
export const KEEP_ENTRIES = 2;

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
    const answer = await twirp(service, 'GetCacheEntryDownloadURL', body, this.deps.clock);
    const key = answer.matched_key ?? answer.matchedKey;
    const url = answer.signed_download_url ?? answer.signedDownloadUrl;
    if (answer.ok !== true) return null;
    if (typeof key !== 'string' || typeof url !== 'string') throw new ServiceError('POST GetCacheEntryDownloadURL: an answer without a key or URL', null);
    return { key, url };
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
    const { inputs, ctx, log, clock } = this.deps;
    if (!inputs.githubToken || !ctx.repository) return log.info(`Not deleting older Actions cache entries of \`${inputs.key}\`: \`github-token\` is empty.`);
    try {
      // list needs `actions: read`, delete `actions: write`; a slow API (retries, rate limits) holds post up PRUNE_DEADLINE_MS at most
      const call = { deadline: clock.now() + PRUNE_DEADLINE_MS };
      const rest = await createGithubApi({ apiUrl: ctx.apiUrl, token: inputs.githubToken, clock, log });
      const caches = `${repoPath(ctx.repository)}/actions/caches`;
      const version = await this.cacheVersion();
      const res = await rest.request('GET', `${caches}?key=${encodeURIComponent(`${inputs.key}-`)}&per_page=100&sort=created_at&direction=desc`, call);
      const parsed = CacheList.safeParse(res.data);
      if (!parsed.success) throw new ServiceError(`GET ${caches}: an answer of an unexpected shape`, res.status);
      const list = parsed.data.actions_caches.map((e) => ({ id: e.id, key: e.key, version: e.version, created: Date.parse(e.created_at) || 0 }));
      const older = list.filter((e) => e.key.startsWith(`${inputs.key}-`) && e.version === version && e.key !== saved);
      const doomed = older.sort((a, b) => b.created - a.created || b.id - a.id).slice(KEEP_ENTRIES - 1);
      for (const entry of doomed) await rest.request('DELETE', `${caches}/${entry.id}`, { accept: [404], ...call });
      if (doomed.length) log.info(`Deleted ${doomed.length} older Actions cache entr${doomed.length === 1 ? 'y' : 'ies'} of \`${inputs.key}\`.`);
    } catch (error) {
      if (error instanceof GithubApiError && error.status === 403 && !error.rateLimited) {
        log.info(`Older Actions cache entries of \`${inputs.key}\` were kept: \`github-token\` may not delete caches. Add \`permissions: actions: write\` to the job to keep at most ${KEEP_ENTRIES} per stream (unused entries expire after 7 days anyway).`);
      } else {
        log.warning(`Could not delete older Actions cache entries of \`${inputs.key}\`: ${errorMessage(error)}. They expire after 7 days unused.`);
      }
    }
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

const CacheList = z.object({
  actions_caches: z.array(z.object({ id: z.number(), key: z.string(), version: z.string(), created_at: z.string() })),
});
