import type { LockKind } from '../inputs.js';
import type { Lock, LockDeps, LockHandle, ReleaseDeps } from './lock.js';
import { NoLock } from './none.js';

/** Backends are loaded on demand, so a path pays only for the one it uses. */
export async function createLock(kind: LockKind, deps: LockDeps): Promise<Lock> {
  switch (kind) {
    case 'none':
      return new NoLock();
    case 'file':
      return new (await import('./file.js')).FileLock(deps);
    case 'github':
      return new (await import('./github.js')).GithubLock(deps);
  }
}

/** Post's release of the handle main saved: only the handle says what is released, and where. */
export async function releaseLock(handle: LockHandle, deps: ReleaseDeps): Promise<void> {
  switch (handle.kind) {
    case 'none':
      return;
    case 'file':
      return (await import('./file.js')).releaseFileLock(handle, deps);
    case 'github':
      return (await import('./github.js')).releaseTicket(handle, deps);
  }
}
