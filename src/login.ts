import * as core from '@actions/core';
import type { AccessToken } from './access-token.js';
import type { RunContext } from './context.js';
import { ensurePrivateDir } from './auth-file.js';
import type { Inputs } from './inputs.js';
import { systemClock, type Clock, type Log } from './log.js';
import { output } from './outputs.js';
import { saveMainState, type MainState } from './state.js';

/**
 * API-key and access-token modes: Codex signs itself in with the secret on stdin. Nothing to store and
 * no refresh to serialize, so no store and no lock; cleanup removes Codex's own file at the end.
 * An access token is read before Codex runs (shape, expiry), and a refusal is explained for CI.
 */
export async function loginWithSecret(ctx: RunContext, inputs: Inputs, prompt: string, log: Log, clock: Clock = systemClock): Promise<void> {
  const token = inputs.mode === 'access-token' ? await inspect(inputs.accessToken, clock, log) : null;
  const { ensureCodex, codexLogin } = await import('./codex.js');
  await ensurePrivateDir(inputs.codexHome);
  const state: MainState = { v: 1, lock: { kind: 'none' }, lockWaitMs: 0, loginHome: { codexHome: inputs.codexHome, cleanup: inputs.cleanup } };
  saveMainState(state);
  const codex = await ensureCodex(inputs.codexVersion, ctx, log);
  const apiKey = inputs.mode === 'api-key';
  if (token) await loginWithAccessToken(codex, inputs, token);
  else await codexLogin(codex, inputs.codexHome, '--with-api-key', inputs.openaiApiKey);
  log.info(`Codex is signed in with ${apiKey ? 'the API key' : 'the access token'} in ${inputs.codexHome}.`);
  core.exportVariable('CODEX_HOME', inputs.codexHome);
  output.codexHome(inputs.codexHome);
  output.source(inputs.mode);
  output.stale(false);
  output.lastRefresh(null);
  output.refreshed(false);
  output.lockWait(null);
  if (!prompt) {
    if (token) await (await import('./access-token-report.js')).reportCheck(token, log);
    return;
  }
  const { runCodexStep } = await import('./codex-step.js');
  await runCodexStep({ ctx, inputs, codex, prompt, state, refreshed: false });
}

/** Shape and expiry, before Codex runs; `expires-at` as soon as it is known. */
async function inspect(accessToken: string, clock: Clock, log: Log): Promise<AccessToken> {
  const { inspectAccessToken } = await import('./access-token.js');
  const token = inspectAccessToken(accessToken, clock.now(), (message) => log.warning(message));
  output.expiresAt(token.kind === 'agent-identity' ? token.expiresAt : null);
  return token;
}

/** `codex login --with-access-token`; a refusal becomes the explained error, also in the job summary. */
async function loginWithAccessToken(codex: string, inputs: Inputs, token: AccessToken): Promise<void> {
  const { codexLogin, CodexLoginError } = await import('./codex.js');
  try {
    await codexLogin(codex, inputs.codexHome, '--with-access-token', inputs.accessToken);
  } catch (error) {
    if (!(error instanceof CodexLoginError)) throw error;
    const { loginFailure } = await import('./access-token.js');
    const failure = loginFailure(error.exitCode, error.reason);
    await (await import('./access-token-report.js')).reportRefusal(token, failure.message);
    throw failure;
  }
}
