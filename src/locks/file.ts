import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import { runUrl } from '../context.js';
import { errorMessage, UserError } from '../errors.js';
import { createGithubApi, type GithubApi } from '../github.js';
import { jsonOrNull } from '../json.js';
import { ensurePrivateDir } from '../auth-file.js';
import { canAskAbout, runAttemptStatus } from './run-status.js';
import { leaseMsFrom, lockFilePath, ownerFor, type Acquired, type Lock, type LockDeps, type LockHandle, type LockOwner, type ReleaseDeps } from './lock.js';

const FileOwner = z.object({
  token: z.string(),
  repository: z.string(),
  runId: z.string(),
  runAttempt: z.string(),
  job: z.string(),
  runnerName: z.string(),
  acquiredAt: z.number(),
  leaseUntil: z.number(),
});
type FileOwner = z.infer<typeof FileOwner>;

const POLL_MIN_MS = 200;
const POLL_MAX_MS = 2000;
/** A takeover takes milliseconds; a guard this old was left by a waiter that died while taking over. */
const GUARD_STALE_MS = 30_000;
/** How often a waiter asks the runs API about one holder's run. */
const RUN_CHECK_MS = 30_000;
/** How long one such question may take, retries included (never past `lock-timeout`). */
const RUN_CHECK_TIMEOUT_MS = 30_000;

/**
 * `lock: file`: one host, several runners sharing one `codex-home`. The lock is a file next to auth.json,
 * made visible atomically with link(2) (it fails when the name exists), holding its owner. The holder's
 * process exits between main and post, so liveness cannot come from a process: a holder is dead when its
 * lease ran out, when its runner now runs another job (a runner runs one job at a time), or when the
 * GitHub API says its run attempt completed.
 */
export class FileLock implements Lock {
  private readonly lockPath: string;
  private readonly nextRunCheck = new Map<string, number>();
  private api: Promise<GithubApi> | null = null;

  constructor(private readonly deps: LockDeps) {
    this.lockPath = lockFilePath(deps.codexHome);
  }

  async acquire({ timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal }): Promise<Acquired> {
    const { clock, ctx, log } = this.deps;
    await ensurePrivateDir(this.deps.codexHome);
    const started = clock.now();
    const token = randomBytes(16).toString('hex');
    let announced = '';
    for (let attempt = 0; ; attempt++) {
      const owner: FileOwner = { token, ...ownerFor(ctx, clock.now(), leaseMsFrom(process.env)) };
      if (await this.tryCreate(owner)) {
        return { handle: { kind: 'file', path: this.lockPath, token }, waitedMs: clock.now() - started };
      }
      const holder = await this.readHolder();
      const dead = holder ? this.deathReason(holder) || (await this.runCompleted(holder, started + timeoutMs, signal)) : '';
      if (holder && dead && (await this.removeIfStill(holder))) {
        log.info(`Taking over the lock ${this.lockPath}: its holder (${describe(holder, ctx)}) ${dead}.`);
        continue;
      }
      if (holder && this.isThisJob(holder)) {
        throw new UserError(
          `This job already holds the lock ${this.lockPath} (taken by an earlier codex-auth step of this job): waiting would last until \`lock-timeout\`. Use the action once per job, or give the second step another \`codex-home\` and \`key\`.`,
        );
      }
      const waited = clock.now() - started;
      if (waited >= timeoutMs) {
        throw new UserError(
          `Timed out after ${Math.round(waited / 1000)} s waiting for the lock ${this.lockPath}, held by ${holder ? describe(holder, ctx) : 'an unknown holder'}. Wait for that run to finish, raise \`lock-timeout\`, or delete the lock file if you know its holder is gone.`,
        );
      }
      if (holder && holder.token !== announced) {
        log.info(`Waiting for the lock ${this.lockPath}, held by ${describe(holder, ctx)}.`);
        announced = holder.token;
      }
      const backoff = Math.min(POLL_MAX_MS, POLL_MIN_MS * 2 ** Math.min(attempt, 4));
      await clock.sleep(Math.min(backoff * (0.5 + Math.random() / 2), Math.max(1, timeoutMs - waited)), signal);
    }
  }

  /**
   * Compare-and-delete. Reading the owner and then removing the file is not enough: a lease that ran out
   * in between lets a waiter take the lock over, and the late remove would delete the new holder's lock.
   * So the file is first renamed to a name only this call uses (atomic: whatever sits at the lock path at
   * that instant is what moved), its owner is read from there, and only then is it unlinked.
   */
  release(handle: LockHandle): Promise<void> {
    return releaseFileLock(handle, this.deps);
  }

  /** Writes the owner to a private temp file, then links it into place: the lock is never seen half-written. */
  private async tryCreate(owner: FileOwner): Promise<boolean> {
    const temp = `${this.lockPath}.${owner.token}.tmp`;
    await fs.writeFile(temp, JSON.stringify(owner), { mode: 0o600 });
    try {
      await fs.link(temp, this.lockPath);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  private readHolder(file = this.lockPath): Promise<FileOwner | null> {
    return readHolder(file);
  }

  private isThisJob(holder: FileOwner): boolean {
    const { ctx } = this.deps;
    return holder.runnerName === ctx.runnerName && holder.repository === ctx.repository && holder.runId === ctx.runId && holder.runAttempt === ctx.runAttempt && holder.job === ctx.job;
  }

  /**
   * Asks the runs API whether the holder's run attempt is over (a job whose runner died never runs its post
   * step). Best effort, one conditional GET at most every RUN_CHECK_MS per holder; without a token, or when
   * the API cannot tell, only the lease and the runner rule count. Returns a reason, or ''.
   */
  private async runCompleted(holder: FileOwner, acquireDeadline: number, signal: AbortSignal | undefined): Promise<string> {
    const { ctx, clock, log, githubToken } = this.deps;
    if (!githubToken || !canAskAbout(holder)) return '';
    const now = clock.now();
    if ((this.nextRunCheck.get(holder.token) ?? 0) > now) return '';
    this.nextRunCheck.set(holder.token, now + RUN_CHECK_MS);
    try {
      this.api ??= createGithubApi({ apiUrl: ctx.apiUrl, token: githubToken, clock, log, attempts: 1, attemptTimeoutMs: 5000 });
      const deadline = Math.min(now + RUN_CHECK_TIMEOUT_MS, acquireDeadline);
      const run = await runAttemptStatus(await this.api, holder, { unreadable: [401, 403], deadline, signal });
      if (run.state !== 'completed') return '';
      return `belongs to a run attempt the GitHub API reports completed${run.conclusion ? ` (${run.conclusion})` : ''}`;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      log.debug(`Could not ask the GitHub API about the lock holder's run: ${errorMessage(error)}`);
      return '';
    }
  }

  private deathReason(holder: FileOwner): string {
    const { ctx, clock } = this.deps;
    if (holder.leaseUntil <= clock.now()) return 'let its lease run out';
    const sameRunner = holder.runnerName !== '' && holder.runnerName === ctx.runnerName;
    const sameJob = holder.repository === ctx.repository && holder.runId === ctx.runId && holder.runAttempt === ctx.runAttempt && holder.job === ctx.job;
    if (sameRunner && !sameJob) return `ran on runner '${holder.runnerName}', which now runs this job, so its job is over`;
    return '';
  }

  /**
   * Removes a dead holder's file; false when another waiter is doing it (then poll again). Several waiters
   * see the same dead holder at once, and a slow one must not remove the fresh lock a fast one already put
   * in its place. So removal happens only under a guard file (made, like the lock, by link(2)), after
   * reading again, under the guard, that the lock still belongs to the dead holder. A guard whose maker
   * died within those few milliseconds is removed once it is GUARD_STALE_MS old.
   */
  private async removeIfStill(dead: FileOwner): Promise<boolean> {
    const guard = `${this.lockPath}.break`;
    const mine = randomBytes(8).toString('hex');
    const temp = `${guard}.${mine}.tmp`;
    await fs.writeFile(temp, JSON.stringify({ token: mine, at: this.deps.clock.now() }), { mode: 0o600 });
    try {
      await fs.link(temp, guard);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      await this.removeStaleGuard(guard);
      return false;
    } finally {
      await fs.rm(temp, { force: true });
    }
    try {
      const current = await this.readHolder();
      if (!current || current.token !== dead.token) return false;
      // Under the guard no other waiter removes the lock; the dead holder's own late release might, and a
      // fresh lock may then appear: compare-and-delete, so that only the dead holder's file goes.
      const sameDead = (text: string) => (parseOwner(text)?.token ?? `unparseable:${text.length}`) === dead.token;
      return (await compareAndDelete(this.lockPath, sameDead)) === 'deleted';
    } finally {
      await compareAndDelete(guard, (text) => guardOf(text).token === mine);
    }
  }

  /**
   * Removes a guard whose maker died (GUARD_STALE_MS old). Compare-and-delete, like release: between
   * reading a stale guard and removing it, another waiter may have removed it and made a fresh one, which
   * must stay.
   */
  private async removeStaleGuard(guard: string): Promise<void> {
    const stale = (text: string) => guardOf(text).at + GUARD_STALE_MS <= this.deps.clock.now();
    const text = await fs.readFile(guard, 'utf8').catch(() => null);
    if (text === null || !stale(text)) return;
    await compareAndDelete(guard, stale);
  }
}

/** Releases only the caller's own hold (the handle's token): post's release, and FileLock's. */
export async function releaseFileLock(handle: LockHandle, { log }: Pick<ReleaseDeps, 'log'>): Promise<void> {
  if (handle.kind !== 'file') return;
  // A cheap look first: a lock that is plainly someone else's is never moved at all.
  const holder = await readHolder(handle.path);
  if (!holder || holder.token !== handle.token) return;
  const moved = await compareAndDelete(handle.path, (text) => parseOwner(text)?.token === handle.token);
  if (moved === 'restored' || moved === 'lost') {
    log.warning(`The lock ${handle.path} was taken over (this job's lease ran out) just as it was released; ${moved === 'restored' ? 'the new holder keeps it' : 'another waiter took it in the same instant'}.`);
  }
}

async function readHolder(file: string): Promise<FileOwner | null> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  // an unreadable lock is treated as held by nobody we can name, with an expired lease
  return parseOwner(text) ?? { token: `unparseable:${text.length}`, repository: '?', runId: '?', runAttempt: '?', job: '?', runnerName: '', acquiredAt: 0, leaseUntil: 0 };
}

function parseOwner(text: string): FileOwner | null {
  return jsonOrNull(FileOwner, text);
}

/** A takeover guard's maker and time; an unreadable one is as old as can be. */
function guardOf(text: string): { token: string; at: number } {
  try {
    const json = JSON.parse(text) as { token?: unknown; at?: unknown };
    return { token: typeof json.token === 'string' ? json.token : '', at: Number(json.at) || 0 };
  } catch {
    return { token: '', at: 0 };
  }
}

/**
 * Deletes `file` only if its content passes `isMine`, without a window in which a file that replaced it is
 * deleted instead:
 *  1. rename(file → aside), aside a name no one else uses: atomic, so exactly the file that sat at `file`
 *     at that instant is moved, and nothing else can be renamed over it later;
 *  2. read aside and decide: this is the file we hold, whatever happens at `file` meanwhile;
 *  3. ours: unlink aside ('deleted'). Not ours (it was replaced between the caller's look and step 1):
 *     put it back with link(aside → file), which, unlike rename, fails when `file` exists again, so a
 *     lock made in that instant is never overwritten ('restored', or 'lost' when one was: then the one at
 *     `file` holds, as its maker believes); then unlink aside.
 * The file is absent from its path only between steps 1 and 3, and only when it was not ours; callers look
 * first, so that happens only when a takeover races the very same instant.
 */
async function compareAndDelete(file: string, isMine: (text: string) => boolean): Promise<'deleted' | 'gone' | 'restored' | 'lost'> {
  const aside = `${file}.${randomBytes(8).toString('hex')}.aside`;
  try {
    await fs.rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    const text = await fs.readFile(aside, 'utf8');
    if (isMine(text)) return 'deleted';
    try {
      await fs.link(aside, file);
      return 'restored';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return 'lost';
      throw error;
    }
  } finally {
    await fs.rm(aside, { force: true });
  }
}

function describe(owner: LockOwner, ctx: LockDeps['ctx']): string {
  const run = owner.runId && owner.runId !== '?' ? runUrl(ctx, owner.repository, owner.runId) : 'an unknown run';
  const since = owner.acquiredAt ? ` since ${new Date(owner.acquiredAt).toISOString()}` : '';
  return `job '${owner.job}' of ${run} (attempt ${owner.runAttempt}) on runner '${owner.runnerName || 'unknown'}'${since}`;
}
