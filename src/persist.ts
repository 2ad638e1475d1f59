import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decidePersist, iso, readCredentialFile, type AuthFile, type PersistDecision } from './auth-file.js';
import { errorMessage } from './errors.js';
import type { Log } from './log.js';
import { readScratchCopy } from './scratch-copy.js';
import type { ReadyState } from './state.js';
import type { Store } from './stores/store.js';

export interface PersistOutcome {
  /** what happened, in a few words for the summary */
  summary: string;
  refreshed: boolean;
  /** the file that is kept now, for the summary */
  kept: AuthFile | null;
}

/**
 * DESIGN §3.2–3.3: compares auth.json with what main left, persists it when it is valid, changed and not
 * older, and otherwise keeps the stored copy — on the runner store, by putting main's copy back.
 */
export async function persistAuth(ready: ReadyState, store: Store, log: Log): Promise<PersistOutcome> {
  const decision = await readCredentialFile(ready.authPath).then(
    (current): PersistDecision => decidePersist({ hash: ready.restoredHash, lastRefresh: ready.restoredLastRefresh, accountId: ready.accountId }, current),
    (error: unknown): PersistDecision => ({ kind: 'invalid', reason: errorMessage(error) }),
  );
  switch (decision.kind) {
    case 'unchanged':
      log.info('auth.json is unchanged: nothing to persist.');
      return { summary: 'nothing to do (unchanged)', refreshed: false, kept: null };
    case 'changed': {
      const next = decision.auth;
      if (store.inPlace) {
        log.info(`Codex refreshed auth.json (last_refresh ${iso(next.info.lastRefresh)}); it stays in ${ready.codexHome}.`);
        return { summary: 'refreshed file kept in place', refreshed: true, kept: next };
      }
      const result = await store.persist(next, ready.storeVersion);
      if (typeof result === 'object') {
        log.warning(
          `The ${store.kind} store changed while this job ran (another run without the lock?). Kept its copy (last_refresh ${iso(result.conflict.auth.info.lastRefresh)}), which is as new as or newer than this job's (${iso(next.info.lastRefresh)}).`,
        );
        return { summary: 'skipped: the store holds a newer copy', refreshed: true, kept: result.conflict.auth };
      }
      log.info(result === 'written' ? `Persisted the refreshed auth.json to the ${store.kind} store.` : `The ${store.kind} store already holds this auth.json.`);
      return { summary: result === 'written' ? `written to the ${store.kind} store` : 'already stored', refreshed: true, kept: next };
    }
    default: {
      if (!store.inPlace) {
        log.warning(`Not persisting auth.json: ${decision.reason}. The ${store.kind} store keeps its copy.`);
        return { summary: `skipped: ${decision.kind}`, refreshed: false, kept: null };
      }
      const backup = await readScratchCopy(ready.backupPath);
      if (!backup) throw new Error(`auth.json in ${ready.codexHome} is ${decision.kind} (${decision.reason}), and main's copy is gone too: seed again with \`auth-json\``);
      await store.persist(backup, null);
      log.warning(`auth.json in ${ready.codexHome} was ${decision.kind}: ${decision.reason}. Put back the copy this job started with.`);
      return { summary: `restored the previous copy (${decision.kind})`, refreshed: false, kept: backup };
    }
  }
}

/** DESIGN §3.9: removes auth.json and Codex's lock files; on a persistent runner, cleanup is off. */
export async function removeAuthFiles(codexHome: string): Promise<void> {
  for (const name of ['auth.json', 'auth.lock', 'auth.json.lock']) await fs.rm(path.join(codexHome, name), { force: true });
}
