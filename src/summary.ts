import * as core from '@actions/core';
import { iso, maskEmail } from './auth-file.js';
import { errorMessage } from './errors.js';
import { diagnose, diagnoseAccessToken } from './diagnose.js';
import type { ExecResult } from './codex.js';
import type { Inputs } from './inputs.js';
import { storeName } from './stores/store.js';

/** Where the user must put a fresh auth.json, in words, for the failure hints. */
export function seedLocation(inputs: Pick<Inputs, 'store' | 'secretName' | 'codexHome' | 'gitlabVariable'>): string {
  switch (inputs.store) {
    case 'runner':
      return `the \`auth-json\` secret (and delete ${inputs.codexHome}/auth.json on the runner, or let the newer seed replace it)`;
    case 'github-secret':
      return `the secret \`${inputs.secretName}\``;
    case 'command':
      return 'your secret manager (what `restore-command` reads)';
    case 'cache':
      return 'the `auth-json` secret (a newer seed replaces the cached copy)';
    case 'gitlab-variable':
      return `the GitLab CI/CD variable \`${inputs.gitlabVariable}\``;
  }
}

/** A failed codex run: the step fails with the diagnosis, which also goes to the job summary. */
export async function reportCodexFailure(result: ExecResult, inputs: Inputs): Promise<void> {
  const diagnosis =
    inputs.mode === 'access-token' ? diagnoseAccessToken(result.outputTail) : diagnose(result.outputTail, seedLocation(inputs), { withheld: inputs.lockScope === 'refresh' });
  const message = diagnosis ? `codex exec failed (exit ${result.exitCode}). ${diagnosis.cause} ${diagnosis.fix}` : `codex exec failed (exit ${result.exitCode}); its output is above.`;
  core.setFailed(message);
  if (diagnosis) {
    await core.summary
      .addHeading('Codex auth: codex exec failed', 3)
      .addRaw(`${diagnosis.cause}\n\n**What to do:** ${diagnosis.fix}\n`, true)
      .write()
      .catch((error: unknown) => core.warning(`Could not write the job summary: ${errorMessage(error)}`));
  }
}

export interface PostReport {
  source: string;
  store: Inputs['store'];
  accountId: string;
  email: string | null;
  lockWaitMs: number;
  /** `file`, `github` or `none` */
  lock: string;
  /** what post did with the refreshed file, in a few words */
  persisted: string;
  /** last_refresh and next refresh of the file that is kept */
  lastRefresh: number | null;
  nextRefresh: number | null;
  refreshed: boolean;
  /** the access token's `exp` of the file that is kept (ms); null when unknown */
  accessExpires?: number | null;
  /** `lock-scope: refresh`: how long main held the lock; null for `lock-scope: job` */
  lockHeldMs?: number | null;
}

function scopeRow(report: PostReport): string {
  if (report.lockHeldMs !== null && report.lockHeldMs !== undefined) return `refresh: the lock was held ${(report.lockHeldMs / 1000).toFixed(1)} s, by main only`;
  return report.lock === 'none' ? 'job (no lock)' : 'job: the lock was held from main until post';
}

export async function writePostSummary(report: PostReport, now: number): Promise<void> {
  const age = report.lastRefresh === null ? 'unknown' : `${((now - report.lastRefresh) / 86400000).toFixed(1)} days ago`;
  const rows = [
    ['Source', report.source],
    ['Store', storeName(report.store)],
    ['Account', `${maskEmail(report.email)} (${report.accountId})`],
    ['Last refresh', `${iso(report.lastRefresh) || 'unknown'} (${age})`],
    ['Next refresh due', iso(report.nextRefresh) || 'unknown'],
    ['Refreshed in this job', report.refreshed ? 'yes' : 'no'],
    ['Persisted', report.persisted],
    ['Access token expires', iso(report.accessExpires ?? null) || 'unknown'],
    ['Lock', report.lock === 'none' ? 'none' : `${report.lock} lock, waited ${(report.lockWaitMs / 1000).toFixed(1)} s`],
    ['Lock scope', scopeRow(report)],
  ];
  await core.summary
    .addHeading('Codex auth', 3)
    .addTable([[{ data: 'What', header: true }, { data: 'Value', header: true }], ...rows])
    .write();
}

