import { UserError } from '../errors.js';
import type { Acquired, Lock, LockDeps } from './lock.js';

// Placeholder until this backend lands: fails loudly rather than pretending.
export class GithubLock implements Lock {
  constructor(_deps: LockDeps) {}
  async acquire(): Promise<Acquired> {
    throw new UserError('`lock: github` is not available in this version yet: use `lock: file` or `lock: none`.');
  }
  async release(): Promise<void> {}
}
