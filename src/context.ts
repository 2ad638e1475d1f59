import os from 'node:os';
import path from 'node:path';

/** What the runner tells every step through its environment. */
export interface RunContext {
  repository: string;
  serverUrl: string;
  apiUrl: string;
  runId: string;
  runAttempt: string;
  job: string;
  eventName: string;
  eventPath: string;
  refName: string;
  runnerName: string;
  runnerEnvironment: 'github-hosted' | 'self-hosted';
  runnerTemp: string;
  toolCache: string;
  workspace: string;
  home: string;
}

export function readContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  const home = env.HOME || os.homedir();
  const runnerTemp = env.RUNNER_TEMP || os.tmpdir();
  return {
    repository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    runId: env.GITHUB_RUN_ID ?? '',
    runAttempt: env.GITHUB_RUN_ATTEMPT || '1',
    job: env.GITHUB_JOB ?? '',
    eventName: env.GITHUB_EVENT_NAME ?? '',
    eventPath: env.GITHUB_EVENT_PATH ?? '',
    refName: env.GITHUB_REF_NAME ?? '',
    runnerName: env.RUNNER_NAME ?? '',
    // The runner sets RUNNER_ENVIRONMENT on both kinds; absent means an older or self-built runner.
    runnerEnvironment: env.RUNNER_ENVIRONMENT === 'github-hosted' ? 'github-hosted' : 'self-hosted',
    runnerTemp,
    toolCache: env.RUNNER_TOOL_CACHE || path.join(runnerTemp, 'tool-cache'),
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    home,
  };
}

/** The URL of a run, for messages that name a lock holder. */
export function runUrl(ctx: Pick<RunContext, 'serverUrl'>, repository: string, runId: string): string {
  return `${ctx.serverUrl}/${repository}/actions/runs/${runId}`;
}
