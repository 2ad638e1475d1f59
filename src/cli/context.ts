import os from 'node:os';
import path from 'node:path';
import type { RunContext } from '../context.js';

/**
 * The run context outside GitHub Actions, from GitLab's CI_* variables (or generic fallbacks), in the shape
 * the pipeline knows. Two choices keep the locks sound on other CI systems:
 * - `repository` is `gitlab:<project path>` (or `cli:<host>`): never an `owner/repo`, so no lock ever asks
 *   GitHub's runs API about a GitLab job (a same-named GitHub repository must not make a live holder dead);
 * - `runnerName` is empty: a GitLab runner runs several jobs at once (`concurrent`), so "the holder's
 *   runner now runs another job" does not mean the holder is over, as it does on a GitHub runner.
 * The job's identity (`runId`, `job`) is the same in `restore` and `persist` of one job: post's checks of
 * a lock ticket compare it.
 */
export function cliContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  const home = env.HOME || os.homedir();
  const runnerTemp = os.tmpdir();
  const gitlab = Boolean(env.CI_PROJECT_PATH);
  return {
    repository: gitlab ? `gitlab:${env.CI_PROJECT_PATH}` : `cli:${os.hostname()}`,
    serverUrl: env.GITHUB_SERVER_URL || 'https://github.com',
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    runId: env.CI_JOB_ID || env.BUILDKITE_JOB_ID || env.CIRCLE_WORKFLOW_JOB_ID || env.BUILD_TAG || '',
    runAttempt: '1',
    job: env.CI_JOB_NAME || env.BUILDKITE_LABEL || env.CIRCLE_JOB || env.JOB_NAME || '',
    eventName: '',
    eventPath: '',
    refName: env.CI_COMMIT_REF_NAME || '',
    runnerName: '',
    runnerEnvironment: 'self-hosted',
    runnerTemp,
    toolCache: path.join(runnerTemp, 'codex-auth-tool-cache'),
    workspace: env.CI_PROJECT_DIR || process.cwd(),
    home,
  };
}
