import * as core from '@actions/core';
import { iso, nextRefreshAt, type AuthFile, type AuthInfo } from './auth-file.js';
import { ensureCodex } from './codex.js';
import { refreshThroughCodex, type AppServerRefresh } from './codex/app-server.js';
import type { RunContext } from './context.js';
import { diagnose } from './diagnose.js';
import { errorMessage, UserError } from './errors.js';
import type { Inputs, RefreshMode } from './inputs.js';
import type { Log } from './log.js';
import { seedLocation } from './summary.js';

/**
 * DESIGN §3.10: a `lock-scope: refresh` job must not need a refresh while it runs. Codex refreshes when the
 * access token expires within 5 minutes (or, without `exp`, 8 days after `last_refresh`): so the lock holder
 * refreshes ahead when that moment falls within `min-validity` from now. `force` always does.
 */
export function mustRefreshAhead(info: AuthInfo, now: number, minValidityMs: number, refresh: RefreshMode): boolean {
  return refresh === 'force' || nextRefreshAt(info) < now + minValidityMs;
}

/** `2026-03-01T10:00:00.000Z (in 6.9 days)`, for logs and the summary. */
export function expiryText(info: AuthInfo, now: number): string {
  if (info.accessExpires === null) return 'unknown (the access token has no `exp`)';
  const ms = info.accessExpires - now;
  const span = Math.abs(ms) >= 86_400_000 ? `${(Math.abs(ms) / 86_400_000).toFixed(1)} days` : Math.abs(ms) >= 3_600_000 ? `${(Math.abs(ms) / 3_600_000).toFixed(1)} h` : `${Math.round(Math.abs(ms) / 60_000)} min`;
  return `${iso(info.accessExpires)} (${ms >= 0 ? `in ${span}` : `${span} ago`})`;
}

/** The failure of a refresh that did not happen, in the words of a failed `codex exec`: what, why, what to do. */
export function refreshFailureMessage(result: Extract<AppServerRefresh, { ok: false }>, inputs: Parameters<typeof seedLocation>[0]): { message: string; cause: string; fix: string } {
  const said = result.diagnostics ? ` Codex said: ${result.diagnostics.replace(/\n/g, ' | ')}` : '';
  const head = `Codex did not refresh the tokens (${result.why}).`;
  const diagnosis = diagnose(result.diagnostics, seedLocation(inputs));
  if (diagnosis && /status=401/.test(result.diagnostics)) {
    const cause = 'The token endpoint refused the stored refresh token (already used, expired or revoked): this token family is dead. Nothing was persisted: the store keeps its copy.';
    return { message: `${head} ${cause} ${diagnosis.fix}`, cause, fix: diagnosis.fix };
  }
  if (diagnosis) return { message: `${head} ${diagnosis.cause} ${diagnosis.fix}`, cause: diagnosis.cause, fix: diagnosis.fix };
  const cause = `Nothing changed: auth.json and the store keep their copy.${said}`;
  const fix = /status=5\d\d/.test(result.diagnostics)
    ? 'The token endpoint failed (a server error): run the job again later; the stored refresh token is still good.'
    : 'Run the job again; if it fails the same way, check that `codex-args` and `codex-version` give a Codex that can reach the token endpoint.';
  return { message: `${head} ${cause} ${fix}`, cause, fix };
}

/**
 * `refresh: force`, and the refresh ahead of `lock-scope: refresh`: rotates the tokens in `authPath` through
 * Codex's app-server, without a model turn. A refresh that did not happen fails the step with a diagnosis,
 * and leaves `authPath` (and so the store) as it was.
 */
export async function rotateNow(options: { ctx: RunContext; inputs: Inputs; authPath: string; log: Log }): Promise<AuthFile> {
  const { ctx, inputs, authPath, log } = options;
  const codex = await ensureCodex(inputs.codexVersion, ctx, log);
  log.info('Refreshing the tokens through Codex (app-server, account/read with refreshToken: no model turn).');
  const result = await refreshThroughCodex({ codex, authPath, codexArgs: inputs.codexArgs, runnerTemp: ctx.runnerTemp });
  if (!result.ok) {
    const failure = refreshFailureMessage(result, inputs);
    await core.summary
      .addHeading('Codex auth: refresh failed', 3)
      .addRaw(`${failure.cause}\n\n**What to do:** ${failure.fix}\n`, true)
      .write()
      .catch((error: unknown) => log.warning(`Could not write the job summary: ${errorMessage(error)}`));
    throw new UserError(failure.message);
  }
  log.info(`Codex rotated the tokens: last_refresh ${iso(result.auth.info.lastRefresh)}; the new access token expires ${expiryText(result.auth.info, Date.now())}.`);
  return result.auth;
}
