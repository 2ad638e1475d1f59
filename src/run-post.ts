import * as core from '@actions/core';
import { nextRefreshAt } from './auth-file.js';
import { readContext, type RunContext } from './context.js';
import { errorMessage, stackOf } from './errors.js';
import { readInputs } from './inputs.js';
import { releaseLock } from './locks/create-lock.js';
import type { LockHandle } from './locks/lock.js';
import { persistAuth, removeAuthFiles, type PersistOutcome } from './persist.js';
import { removeScratchCopy } from './scratch-copy.js';
import { loadMainState, lockHandleIn, type MainState } from './state.js';
import { distrustLock, distrustState } from './state-checks.js';
import { createStore } from './stores/create-store.js';
import { writePostSummary } from './summary.js';
import { defaultDeps, type MainDeps } from './deps.js';

/** post: state → checks → auth file → persist → release → cleanup → summary. */
export async function runPost(deps: MainDeps = defaultDeps()): Promise<void> {
  try {
    await post(deps);
  } catch (error) {
    core.setFailed(errorMessage(error));
  }
}

async function post(deps: MainDeps): Promise<void> {
  const { log, clock, env } = deps;
  const ctx = (deps.context ?? readContext)(env);
  let state: MainState | null;
  try {
    state = loadMainState();
  } catch (error) {
    log.warning(`${errorMessage(error)}; trying to release the lock anyway.`);
    return releaseFallback(ctx, deps);
  }
  if (!state) return; // main never got as far as the lock
  const inputs = readInputs(ctx, env, deps.inputOptions);
  const distrust = await distrustState(state, { ...inputs, ctx });
  if (distrust) return ignoreState(distrust, log);
  let outcome: PersistOutcome | null = null;
  try {
    if (state.shared) {
      log.info('`lock-scope: refresh`: this job ran with a copy whose refresh token was withheld; main already persisted what the stream needed, so post persists nothing.');
    } else if (state.ready) {
      const store = await createStore(state.ready.store, { ctx, inputs, log, clock, authPath: state.ready.authPath });
      outcome = await persistAuth(state.ready, store, log);
    }
  } catch (error) {
    const stack = stackOf(error);
    if (stack) core.debug(stack);
    core.setFailed(`Failed to persist the refreshed auth.json: ${errorMessage(error)}`);
  } finally {
    // Cleanup first: once the lock is released, another job may already be using this codex-home.
    await cleanup(state, log);
    await release(state.lock, deps);
  }
  if (state.ready) {
    const kept = outcome?.kept?.info;
    await writePostSummary(
      {
        source: state.ready.source,
        store: state.ready.store,
        accountId: state.ready.accountId,
        email: state.ready.email,
        lockWaitMs: state.lockWaitMs,
        lock: state.shared?.lock ?? state.lock.kind,
        persisted: state.shared ? 'nothing (`lock-scope: refresh`: main persisted under the lock)' : (outcome?.summary ?? 'failed'),
        lastRefresh: kept ? kept.lastRefresh : state.ready.restoredLastRefresh,
        nextRefresh: kept ? nextRefreshAt(kept) : null,
        refreshed: state.shared ? state.shared.refreshedAhead : (outcome?.refreshed ?? false),
        accessExpires: kept ? kept.accessExpires : (state.ready.accessExpires ?? null),
        lockHeldMs: state.shared ? state.shared.lockHeldMs : null,
      },
      clock.now(),
    ).catch((error) => log.warning(`Could not write the job summary: ${errorMessage(error)}`));
  }
}

/** DESIGN §3.11: state that is not what main wrote for this job is acted on in no way. */
function ignoreState(reason: string, log: MainDeps['log']): void {
  log.warning(
    `Ignoring the state main saved: ${reason}. Something other than this action wrote it (a process Codex's agent started?). Nothing is persisted, removed or released on its say-so: the store keeps its copy, and the lock is taken over as a dead holder's once this run ends or its lease runs out.`,
  );
}

async function release(handle: LockHandle | null, { log, clock, env, context }: MainDeps): Promise<void> {
  if (!handle || handle.kind === 'none') return;
  try {
    // Only the handle decides what is released: post never re-derives main's lock from the inputs.
    await releaseLock(handle, { ctx: (context ?? readContext)(env), log, clock, githubToken: core.getInput('github-token') });
    log.info(`Released the ${handle.kind} lock at ${new Date(clock.now()).toISOString()}.`);
  } catch (error) {
    log.warning(`Could not release the lock: ${errorMessage(error)}. It will be taken over when its lease runs out.`);
  }
}

async function cleanup(state: MainState, log: MainDeps['log']): Promise<void> {
  try {
    const ready = state.ready;
    if (ready) await removeScratchCopy(ready.backupPath);
    const home = ready ? { codexHome: ready.codexHome, cleanup: ready.cleanup } : state.loginHome;
    if (home?.cleanup) {
      await removeAuthFiles(home.codexHome);
      log.info(`Removed auth.json from ${home.codexHome}.`);
    }
  } catch (error) {
    log.warning(`Cleanup failed: ${errorMessage(error)}`);
  }
}

/** State that does not parse as a whole: its lock handle is still released when it is this job's own. */
async function releaseFallback(ctx: RunContext, deps: MainDeps): Promise<void> {
  const handle = lockHandleIn(core.getState('codex-auth'));
  if (!handle) return;
  const distrust = await distrustLock(handle, { ...readInputs(ctx, deps.env, deps.inputOptions), ctx });
  if (distrust) return ignoreState(distrust, deps.log);
  await release(handle, deps);
}
