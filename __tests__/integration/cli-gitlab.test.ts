/**
 * The `codex-auth` CLI end to end, as a GitLab job runs it: the built `dist/cli/index.js`, the
 * `gitlab-variable` store against the loopback GitLab variables API stand-in, and the real Codex CLI as
 * COMMAND against the loopback HTTPS stand-in of the token endpoint and backend. Each job gets a fresh
 * temp directory (an ephemeral runner) and the environment GitLab gives a job: CI_* and the variable's
 * value at job start in CODEX_AUTH_JSON.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCodexBackend, type CodexBackend, type TokenFamily } from '../support/codex-backend.js';
import { codexBinary } from '../support/codex-cli.js';
import { runCli, type CliResult } from '../support/cli.js';
import { startGithubApi } from '../support/github-api.js';
import { startGitlabApi, type GitlabApiStandIn } from '../support/gitlab-api.js';
import { leakedSecrets, ROOT } from '../support/runner.js';

jest.setTimeout(180_000);

const PROJECT = 7;
const MAINTAINER = 'glpat-maintainer-cli-0001';
const DEVELOPER = 'glpat-developer-cli-0002';
const PROMPT = 'Reply with the single word OK.';

let backend: CodexBackend;
let gitlab: GitlabApiStandIn;
let root: string;
let jobSeq = 0;
const results: CliResult[] = [];
const families: TokenFamily[] = [];

beforeAll(async () => {
  backend = await startCodexBackend();
  gitlab = await startGitlabApi();
  gitlab.addProject(PROJECT, 'team/app');
  gitlab.addToken(MAINTAINER, { role: 'maintainer', project: PROJECT });
  gitlab.addToken(DEVELOPER, { role: 'developer', project: PROJECT });
  root = mkdtempSync(path.join(os.tmpdir(), 'cli-gitlab-it-'));
});

afterAll(async () => {
  await backend.stop();
  await gitlab.stop();
  rmSync(root, { recursive: true, force: true });
});

const b64 = (text: string) => Buffer.from(text).toString('base64');
const variable = () => gitlab.variable(PROJECT, 'CODEX_AUTH_JSON');
const storedText = () => Buffer.from(variable()?.value ?? '', 'base64').toString('utf8');
const refreshTokenOf = (text: string) => (JSON.parse(text) as { tokens: { refresh_token: string } }).tokens.refresh_token;
const writes = () => gitlab.requests.filter((r) => r.method !== 'GET').length;

/** A fresh GitLab job: its own temp dir (TMPDIR, HOME, CI_PROJECT_DIR), and what GitLab puts in its environment. */
function job(over: Record<string, string> = {}): { env: NodeJS.ProcessEnv; dir: string } {
  const dir = mkdtempSync(path.join(root, `job-${++jobSeq}-`));
  const base = backend.env('', { PATH: `${path.dirname(codexBinary())}:${process.env.PATH}`, HOME: dir, TMPDIR: dir });
  delete base.CODEX_HOME;
  const env: NodeJS.ProcessEnv = {
    ...base,
    GITLAB_CI: 'true',
    CI_API_V4_URL: gitlab.apiUrl,
    CI_PROJECT_ID: String(PROJECT),
    CI_PROJECT_PATH: 'team/app',
    CI_PROJECT_DIR: dir,
    CI_PIPELINE_ID: '900',
    CI_JOB_ID: String(5000 + jobSeq),
    CI_JOB_NAME: 'codex',
    CI_JOB_TOKEN: 'glcbt-64_job-token-not-for-variables',
    CODEX_AUTH_JSON: variable()?.value ?? '',
    CODEX_AUTH_GITLAB_TOKEN: MAINTAINER,
    CODEX_AUTH_STORE: 'gitlab-variable',
    CODEX_AUTH_LOCK: 'none',
    ...over,
  };
  return { env, dir };
}

async function cli(args: string[], env: NodeJS.ProcessEnv, signalWhen?: { line: RegExp; signal: NodeJS.Signals }): Promise<CliResult> {
  const result = await runCli(args, env, { signalWhen });
  results.push(result);
  return result;
}

/** A job script's own command (async: the stand-ins answer from this process). */
function spawnJob(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const codexExec = () => [codexBinary(), 'exec', ...backend.args(), PROMPT];

describe('codex-auth with the gitlab-variable store and the real Codex CLI', () => {
  let seed: string;

  test('a stale seed: one refresh POST, and the variable holds the rotated file, still masked and protected', async () => {
    const issued = backend.issue({ stale: true, email: 'gitlab-bot@example.com', accountId: 'acct-gl' });
    families.push(issued.family);
    seed = issued.authJson;
    gitlab.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(seed), masked: true, protected: true });
    const { env } = job();
    const before = backend.tokenRequests.length;
    const result = await cli(['run', '--', ...codexExec()], env);
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('OK');
    expect(backend.tokenRequests.length - before).toBe(1);
    expect(result.stderr).toContain('codex-auth: source=gitlab-variable');
    expect(result.stderr).toContain('Persisted the refreshed auth.json to the gitlab-variable store.');
    expect(refreshTokenOf(storedText())).toBe(issued.family.refreshToken);
    expect(refreshTokenOf(storedText())).not.toBe(refreshTokenOf(seed));
    expect(variable()).toMatchObject({ masked: true, protected: true });
    mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
    writeFileSync(path.join(ROOT, '.tmp', 'cli-gitlab-job.log'), `$ codex-auth run -- codex exec …\n${result.stderr}`, { flag: 'w' });
  });

  test('a second job with the old seed in its environment restores the current value: no refresh POST', async () => {
    const current = storedText();
    const { env } = job({ CODEX_AUTH_JSON: b64(seed) });
    const before = backend.tokenRequests.length;
    const writesBefore = writes();
    const result = await cli(['run', '--', ...codexExec()], env);
    expect(result.code).toBe(0);
    expect(backend.tokenRequests.length - before).toBe(0);
    expect(result.stderr).toContain("Using the GitLab variable store's auth.json");
    expect(result.stderr).toContain('auth.json is unchanged: nothing to persist.');
    expect(storedText()).toBe(current);
    expect(writes()).toBe(writesBefore);
  });

  test("a failing COMMAND's exit code passes through, and the variable is untouched", async () => {
    const current = storedText();
    const writesBefore = writes();
    const { env } = job();
    const result = await cli(['run', '--', 'sh', '-c', 'test -s "$CODEX_HOME/auth.json" && test -z "$CODEX_AUTH_JSON$CODEX_AUTH_GITLAB_TOKEN" && exit 7'], env);
    expect(result.code).toBe(7);
    expect(result.stderr).toContain('COMMAND exited with code 7.');
    expect(storedText()).toBe(current);
    expect(writes()).toBe(writesBefore);
  });

  test('a Developer token fails before COMMAND runs, naming CODEX_AUTH_GITLAB_TOKEN and the role it needs', async () => {
    const { env, dir } = job({ CODEX_AUTH_GITLAB_TOKEN: DEVELOPER });
    const marker = path.join(dir, 'command-ran');
    const result = await cli(['run', '--', 'touch', marker], env);
    expect(result.code).toBe(1);
    expect(existsSync(marker)).toBe(false);
    expect(result.stderr).toMatch(/codex-auth: error: CODEX_AUTH_GITLAB_TOKEN may not read the GitLab CI\/CD variable `CODEX_AUTH_JSON` of project 7 \(GET \/projects\/7\/variables\/CODEX_AUTH_JSON: HTTP 403\)/);
    expect(result.stderr).toMatch(/Maintainer role and the `api` scope.*CI_JOB_TOKEN cannot read or write CI\/CD variables/);
    expect(result.stderr).toContain('COMMAND was not run');
  });

  test('CI_JOB_TOKEN as the token, or no token, fails at once with exit 2 and no request', async () => {
    const requests = gitlab.requests.length;
    const jobToken = job();
    const asJobToken = await cli(['run', '--', 'true'], { ...jobToken.env, CODEX_AUTH_GITLAB_TOKEN: jobToken.env.CI_JOB_TOKEN });
    expect(asJobToken.code).toBe(2);
    expect(asJobToken.stderr).toContain("is this job's CI_JOB_TOKEN, which cannot read or write CI/CD variables");
    const none = await cli(['run', '--', 'true'], job({ CODEX_AUTH_GITLAB_TOKEN: '' }).env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('needs a GitLab token in CODEX_AUTH_GITLAB_TOKEN');
    expect(gitlab.requests.length).toBe(requests);
  });

  test.each([
    [['run', '--store', 'bogus', '--', 'true'], /Option `--store` is 'bogus', which is not one of: `runner`, `github-secret`, `command`, `gitlab-variable`, `auto`\./],
    [['run', '--lock', 'auto', '--', 'true'], /Option `--lock` is `auto`, and the gitlab-variable store lies off this machine.*Allowed: `none`, `file`, `github`\./],
    [['run', '--lock-timeout', 'soon', '--', 'true'], /Option `--lock-timeout` is 'soon': expected a whole number of seconds/],
    [['run', '--gitlab-token', 'glpat-x', '--', 'true'], /`--gitlab-token` is not a flag: a secret on the command line shows in process lists\. Put it in CODEX_AUTH_GITLAB_TOKEN\./],
    [['run', '--frobnicate', '1', '--', 'true'], /Unknown option `--frobnicate` for `codex-auth run`/],
    [['run'], /`codex-auth run` needs a COMMAND after `--`/],
    [['restore', '--', 'true'], /`codex-auth restore` takes no COMMAND/],
    [['fly'], /Unknown subcommand 'fly': use one of `run`, `refresh`, `restore`, `persist`/],
  ])('bad usage %j exits 2 and names the option', async (args, message) => {
    const { env } = job({ CODEX_AUTH_LOCK: args.includes('--lock') ? '' : 'none' });
    const result = await cli(args, env);
    expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(message)]);
  });

  test('restore, COMMAND, persist (after_script): the split round trip keeps the rotated file', async () => {
    const issued = backend.issue({ stale: true, email: 'split@example.com', accountId: 'acct-split' });
    families.push(issued.family);
    gitlab.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(issued.authJson), masked: true, protected: true });
    const { env, dir } = job();
    const home = path.join(dir, 'codex-home');
    const restored = await cli(['restore', '--codex-home', home], env);
    expect(restored.code).toBe(0);
    const stateFile = path.join(home, '.codex-auth-state.json');
    expect(readFileSync(stateFile, 'utf8')).not.toContain(refreshTokenOf(issued.authJson));
    const before = backend.tokenRequests.length;
    // the job's script: Codex itself, with CODEX_HOME pointing at what restore wrote
    const exec = await spawnJob(codexBinary(), ['exec', ...backend.args(), PROMPT], { ...env, CODEX_HOME: home });
    results.push(exec);
    expect(exec.code).toBe(0);
    expect(backend.tokenRequests.length - before).toBe(1);
    const persisted = await cli(['persist', '--codex-home', home], env);
    expect(persisted.code).toBe(0);
    expect(persisted.stderr).toContain('Persisted the refreshed auth.json to the gitlab-variable store.');
    expect(refreshTokenOf(storedText())).toBe(issued.family.refreshToken);
    expect(existsSync(stateFile)).toBe(false);
    expect(existsSync(path.join(home, 'auth.json'))).toBe(false);
  });

  test('persist ignores a state file the command rewrote to point elsewhere', async () => {
    const { env, dir } = job();
    const home = path.join(dir, '.codex');
    expect((await cli(['restore', '--codex-home', home], env)).code).toBe(0);
    const stateFile = path.join(home, '.codex-auth-state.json');
    const file = JSON.parse(readFileSync(stateFile, 'utf8')) as { v: 1; state: Record<string, string> };
    const state = JSON.parse(file.state['codex-auth'] as string) as { ready: { codexHome: string; authPath: string } };
    state.ready.codexHome = path.join(dir, 'elsewhere');
    state.ready.authPath = path.join(dir, 'elsewhere', 'auth.json');
    writeFileSync(stateFile, JSON.stringify({ v: 1, state: { 'codex-auth': JSON.stringify(state) } }));
    const writesBefore = writes();
    const persisted = await cli(['persist', '--codex-home', home], env);
    expect(persisted.stderr).toMatch(/codex-auth: warning: Ignoring the state main saved: its codex-home .*elsewhere is not the input's/);
    expect(writes()).toBe(writesBefore);
  });

  test('SIGTERM goes to the COMMAND group; persist still runs; the exit code is the signal\'s', async () => {
    const { env } = job();
    const result = await cli(['run', '--lock', 'file', '--', 'sh', '-c', 'sleep 30 & wait'], env, { line: /Running `sh` \(process group \d+\)/, signal: 'SIGTERM' });
    expect(result.code).toBe(143);
    expect(result.stderr).toContain("Got SIGTERM: passing it to COMMAND's process group");
    expect(result.stderr).toContain('auth.json is unchanged: nothing to persist.');
    expect(result.stderr).toContain('Released the file lock');
  });

  test('the github lock from GitLab: a ticket in `--lock-repository` while COMMAND runs, released after; GitHub is never asked about the GitLab job', async () => {
    const github = await startGithubApi();
    try {
      github.grant('ghp_lock_writer', { contents: 'write', actions: 'read' });
      const { env } = job({ CODEX_AUTH_LOCK: '', CODEX_AUTH_GITHUB_TOKEN: 'ghp_lock_writer', GITHUB_API_URL: github.url });
      const result = await cli(['run', '--lock-repository', 'octo/locks', '--', 'sh', '-c', 'exit 0'], env);
      expect([result.code, result.code === 0 ? '' : result.stderr]).toEqual([0, '']);
      expect(result.stderr).toContain('Holding the github lock since');
      expect(result.stderr).toContain('Released the github lock');
      const events = github.refLog.filter((e) => e.repo === 'octo/locks');
      expect(events.map((e) => e.kind)).toEqual(['create', 'delete']);
      const ticket = (events[0] as { ref: string }).ref.split('/').pop() as string;
      const owner = JSON.parse(Buffer.from(ticket.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
      expect(owner).toMatchObject({ r: 'gitlab:team/app', i: env.CI_JOB_ID, a: '1', j: 'codex' });
      expect(github.refs('octo/locks', 'refs/codex-auth-locks/')).toEqual([]);
      expect(github.requests.filter((r) => r.path.includes('/actions/runs/'))).toEqual([]);
    } finally {
      await github.stop();
    }
  });

  const keepFresh = readFileSync(path.join(ROOT, 'dist', 'cli', 'index.js'), 'utf8').includes('account/read');
  (keepFresh ? test : test.skip)('refresh rotates the tokens with no model request (needs `refresh: force`, the app-server refresh)', async () => {
    const stored = storedText();
    const { env } = job({ CODEX_AUTH_CODEX_ARGS: JSON.stringify(backend.args().filter((a) => a !== '--skip-git-repo-check')) });
    const before = { tokens: backend.tokenRequests.length, responses: backend.responsesRequests.length };
    const result = await cli(['refresh'], env);
    expect(result.code).toBe(0);
    expect(backend.tokenRequests.length - before.tokens).toBeGreaterThanOrEqual(1);
    expect(backend.responsesRequests.length - before.responses).toBe(0);
    expect(refreshTokenOf(storedText())).not.toBe(refreshTokenOf(stored));
  });

  test('no token of any auth.json, nor the GitLab tokens, in any output of any job above', () => {
    expect(results.length).toBeGreaterThanOrEqual(15);
    const secrets = [MAINTAINER, DEVELOPER, 'ghp_lock_writer', ...families.flatMap((f) => [f.refreshToken, f.accessToken, f.idToken, ...f.used, ...f.oldAccessTokens])];
    expect(leakedSecrets(results.flatMap((r) => [r.stdout, r.stderr]), secrets)).toEqual([]);
  });
});
