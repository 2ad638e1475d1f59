import { repoPath, type GithubApi, type RequestOptions } from '../github.js';

/** The run attempt that holds (or queues for) a lock, as its owner recorded it. */
export interface RunAttempt {
  repository: string;
  runId: string;
  runAttempt: string;
}

/**
 * What the runs API says of a run attempt: still going, completed (with its conclusion), missing (404: gone,
 * or not visible to the token), or unreadable (another status the caller accepted).
 */
export type RunAttemptStatus =
  | { state: 'running' }
  | { state: 'completed'; conclusion: string | null }
  | { state: 'missing' }
  | { state: 'unreadable'; status: number };

/** True when the attempt's fields can go into a runs API path as they are (an owner is untrusted input). */
export function canAskAbout(run: RunAttempt): boolean {
  return /^[\w.-]+\/[\w.-]+$/.test(run.repository) && /^\d+$/.test(run.runId) && /^\d+$/.test(run.runAttempt);
}

/**
 * The one "has this run finished?" question of both locks: a conditional GET of
 * `…/actions/runs/{id}/attempts/{n}` (a 304 is not charged). `unreadable` lists the statuses besides 404
 * that mean "cannot tell" rather than an error. Call only when canAskAbout(run).
 */
export async function runAttemptStatus(api: GithubApi, run: RunAttempt, options: Pick<RequestOptions, 'deadline' | 'signal'> & { unreadable: number[] }): Promise<RunAttemptStatus> {
  const { unreadable, ...call } = options;
  const path = `${repoPath(run.repository)}/actions/runs/${run.runId}/attempts/${run.runAttempt}`;
  const res = await api.request<{ status?: string; conclusion?: string | null }>('GET', path, { conditional: true, accept: [...unreadable, 404], ...call });
  if (res.status === 404) return { state: 'missing' };
  if (res.status !== 200) return { state: 'unreadable', status: res.status };
  if (res.data?.status !== 'completed') return { state: 'running' };
  return { state: 'completed', conclusion: res.data.conclusion ?? null };
}
