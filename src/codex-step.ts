import * as core from '@actions/core';
import { stat } from 'node:fs/promises';
import { runCodexExec } from './codex.js';
import { UserError } from './errors.js';
import { output } from './outputs.js';

export { ensureCodex } from './codex.js';
import type { RunContext } from './context.js';
import type { Inputs } from './inputs.js';
import type { ScratchCopy } from './scratch-copy.js';
import { saveMainState, type MainState } from './state.js';

/**
 * main's own `codex exec` (with `prompt`): runs it, sets `exit-code`, `final-message` and `refreshed`, and
 * fails the step with a diagnosis when Codex failed. `refreshed`: main's scratch copy, updated when Codex
 * rewrote auth.json (which says whether it did); or the answer itself where main keeps no copy (the login
 * modes: false; `lock-scope: refresh`: whether main refreshed ahead).
 */
export async function runCodexStep(options: { ctx: RunContext; inputs: Inputs; codex: string; prompt: string; state: MainState; refreshed: ScratchCopy | boolean }): Promise<void> {
  const { ctx, inputs, codex, prompt } = options;
  await assertWorkingDirectory(inputs.workingDirectory);
  const agent = inputs.safetyStrategy === 'none' ? null : await (await import('./codex/agent-user.js')).prepareAgentRun({ strategy: inputs.safetyStrategy, ctx, codex, codexHome: inputs.codexHome, workingDirectory: inputs.workingDirectory, log: core });
  let result;
  try {
    result = await runCodexExec({ codex, codexHome: inputs.codexHome, prompt, args: inputs.codexArgs, cwd: inputs.workingDirectory, runnerTemp: ctx.runnerTemp, runAs: agent?.runAs });
  } finally {
    // The runner keeps a name's last value: saved again the moment Codex exits, main's state supersedes any
    // the agent appended to the state file (DESIGN §3.11; post's checks are the backstop for later writes).
    saveMainState(options.state);
    // before the scratch copy's update: the refreshed file is back in codex-home only once the agent is done
    await agent?.finish();
  }
  const { refreshed } = options;
  output.refreshed(typeof refreshed === 'boolean' ? refreshed : await refreshed.updateAfterCodex());
  output.exitCode(result.exitCode);
  output.finalMessage(result.finalMessage);
  if (result.exitCode !== 0) {
    const { reportCodexFailure } = await import('./summary.js');
    await reportCodexFailure(result, inputs);
  }
}

/** A missing directory would otherwise surface as "Failed to start …/codex", which sends people after the CLI. */
async function assertWorkingDirectory(dir: string): Promise<void> {
  const found = await stat(dir).catch((error: NodeJS.ErrnoException) => error);
  if (found instanceof Error) {
    throw new UserError(`Input \`working-directory\` is ${dir}, which ${found.code === 'ENOENT' ? 'does not exist' : `cannot be used (${found.code ?? found.message})`}: Codex runs there. Create it in an earlier step (check out the repository first), or fix \`working-directory\` (relative paths start at the workspace).`);
  }
  if (!found.isDirectory()) throw new UserError(`Input \`working-directory\` is ${dir}, which is not a directory: Codex runs there. Point \`working-directory\` at a directory (relative paths start at the workspace).`);
}
