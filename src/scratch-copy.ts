import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decidePersist, parseAuthFile, readCredentialFile, type AuthFile } from './auth-file.js';
import { randomHex } from './random.js';

/**
 * main's scratch copy of the auth.json it left in codex-home, the one thing post may put back: on the runner
 * store, when a later step deleted or garbled auth.json. It lives in a private dir of the runner's temp dir,
 * `RUNNER_TEMP/codex-auth-<hex>/last-good.json`; main writes it when it restores, replaces it when Codex
 * refreshed auth.json during main's own run (the copy it started with then holds a spent refresh token);
 * post reads it back and removes it. Its path reaches post through state (`ready.backupPath`), which post
 * holds to that shape first (isScratchPath, state-checks.ts).
 */
export const SCRATCH_FILE = 'last-good.json';

/** A new scratch dir for this job (made by ScratchCopy.write, or by whoever needs a private dir for a run). */
export function newScratchDir(runnerTemp: string): string {
  return path.join(runnerTemp, `codex-auth-${randomHex(6)}`);
}

/** The name of a dir newScratchDir makes: post holds paths from state to it (state-checks.ts). */
export const SCRATCH_DIR_NAME = /^codex-auth-[0-9a-f]{12}$/;

/** What main restored: what "Codex refreshed it" is measured against. */
interface Restored {
  hash: string;
  lastRefresh: number | null;
  accountId: string;
}

export class ScratchCopy {
  private constructor(
    /** the copy's path, saved as state for post */
    readonly path: string,
    private readonly authPath: string,
    private readonly restored: Restored,
  ) {}

  /** Copies `auth`, which main just put at `authPath`: no rename or fsync needed, it only has to outlive main. */
  static async write(scratchDir: string, authPath: string, auth: AuthFile): Promise<ScratchCopy> {
    const file = path.join(scratchDir, SCRATCH_FILE);
    await fs.mkdir(scratchDir, { recursive: true, mode: 0o700 });
    await fs.writeFile(file, auth.text, { mode: 0o600, flag: 'wx' });
    return new ScratchCopy(file, authPath, { hash: auth.hash, lastRefresh: auth.info.lastRefresh, accountId: auth.info.accountId });
  }

  /**
   * After Codex ran in main (`prompt`, or `refresh: force`): when it refreshed auth.json, that file becomes
   * the copy. Returns whether it did.
   */
  async updateAfterCodex(): Promise<boolean> {
    const current = await readCredentialFile(this.authPath).catch(() => null);
    const decision = decidePersist(this.restored, current);
    if (decision.kind !== 'changed') return false;
    await fs.writeFile(this.path, decision.auth.text, { mode: 0o600 });
    return true;
  }
}

/** post: reads back the copy main kept; null when it is gone. */
export async function readScratchCopy(file: string): Promise<AuthFile | null> {
  const text = await readCredentialFile(file).catch(() => null);
  return text === null ? null : parseAuthFile(text, 'The copy of auth.json kept by main');
}

/** post: removes the copy with its scratch dir. */
export async function removeScratchCopy(file: string): Promise<void> {
  await fs.rm(path.dirname(file), { recursive: true, force: true });
}
