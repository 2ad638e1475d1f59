import { promises as fs } from 'node:fs';
import path from 'node:path';
import { iso, withheldCopy, writeCredentialFile, type AuthFile } from './auth-file.js';
import type { RunContext } from './context.js';
import type { Inputs } from './inputs.js';
import type { Clock, Log } from './log.js';
import type { Lock } from './locks/lock.js';
import { persistAuth } from './persist.js';
import { provisionAuth } from './provision.js';
import { expiryText, mustRefreshAhead, rotateNow } from './refresh.js';
import { newScratchDir, SCRATCH_FILE } from './scratch-copy.js';
import { saveMainState, type MainState } from './state.js';
import { createStore } from './stores/create-store.js';

export interface SharedJob {
  /** the copy the job runs with: its refresh token withheld */
  auth: AuthFile;
  /** where that copy is (CODEX_HOME for the job) */
  codexHome: string;
  source: string;
  refreshedAhead: boolean;
  lockHeldMs: number;
}

/**
 * DESIGN §3.10, `lock-scope: refresh`: under the lock, restore the stream; when the access token expires
 * within `min-validity`, refresh ahead through Codex and persist at once (compare-and-swap, as post does);
 * then give the job a copy whose refresh token is withheld, and release the lock. The real token never stays
 * on the machine: it lives only in a scratch dir removed before the lock is released — except with the
 * runner store, whose stored copy in `codex-home` is the stream itself (the job then runs in a private home).
 */
export async function shareStream(o: { ctx: RunContext; inputs: Inputs; state: MainState; lock: Lock; acquiredAt: number; log: Log; clock: Clock }): Promise<SharedJob> {
  const { ctx, inputs, state, log, clock } = o;
  const scratch = newScratchDir(ctx.runnerTemp);
  const inPlace = inputs.store === 'runner';
  const streamPath = inPlace ? path.join(inputs.codexHome, 'auth.json') : path.join(scratch, 'stream', 'auth.json');
  const jobDir = inPlace ? newScratchDir(ctx.runnerTemp) : null;
  const codexHome = jobDir ? path.join(jobDir, 'home') : inputs.codexHome;
  let job: AuthFile;
  let source: string;
  let refreshedAhead = false;
  try {
    await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
    const store = await createStore(inputs.store, { ctx, inputs, log, clock, authPath: streamPath });
    const provisioned = await provisionAuth({ store, seedText: inputs.authJson, authPath: streamPath, scratchDir: path.join(scratch, 'copy'), log });
    source = provisioned.source;
    let current = provisioned.auth;
    if (mustRefreshAhead(current.info, clock.now(), inputs.minValidityMs, inputs.refresh)) {
      log.info(
        inputs.refresh === 'force'
          ? '`refresh: force`: rotating the tokens under the lock.'
          : `The access token expires ${expiryText(current.info, clock.now())}, within \`min-validity\` (${(inputs.minValidityMs / 3_600_000).toFixed(1)} h): refreshing ahead under the lock.`,
      );
      current = await rotateNow({ ctx, inputs, authPath: streamPath, log });
      const outcome = await persistAuth(
        {
          codexHome: path.dirname(streamPath),
          authPath: streamPath,
          restoredHash: provisioned.fileHash,
          restoredLastRefresh: provisioned.auth.info.lastRefresh,
          store: inputs.store,
          storeVersion: provisioned.storeVersion,
          source,
          cleanup: false,
          backupPath: provisioned.scratch.path,
          accountId: current.info.accountId,
          email: current.info.email,
        },
        store,
        log,
      );
      current = outcome.kept ?? current;
      refreshedAhead = true;
    }
    job = withheldCopy(current);
    await writeCredentialFile(path.join(codexHome, 'auth.json'), job.text);
  } finally {
    // the stream's copy, main's scratch copy of it: nothing with the real refresh token outlives the lock
    await fs.rm(scratch, { recursive: true, force: true });
  }
  await o.lock.release(state.lock);
  const lockHeldMs = clock.now() - o.acquiredAt;
  log.info(
    `Released the ${state.lock.kind} lock after ${(lockHeldMs / 1000).toFixed(1)} s (\`lock-scope: refresh\`): this job runs with a copy of auth.json (last_refresh ${iso(job.info.lastRefresh)}) whose refresh token is withheld.`,
  );
  state.shared = { lock: state.lock.kind, lockHeldMs, refreshedAhead };
  state.lock = { kind: 'none' };
  state.ready = {
    codexHome,
    authPath: path.join(codexHome, 'auth.json'),
    restoredHash: job.hash,
    restoredLastRefresh: job.info.lastRefresh,
    store: inputs.store,
    storeVersion: null,
    source,
    // the copy is worthless to keep: post removes it whatever `cleanup` says
    cleanup: true,
    // no copy is kept (the real token must not stay); post removes this dir: the job's private home, if any
    backupPath: path.join(jobDir ?? scratch, SCRATCH_FILE),
    accountId: job.info.accountId,
    email: job.info.email,
    accessExpires: job.info.accessExpires,
  };
  saveMainState(state);
  return { auth: job, codexHome, source, refreshedAhead, lockHeldMs };
}
