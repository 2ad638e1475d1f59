import * as core from '@actions/core';
import type { RunContext } from './context.js';
import { ensurePrivateDir } from './auth-file.js';
import type { Inputs } from './inputs.js';
import type { Log } from './log.js';
import { saveMainState, type MainState } from './state.js';

/**
 * API-key and access-token modes: Codex signs itself in with the secret on stdin. Nothing to store and
 * no refresh to serialize, so no store and no lock; cleanup removes Codex's own file at the end.
 */
export async function loginWithSecret(ctx: RunContext, inputs: Inputs, prompt: string, log: Log): Promise<void> {
  const { ensureCodex, codexLogin } = await import('./codex.js');
  await ensurePrivateDir(inputs.codexHome);
  const state: MainState = { v: 1, lock: { kind: 'none' }, lockWaitMs: 0, loginHome: { codexHome: inputs.codexHome, cleanup: inputs.cleanup } };
  saveMainState(state);
  const codex = await ensureCodex(inputs.codexVersion, ctx, log);
  const apiKey = inputs.mode === 'api-key';
  await codexLogin(codex, inputs.codexHome, apiKey ? '--with-api-key' : '--with-access-token', apiKey ? inputs.openaiApiKey : inputs.accessToken);
  log.info(`Codex is signed in with ${apiKey ? 'the API key' : 'the access token'} in ${inputs.codexHome}.`);
  core.exportVariable('CODEX_HOME', inputs.codexHome);
  core.setOutput('codex-home', inputs.codexHome);
  core.setOutput('source', inputs.mode);
  core.setOutput('stale', 'false');
  core.setOutput('last-refresh', '');
  core.setOutput('refreshed', 'false');
  core.setOutput('lock-wait-seconds', '0');
  if (!prompt) return;
  const { runCodexStep } = await import('./codex-step.js');
  await runCodexStep({ ctx, inputs, codex, prompt, state, refreshed: async () => false });
}
