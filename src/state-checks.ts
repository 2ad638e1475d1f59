import path from 'node:path';
import type { RunContext } from './context.js';
import type { Inputs } from './inputs.js';
import { lockFilePath, type LockHandle } from './locks/lock.js';
import { SCRATCH_DIR_NAME, SCRATCH_FILE } from './scratch-copy.js';
import type { MainState } from './state.js';

/**
 * DESIGN §3.11: post trusts nothing the agent could have written, and state is such a thing (the agent, or a
 * process it left behind, can append to the runner's state file). Main re-saves its state when Codex exits;
 * these checks are the backstop. Each claim of state is held against what main would have written for this
 * job, derived from the inputs and the run's context, never from state itself:
 * - codex-home is the input's, auth.json is in it, and the store is the input's;
 * - main's scratch copy lies in `RUNNER_TEMP/codex-auth-<hex>/`;
 * - the lock is this job's own: its file next to auth.json, or a ticket in `lock-repository` under this
 *   stream's key whose name carries this run's id, attempt and job.
 * (The API URL is never state's to say: post takes it from the run's context.)
 */
export type Expected = Pick<Inputs, 'codexHome' | 'store' | 'lock' | 'key' | 'lockRepository'> & { ctx: RunContext };

/** Why `state` is not what main would have written for this job; null when it is. */
export async function distrustState(state: MainState, expected: Expected): Promise<string | null> {
  const lock = await distrustLock(state.lock, expected);
  if (lock) return lock;
  if (state.loginHome && state.loginHome.codexHome !== expected.codexHome) return `its codex-home ${state.loginHome.codexHome} is not the input's (${expected.codexHome})`;
  const ready = state.ready;
  if (!ready) return null;
  // `lock-scope: refresh` on the runner store: the job ran in a private home beside main's scratch (DESIGN §3.10)
  const privateHome = state.shared && expected.store === 'runner' && isScratchPath(ready.codexHome, expected.ctx.runnerTemp, 'home');
  if (ready.codexHome !== expected.codexHome && !privateHome) return `its codex-home ${ready.codexHome} is not the input's (${expected.codexHome})`;
  if (ready.authPath !== path.join(ready.codexHome, 'auth.json')) return `its auth.json path ${ready.authPath} is not in codex-home`;
  if (ready.store !== expected.store) return `its store \`${ready.store}\` is not the input's (\`${expected.store}\`)`;
  if (!isScratchPath(ready.backupPath, expected.ctx.runnerTemp, SCRATCH_FILE)) return `its scratch path ${ready.backupPath} is not in RUNNER_TEMP/codex-auth-*`;
  return null;
}

/** Why `handle` is not this job's own lock; null when it is (or when there is nothing to release). */
export async function distrustLock(handle: LockHandle, expected: Expected): Promise<string | null> {
  switch (handle.kind) {
    case 'none':
      return null;
    case 'file': {
      const own = lockFilePath(expected.codexHome);
      if (expected.lock !== 'file') return `it names a file lock, but this step's lock is \`${expected.lock}\``;
      return handle.path === own ? null : `its lock file ${handle.path} is not this job's (${own})`;
    }
    case 'github': {
      if (expected.lock !== 'github') return `it names a github lock, but this step's lock is \`${expected.lock}\``;
      if (handle.repository !== expected.lockRepository) return `its lock repository ${handle.repository} is not \`lock-repository\` (${expected.lockRepository})`;
      const { parseTicket, REF_NAMESPACE } = await import('./locks/github.js');
      const ticket = parseTicket(handle.ref, `refs/${REF_NAMESPACE}/${expected.key}/`);
      const { ctx } = expected;
      // A very long name drops the job (then the repository) from the ticket: what it keeps must match.
      const ours = ticket && ticket.runId === ctx.runId && ticket.runAttempt === ctx.runAttempt && (ticket.job === '' || ticket.job === ctx.job.slice(0, 64)) && (ticket.repository === '' || ticket.repository === ctx.repository);
      return ours ? null : `its lock ticket ${handle.ref} is not one this job (run ${ctx.runId}, attempt ${ctx.runAttempt}, job ${ctx.job}) queued for \`key\` ${expected.key}`;
    }
  }
}

/** True for `<runnerTemp>/codex-auth-<hex>/<file>` exactly: where main puts its scratch copies. */
export function isScratchPath(candidate: string, runnerTemp: string, file: string): boolean {
  const dir = path.basename(path.dirname(candidate));
  return SCRATCH_DIR_NAME.test(dir) && candidate === path.join(runnerTemp, dir, file);
}
