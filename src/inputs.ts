import * as core from '@actions/core';
import path from 'node:path';
import * as z from 'zod/mini';
import type { RunContext } from './context.js';
import { UserError } from './errors.js';
import { parseJsonWith } from './json.js';

/** The stores the action offers (action.yml); the CLI adds `gitlab-variable` and drops `cache` (DESIGN §8). */
export const STORES = ['runner', 'cache', 'github-secret', 'command'] as const;
export const ALL_STORES = [...STORES, 'gitlab-variable'] as const;
export const LOCKS = ['none', 'file', 'github'] as const;
export type StoreKind = (typeof ALL_STORES)[number];
export type LockKind = (typeof LOCKS)[number];
export type AuthMode = 'chatgpt' | 'api-key' | 'access-token';
export const REFRESH_MODES = ['auto', 'force'] as const;
export const LOCK_SCOPES = ['job', 'refresh'] as const;
export const SAFETY_STRATEGIES = ['unprivileged-user', 'none'] as const;
export type RefreshMode = (typeof REFRESH_MODES)[number];
export type LockScope = (typeof LOCK_SCOPES)[number];
/** `auto` is resolved where the runner can be probed (codex/agent-user.ts), not here. */
export type SafetyStrategy = (typeof SAFETY_STRATEGIES)[number] | 'auto';

/** Every input, validated, with `auto` resolved. The only module that reads inputs. */
export interface Inputs {
  mode: AuthMode;
  authJson: string;
  store: StoreKind;
  codexHome: string;
  key: string;
  encryptionKey: string;
  restoreCommand: string;
  persistCommand: string;
  secretName: string;
  secretToken: string;
  secretRepository: string;
  secretEnvironment: string;
  lock: LockKind;
  lockTimeoutMs: number;
  lockRepository: string;
  githubToken: string;
  prompt: string;
  promptFile: string;
  codexArgs: string[];
  codexVersion: string;
  workingDirectory: string;
  cleanup: boolean;
  allowUntrusted: boolean;
  openaiApiKey: string;
  accessToken: string;
  refresh: RefreshMode;
  lockScope: LockScope;
  minValidityMs: number;
  safetyStrategy: SafetyStrategy;
  /** gitlab-variable store (CLI only): the variable's key, the project (id or path), the API's v4 URL, the token */
  gitlabVariable: string;
  gitlabProject: string;
  gitlabApiUrl: string;
  gitlabToken: string;
}

/** What the host offers besides the inputs: the CLI's stores differ from the action's. */
export interface InputOptions {
  stores?: readonly StoreKind[];
}

const input = (name: string): string => core.getInput(name);

/** A secret input: masked the moment it is read. */
function secretInput(name: string): string {
  const value = input(name);
  if (value) core.setSecret(value);
  return value;
}

/** One of `allowed` (plus `auto` when `withAuto`); an empty input is `fallback`. */
function choice<T extends string>(name: string, allowed: readonly T[], withAuto: boolean, fallback: string = withAuto ? 'auto' : ''): T | 'auto' {
  const value = input(name) || fallback;
  const options = withAuto ? [...allowed, 'auto'] : [...allowed];
  if (!options.includes(value)) {
    throw new UserError(`Input \`${name}\` is '${value}', which is not one of: ${options.map((o) => `\`${o}\``).join(', ')}.`);
  }
  return value as T | 'auto';
}

/** YAML 1.2 core booleans, as `core.getBooleanInput`, but with a message that names the allowed values. */
function bool(name: string, fallback: boolean | 'auto'): boolean | 'auto' {
  const value = input(name);
  if (value === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(value)) return true;
  if (['false', 'False', 'FALSE'].includes(value)) return false;
  if (fallback === 'auto' && value === 'auto') return 'auto';
  const allowed = fallback === 'auto' ? '`true`, `false` or `auto`' : '`true` or `false`';
  throw new UserError(`Input \`${name}\` is '${value}', which is not a boolean: use ${allowed}.`);
}

const Seconds = z.pipe(
  z.string().check(z.regex(/^\d+$/)),
  z.transform((s) => Number(s)),
);

function seconds(name: string, fallback: number): number {
  const raw = input(name) || String(fallback);
  const parsed = Seconds.safeParse(raw);
  if (!parsed.success || parsed.data > 7 * 24 * 3600) {
    throw new UserError(`Input \`${name}\` is '${raw}': expected a whole number of seconds from 0 to 604800.`);
  }
  return parsed.data;
}

const Repository = z.string().check(z.regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/));

function repository(name: string, fallback: string): string {
  const value = input(name) || fallback;
  if (!Repository.safeParse(value).success) {
    throw new UserError(`Input \`${name}\` is '${value}': expected format {owner}/{repo}.`);
  }
  return value;
}

function streamKey(): string {
  const value = input('key') || 'codex-auth';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw new UserError(`Input \`key\` is '${value}': use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.`);
  }
  return value;
}

const StringArray = z.array(z.string());

/** `codex-args`: a JSON array of strings, or shell-style words (quotes group, backslash escapes). */
export function parseCodexArgs(raw: string): string[] {
  const text = raw.trim();
  if (text === '') return [];
  if (text.startsWith('[')) {
    const parsed = parseJsonWith(StringArray)(text);
    if (!parsed.success && parsed.notJson) throw new UserError('Input `codex-args` starts with `[` but is not a JSON array: expected a JSON array of strings, or shell-style words.');
    if (!parsed.success) throw new UserError('Input `codex-args` is a JSON array whose items are not all strings: expected a JSON array of strings.');
    return parsed.data;
  }
  return splitWords(text);
}

function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (c === '\\' && i + 1 < text.length && (quote === null || '"\\$`'.includes(text[i + 1] as string))) {
      word = (word ?? '') + text[++i];
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new UserError(`Input \`codex-args\` has an unclosed ${quote} quote: expected a JSON array of strings, or shell-style words.`);
  if (word !== null) words.push(word);
  return words;
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}

/**
 * `codex-home`: the input, else $CODEX_HOME, else ~/.codex. On a self-hosted runner, a job whose auth does
 * not live there (a store off the runner, an API key or access token) gets a private directory in the
 * job's temp dir instead, so that it never overwrites, nor cleans up, a persistent login in ~/.codex.
 */
function resolveCodexHome(given: string, o: { ctx: RunContext; env: NodeJS.ProcessEnv; key: string; private: boolean }): string {
  if (!given && o.private && o.ctx.runnerEnvironment === 'self-hosted') return path.join(o.ctx.runnerTemp, `codex-home-${o.key}`);
  return path.resolve(o.ctx.workspace, expandHome(given || o.env.CODEX_HOME || '~/.codex', o.ctx.home));
}

function authMode(authJson: string, apiKey: string, accessToken: string): AuthMode {
  const given = [authJson && '`auth-json`', apiKey && '`openai-api-key`', accessToken && '`access-token`'].filter(Boolean);
  if (given.length > 1) {
    throw new UserError(`Inputs ${given.join(' and ')} are ${given.length > 2 ? 'all' : 'both'} set: give exactly one auth mode (a ChatGPT auth.json, an API key, or an access token).`);
  }
  return apiKey ? 'api-key' : accessToken ? 'access-token' : 'chatgpt';
}

export function readInputs(ctx: RunContext, env: NodeJS.ProcessEnv = process.env, options: InputOptions = {}): Inputs {
  const authJson = input('auth-json');
  const openaiApiKey = secretInput('openai-api-key');
  const accessToken = secretInput('access-token');
  const mode = authMode(authJson, openaiApiKey, accessToken);

  const storeChoice = choice('store', options.stores ?? STORES, true);
  const store: StoreKind = storeChoice !== 'auto' ? storeChoice : ctx.runnerEnvironment === 'github-hosted' ? 'cache' : 'runner';
  const lockChoice = choice('lock', LOCKS, true);
  const lock: LockKind = mode !== 'chatgpt' ? 'none' : lockChoice !== 'auto' ? lockChoice : store === 'runner' ? 'file' : 'github';
  const cleanupChoice = bool('cleanup', 'auto');

  const prompt = input('prompt');
  const promptFile = input('prompt-file');
  if (prompt && promptFile) throw new UserError('Inputs `prompt` and `prompt-file` are both set: give one of them.');

  const key = streamKey();
  const codexHome = resolveCodexHome(input('codex-home'), { ctx, env, key, private: mode !== 'chatgpt' || store !== 'runner' });
  const codexVersion = input('codex-version');
  if (codexVersion && !/^[A-Za-z0-9][A-Za-z0-9.+-]*$/.test(codexVersion)) {
    throw new UserError(`Input \`codex-version\` is '${codexVersion}': expected an npm version or tag of @openai/codex, such as 0.169.0 or latest.`);
  }

  const secretToken = secretInput('secret-token');
  if (mode === 'chatgpt' && store === 'github-secret' && !secretToken) {
    throw new UserError(
      '`store: github-secret` needs `secret-token`: the workflow\'s GITHUB_TOKEN cannot write Actions secrets. Pass a fine-grained personal access token (or a GitHub App token) with the repository permission "Secrets: Read and write", from a secret.',
    );
  }

  return {
    mode,
    authJson,
    store,
    codexHome,
    key,
    encryptionKey: secretInput('encryption-key'),
    restoreCommand: input('restore-command'),
    persistCommand: input('persist-command'),
    secretName: input('secret-name') || 'CODEX_AUTH_JSON',
    secretToken,
    secretRepository: repository('secret-repository', ctx.repository || 'unknown/unknown'),
    secretEnvironment: input('secret-environment'),
    lock,
    lockTimeoutMs: seconds('lock-timeout', 3600) * 1000,
    lockRepository: repository('lock-repository', ctx.repository || 'unknown/unknown'),
    githubToken: secretInput('github-token'),
    prompt,
    promptFile: promptFile ? path.resolve(ctx.workspace, promptFile) : '',
    codexArgs: parseCodexArgs(input('codex-args')),
    codexVersion,
    workingDirectory: path.resolve(ctx.workspace, input('working-directory') || '.'),
    cleanup: cleanupChoice === 'auto' ? store !== 'runner' || mode !== 'chatgpt' : (cleanupChoice as boolean),
    allowUntrusted: bool('allow-untrusted', false) as boolean,
    openaiApiKey,
    accessToken,
    refresh: choice('refresh', REFRESH_MODES, false, 'auto') as RefreshMode,
    lockScope: choice('lock-scope', LOCK_SCOPES, false, 'job') as LockScope,
    minValidityMs: seconds('min-validity', 21600) * 1000,
    safetyStrategy: choice('safety-strategy', SAFETY_STRATEGIES, true),
    ...gitlabInputs(mode === 'chatgpt' && store === 'gitlab-variable', env),
  };
}

/**
 * DESIGN §8, `store: gitlab-variable`: GitLab's own variables give the defaults (CI_PROJECT_ID,
 * CI_API_V4_URL). The token must be able to read and write project variables: CI_JOB_TOKEN cannot.
 */
function gitlabInputs(used: boolean, env: NodeJS.ProcessEnv): Pick<Inputs, 'gitlabVariable' | 'gitlabProject' | 'gitlabApiUrl' | 'gitlabToken'> {
  const gitlabVariable = input('gitlab-variable') || 'CODEX_AUTH_JSON';
  if (!/^[A-Za-z0-9_]{1,255}$/.test(gitlabVariable)) {
    throw new UserError(`Input \`gitlab-variable\` is '${gitlabVariable}': a GitLab variable key has 1 to 255 letters, digits or '_'.`);
  }
  const gitlabProject = input('gitlab-project') || env.CI_PROJECT_ID || '';
  const gitlabApiUrl = (input('gitlab-api-url') || env.CI_API_V4_URL || '').replace(/\/+$/, '');
  const gitlabToken = secretInput('gitlab-token');
  if (used) {
    if (!gitlabProject) throw new UserError('`store: gitlab-variable` needs the project: set `gitlab-project` to its numeric id or its path (group/project); inside a GitLab job it defaults to CI_PROJECT_ID.');
    if (!/^https?:\/\/[^\s/]+/.test(gitlabApiUrl)) {
      throw new UserError(`\`store: gitlab-variable\` needs GitLab's API URL, and \`gitlab-api-url\` is '${gitlabApiUrl}': give the v4 URL such as https://gitlab.com/api/v4; inside a GitLab job it defaults to CI_API_V4_URL.`);
    }
    if (gitlabToken && gitlabToken === env.CI_JOB_TOKEN) {
      throw new UserError('CODEX_AUTH_GITLAB_TOKEN (`gitlab-token`) is this job\'s CI_JOB_TOKEN, which cannot read or write CI/CD variables: use a project access token with the Maintainer role and the `api` scope, from a masked variable.');
    }
    if (!gitlabToken) {
      throw new UserError(
        '`store: gitlab-variable` needs a GitLab token in CODEX_AUTH_GITLAB_TOKEN (`gitlab-token`): a project access token with the Maintainer role and the `api` scope, from a masked variable. CI_JOB_TOKEN cannot read or write CI/CD variables.',
      );
    }
  }
  return { gitlabVariable, gitlabProject, gitlabApiUrl, gitlabToken };
}
