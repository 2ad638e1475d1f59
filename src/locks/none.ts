import type { Acquired, Lock } from './lock.js';

/** `lock: none`: the user serializes runs some other way (e.g. `concurrency:`). */
export class NoLock implements Lock {
  async acquire(): Promise<Acquired> {
    return { handle: { kind: 'none' }, waitedMs: 0 };
  }

  async release(): Promise<void> {}
}
