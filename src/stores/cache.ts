import { UserError } from '../errors.js';
import type { PersistResult, Store, StoreDeps, Stored } from './store.js';

// Placeholder until this store lands: fails loudly rather than pretending.
export class CacheStore implements Store {
  readonly kind = 'cache' as const;
  readonly inPlace = false;
  constructor(_deps: StoreDeps) {}
  async restore(): Promise<Stored | null> {
    throw new UserError('`store: cache` is not available in this version yet.');
  }
  async persist(): Promise<PersistResult> {
    throw new UserError('`store: cache` is not available in this version yet.');
  }
}
