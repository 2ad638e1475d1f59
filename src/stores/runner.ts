import { parseAuthFile, readCredentialFile, writeCredentialFile, type AuthFile } from '../auth-file.js';
import type { PersistResult, Store, StoreDeps, Stored } from './store.js';

/** `store: runner`: auth.json stays in `codex-home` on a persistent runner; Codex refreshes it in place. */
export class RunnerStore implements Store {
  readonly kind = 'runner' as const;
  readonly inPlace = true;

  constructor(private readonly deps: Pick<StoreDeps, 'authPath'>) {}

  async restore(): Promise<Stored | null> {
    const text = await readCredentialFile(this.deps.authPath);
    if (text === null) return null;
    const auth = parseAuthFile(
      text,
      `The stored ${this.deps.authPath} (delete it to seed again from \`auth-json\`)`,
    );
    return { auth, version: auth.hash };
  }

  /** The file is the store: write only when its bytes differ (post putting back the last good copy). */
  async persist(next: AuthFile): Promise<PersistResult> {
    // A path that cannot be read (a link, a directory) is replaced: the rename never follows it.
    const current = await readCredentialFile(this.deps.authPath).catch(() => null);
    if (current === next.text) return 'unchanged';
    await writeCredentialFile(this.deps.authPath, next.text);
    return 'written';
  }
}
