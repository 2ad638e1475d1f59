import * as core from '@actions/core';
import path from 'node:path';
import { isStale, iso, maskEmail, ensurePrivateDir, type AuthFile } from './auth-file.js';
import { readContext, type RunContext } from './context.js';
import { defaultDeps, type MainDeps } from './deps.js';
import { errorMessage, stackOf, UserError } from './errors.js';
import { readInputs, type Inputs } from './inputs.js';
import { createLock } from './locks/create-lock.js';
import type { Acquired, Lock } from './locks/lock.js';
import { output } from './outputs.js';
import { provisionAuth, type Provisioned } from './provision.js';
import { assertSupportedPlatform } from './platform.js';
import { newScratchDir } from './scratch-copy.js';
import { saveMainState, type MainState } from './state.js';
import { createStore } from './stores/create-store.js';
import { assertTrusted } from './trust.js';

/** main: inputs → trust → lock → store → auth file → codex → outputs. */
export async function runMain(deps: MainDeps = defaultDeps()): Promise<void> {
  try {
    await main(deps);
  } catch (error) {
    const stack = stackOf(error);
    if (stack) core.debug(stack);
    core.setFailed(errorMessage(error));
  }
}

async function main(deps: MainDeps): Promise<void> {
  assertSupportedPlatform();
  const ctx = (deps.context ?? readContext)(deps.env);
  const inputs = readInputs(ctx, deps.env, deps.inputOptions);
  await assertTrusted(ctx, inputs.allowUntrusted);
  const prompt = await readPrompt(inputs);
  if (inputs.mode !== 'chatgpt') {
    const { loginWithSecret } = await import('./login.js');
    return loginWithSecret(ctx, inputs, prompt, deps.log);
  }
  if (inputs.store === 'runner' && ctx.runnerEnvironment === 'github-hosted') {
    deps.log.warning('`store: runner` on a GitHub-hosted runner: the runner is discarded after the job, and the refreshed auth.json with it. Use `store: cache`, `github-secret` or `command` on ephemeral runners.');
  }
  const { state, lock, acquiredAt } = await takeLock(ctx, inputs, deps);
  if (inputs.lockScope === 'refresh') {
    const { shareStream } = await import('./shared-scope.js');
    const job = await shareStream({ ctx, inputs, state, lock, acquiredAt, log: deps.log, clock: deps.clock });
    publishAuth(job.codexHome, job.auth, job.source, deps);
    if (!prompt) return output.refreshed(job.refreshedAhead);
    const { ensureCodex, runCodexStep } = await import('./codex-step.js');
    const codex = await ensureCodex(inputs.codexVersion, ctx, deps.log);
    return runCodexStep({ ctx, inputs: { ...inputs, codexHome: job.codexHome }, codex, prompt, state, refreshed: job.refreshedAhead });
  }
  const provisioned = await restoreAuth(ctx, inputs, state, deps);
  let auth = provisioned.auth;
  if (inputs.refresh === 'force') {
    const { rotateNow } = await import('./refresh.js');
    auth = await rotateNow({ ctx, inputs, authPath: provisioned.authPath, log: deps.log });
    await provisioned.scratch.updateAfterCodex();
  }
  publishAuth(inputs.codexHome, auth, provisioned.source, deps);
  if (!prompt) {
    output.refreshed(inputs.refresh === 'force');
    return;
  }
  const { ensureCodex, runCodexStep } = await import('./codex-step.js');
  const codex = await ensureCodex(inputs.codexVersion, ctx, deps.log);
  await runCodexStep({ ctx, inputs, codex, prompt, state, refreshed: provisioned.scratch });
}

/** Takes the lock and saves its handle as state at once, so that post releases it whatever happens next. */
async function takeLock(ctx: RunContext, inputs: Inputs, { log, clock }: MainDeps): Promise<{ state: MainState; lock: Lock; acquiredAt: number }> {
  await ensurePrivateDir(inputs.codexHome);
  const lock = await createLock(inputs.lock, { ctx, log, clock, codexHome: inputs.codexHome, key: inputs.key, lockRepository: inputs.lockRepository, githubToken: inputs.githubToken });
  const acquired = await acquireUntilCancelled(lock, inputs.lockTimeoutMs);
  // loginHome: post cleans up codex-home even if main fails between writing auth.json and saving `ready`
  const state: MainState = { v: 1, lock: acquired.handle, lockWaitMs: acquired.waitedMs, loginHome: { codexHome: inputs.codexHome, cleanup: inputs.cleanup } };
  saveMainState(state);
  output.lockWait(acquired.waitedMs);
  const acquiredAt = clock.now();
  if (acquired.handle.kind !== 'none') log.info(`Holding the ${acquired.handle.kind} lock since ${new Date(acquiredAt).toISOString()} (waited ${(acquired.waitedMs / 1000).toFixed(1)} s; \`lock-scope: ${inputs.lockScope}\`).`);
  return { state, lock, acquiredAt };
}

/** Restores from the store (or seeds), writes auth.json, and saves what post needs as state. */
async function restoreAuth(ctx: RunContext, inputs: Inputs, state: MainState, { log, clock }: MainDeps): Promise<Provisioned> {
  const authPath = path.join(inputs.codexHome, 'auth.json');
  const scratchDir = newScratchDir(ctx.runnerTemp);
  const store = await createStore(inputs.store, { ctx, inputs, log, clock, authPath });
  const provisioned = await provisionAuth({ store, seedText: inputs.authJson, authPath, scratchDir, log });
  const { info } = provisioned.auth;
  state.ready = {
    codexHome: inputs.codexHome,
    authPath,
    restoredHash: provisioned.fileHash,
    restoredLastRefresh: info.lastRefresh,
    store: inputs.store,
    storeVersion: provisioned.storeVersion,
    source: provisioned.source,
    cleanup: inputs.cleanup,
    backupPath: provisioned.scratch.path,
    accountId: info.accountId,
    email: info.email,
    accessExpires: info.accessExpires,
  };
  saveMainState(state);
  return provisioned;
}

/** CODEX_HOME for later steps, and the outputs that describe the auth.json in use. */
function publishAuth(codexHome: string, auth: AuthFile, source: string, { log, clock }: MainDeps): void {
  const { info } = auth;
  const stale = isStale(info, clock.now());
  core.exportVariable('CODEX_HOME', codexHome);
  output.codexHome(codexHome);
  output.source(source);
  output.lastRefresh(info.lastRefresh);
  output.stale(stale);
  output.expiresAt(info.accessExpires);
  const expires = info.accessExpires === null ? 'the access token has no expiry' : `the access token expires ${iso(info.accessExpires)}`;
  log.info(`auth.json for ${maskEmail(info.email)} (account ${info.accountId}) is in ${codexHome}; last refresh ${iso(info.lastRefresh) || 'unknown'}; ${expires}${stale ? '; Codex will refresh it on its next request' : ''}.`);
}

/** A job cancelled while it waits (the runner sends SIGINT, then SIGTERM) leaves the queue, not a ticket. */
async function acquireUntilCancelled(lock: Lock, timeoutMs: number): Promise<Acquired> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new UserError('Cancelled while waiting for the lock.'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await lock.acquire({ timeoutMs, signal: abort.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function readPrompt(inputs: { prompt: string; promptFile: string }): Promise<string> {
  if (!inputs.promptFile) return inputs.prompt;
  const { readFile } = await import('node:fs/promises');
  return readFile(inputs.promptFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new Error(`Cannot read \`prompt-file\` ${inputs.promptFile}: ${error.code ?? error.message}`);
  });
}
