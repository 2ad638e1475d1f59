import * as core from '@actions/core';
import { expiresAtOutput, type AccessToken } from './access-token.js';
import { errorMessage } from './errors.js';
import type { Log } from './log.js';

/** The token in words, without any of it: its shape and what is known of its expiry. */
function describe(token: AccessToken): { shape: string; expiry: string } {
  return token.kind === 'personal'
    ? { shape: 'Codex access token (`at-…`)', expiry: 'checked by the workspace at each sign-in (not visible to the client)' }
    : { shape: 'agent-identity JWT', expiry: expiresAtOutput(token) };
}

async function writeSummary(rows: string[][], extra = ''): Promise<void> {
  await core.summary
    .addHeading('Codex auth: access token', 3)
    .addTable([[{ data: 'What', header: true }, { data: 'Value', header: true }], ...rows])
    .addRaw(extra, true)
    .write()
    .catch((error: unknown) => core.warning(`Could not write the job summary: ${errorMessage(error)}`));
}

/** The scheduled check (no `prompt`): Codex accepted the token; post removes the login. */
export async function reportCheck(token: AccessToken, log: Log): Promise<void> {
  const { shape, expiry } = describe(token);
  const checked = token.kind === 'personal' ? 'the workspace accepted it (whoami)' : "its signature verified against the workspace's keys";
  log.info(`\`access-token\` is valid: ${checked}. Expires: ${expiry}. No \`prompt\`: nothing else to run; the login is removed at the end of the job.`);
  await writeSummary([
    ['Token', shape],
    ['Sign-in', `accepted: ${checked}`],
    ['Expires', expiry],
  ]);
}

/** Refused at sign-in: the same explanation in the job summary. */
export async function reportRefusal(token: AccessToken, message: string): Promise<void> {
  const { shape, expiry } = describe(token);
  await writeSummary(
    [
      ['Token', shape],
      ['Sign-in', 'refused'],
      ['Expires', expiry],
    ],
    `\n${message}\n`,
  );
}
