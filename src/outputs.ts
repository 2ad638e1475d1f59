import * as core from '@actions/core';
import { iso } from './auth-file.js';

/**
 * The outputs action.yml declares, set here and nowhere else: one typed setter a name, so each output's
 * format lives in one place. (The CLI bundle resolves @actions/core to src/cli/core-host.ts: the same calls
 * print its outputs there.)
 */
export const output = {
  /** where auth.json is (also exported as CODEX_HOME) */
  codexHome: (dir: string) => core.setOutput('codex-home', dir),
  /** where auth.json came from: a store, the seed, or the login mode */
  source: (source: string) => core.setOutput('source', source),
  /** RFC 3339, '' when unknown */
  lastRefresh: (ms: number | null) => core.setOutput('last-refresh', iso(ms)),
  stale: (stale: boolean) => core.setOutput('stale', String(stale)),
  refreshed: (refreshed: boolean) => core.setOutput('refreshed', String(refreshed)),
  exitCode: (code: number) => core.setOutput('exit-code', String(code)),
  finalMessage: (text: string) => core.setOutput('final-message', text),
  /** seconds with ms precision; null when no lock is taken at all (api-key and access-token modes): '0' */
  lockWait: (waitedMs: number | null) => core.setOutput('lock-wait-seconds', waitedMs === null ? '0' : (waitedMs / 1000).toFixed(3)),
  /** the access token's expiry, RFC 3339; '' when it has none that the client can see */
  expiresAt: (ms: number | null) => core.setOutput('expires-at', iso(ms)),
};
