import type { StoreKind } from '../inputs.js';
import { RunnerStore } from './runner.js';
import type { Store, StoreDeps } from './store.js';

/** Stores off the runner are loaded on demand: the runner path never loads the cache SDK or an HTTP client. */
export async function createStore(kind: StoreKind, deps: StoreDeps): Promise<Store> {
  switch (kind) {
    case 'runner':
      return new RunnerStore(deps);
    case 'cache':
      return new (await import('./cache.js')).CacheStore(deps);
    case 'command':
      return new (await import('./command.js')).CommandStore(deps);
    case 'github-secret':
      return new (await import('./github-secret.js')).GithubSecretStore(deps);
    case 'gitlab-variable':
      return new (await import('./gitlab-variable.js')).GitlabVariableStore(deps);
  }
}
