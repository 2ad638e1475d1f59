/**
 * Runs the built action as the GitHub runner does: `INPUT_*` variables with action.yml's defaults,
 * file commands (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV, GITHUB_STEP_SUMMARY) in temp files, and the
 * state main saved handed to post as `STATE_*`. Parses what the steps left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One runner machine: its temp, tool cache, workspace and home directories. */
export interface Runner {
  dir: string;
  temp: string;
  toolCache: string;
  workspace: string;
  home: string;
  name: string;
  environment: 'self-hosted' | 'github-hosted';
  remove(): void;
}

export function newRunner(options: { name?: string; environment?: Runner['environment']; base?: string } = {}): Runner {
  const dir = mkdtempSync(path.join(options.base ?? os.tmpdir(), 'codex-auth-runner-'));
  const runner: Runner = {
    dir,
    temp: path.join(dir, 'temp'),
    toolCache: path.join(dir, 'tool-cache'),
    workspace: path.join(dir, 'work'),
    home: path.join(dir, 'home'),
    name: options.name ?? `runner-${path.basename(dir).slice(-6)}`,
    environment: options.environment ?? 'self-hosted',
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  for (const d of [runner.temp, runner.toolCache, runner.workspace, runner.home]) mkdirSync(d, { recursive: true });
  return runner;
}

export interface StepResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  env: Record<string, string>;
  summary: string;
  /** `::add-mask::` values the runner processed (not those it saw while commands were stopped) */
  masks: string[];
  errors: string[];
  warnings: string[];
  /** lines the runner shows as text: everything but the commands it processed */
  log: string[];
  /** commands the runner refuses (`set-env`, `add-path`: disabled unless ACTIONS_ALLOW_UNSECURE_COMMANDS) */
  refused: string[];
  /** a `::stop-commands::` that was never resumed: the token, or null */
  stoppedAtEnd: string | null;
  startedAt: number;
  endedAt: number;
}

/** `name=value` lines and `name<<DELIM` heredocs, as the runner's file commands write them. */
export function parseFileCommands(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delim) value.push(lines[i] as string);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      const at = line.indexOf('=');
      out[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  return out;
}

let defaultsCache: Record<string, string> | null = null;
/** action.yml's input defaults, as the runner applies them. */
export function actionDefaults(): Record<string, string> {
  if (!defaultsCache) {
    const action = parseYaml(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: string }> };
    defaultsCache = Object.fromEntries(Object.entries(action.inputs).map(([name, spec]) => [name, String(spec.default ?? '')]));
  }
  return defaultsCache;
}

export interface StepOptions {
  runner: Runner;
  inputs?: Record<string, string>;
  /** more environment, e.g. GITHUB_RUN_ID, or a stand-in's variables */
  env?: Record<string, string | undefined>;
  /** state to hand over as STATE_* (post) */
  state?: Record<string, string>;
  /** the job's identity */
  job?: { runId?: string; attempt?: string; job?: string; repository?: string; eventName?: string; eventPath?: string };
  /** the job's GITHUB_ENV so far (later steps see exported variables) */
  jobEnv?: Record<string, string>;
  /** run the step as this user (the test runs as root), as a runner whose user is not root does */
  user?: { uid: number; gid: number };
}

function stepEnv(script: 'main' | 'post', o: StepOptions, files: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'LANG', 'TZ', 'SYSTEMROOT']) if (process.env[name]) base[name] = process.env[name];
  const inputs = { ...actionDefaults(), ...(o.inputs ?? {}) };
  for (const [name, value] of Object.entries(inputs)) {
    base[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value === '${{ github.token }}' ? 'ghs_faketoken_for_tests' : value;
  }
  for (const [name, value] of Object.entries(o.state ?? {})) base[`STATE_${name}`] = value;
  const job = o.job ?? {};
  return {
    ...base,
    HOME: o.runner.home,
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_REPOSITORY: job.repository ?? 'octo/repo',
    GITHUB_RUN_ID: job.runId ?? '1000',
    GITHUB_RUN_ATTEMPT: job.attempt ?? '1',
    GITHUB_JOB: job.job ?? 'codex',
    GITHUB_EVENT_NAME: job.eventName ?? 'workflow_dispatch',
    GITHUB_EVENT_PATH: job.eventPath ?? '',
    GITHUB_SERVER_URL: 'https://github.example',
    GITHUB_API_URL: 'http://127.0.0.1:9/api',
    GITHUB_WORKSPACE: o.runner.workspace,
    GITHUB_REF_NAME: 'main',
    RUNNER_TEMP: o.runner.temp,
    RUNNER_TOOL_CACHE: o.runner.toolCache,
    RUNNER_ENVIRONMENT: o.runner.environment,
    RUNNER_NAME: o.runner.name,
    ...o.jobEnv,
    ...files,
    ...Object.fromEntries(Object.entries(o.env ?? {}).filter(([, v]) => v !== undefined)),
    GITHUB_ACTION_PATH: ROOT,
    NODE_OPTIONS: '',
    [`__CODEX_AUTH_STEP`]: script,
  } as NodeJS.ProcessEnv;
}

export interface RunningStep {
  child: ChildProcess;
  done: Promise<StepResult>;
}

/** Starts `node dist/<script>/index.js`; `done` resolves with everything the step left behind. */
export function startStep(script: 'main' | 'post', o: StepOptions): RunningStep {
  const dir = mkdtempSync(path.join(o.runner.temp, `${script}-files-`));
  const files = {
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STATE: path.join(dir, 'state'),
    GITHUB_ENV: path.join(dir, 'env'),
    GITHUB_PATH: path.join(dir, 'path'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary'),
  };
  for (const f of Object.values(files)) writeFileSync(f, '');
  if (o.user) for (const f of [dir, ...Object.values(files)]) chownSync(f, o.user.uid, o.user.gid);
  const startedAt = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', script, 'index.js')], {
    uid: o.user?.uid,
    gid: o.user?.gid,
    cwd: o.runner.workspace,
    env: stepEnv(script, o, files),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<StepResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, signal) => {
      const read = (f: string) => readFileSync(f, 'utf8');
      const out = processCommands(stdout, stderr);
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        // The runner applies file commands after the step ends: a name's value there wins over `::save-state::`.
        outputs: { ...out.outputs, ...parseFileCommands(read(files.GITHUB_OUTPUT)) },
        state: { ...out.state, ...parseFileCommands(read(files.GITHUB_STATE)) },
        env: parseFileCommands(read(files.GITHUB_ENV)),
        summary: read(files.GITHUB_STEP_SUMMARY),
        masks: out.masks,
        errors: out.errors,
        warnings: out.warnings,
        log: out.log,
        refused: out.refused,
        stoppedAtEnd: out.stoppedAtEnd,
        startedAt,
        endedAt: Date.now(),
      });
    });
  });
  return { child, done };
}

/**
 * Workflow commands in a step's output, as GitHub's runner processes them (actions/runner
 * ActionCommandManager, ActionCommand.TryParseV2): lines split at CR or LF; a line is a command when, after
 * leading white space, it reads `::name props::data` and `name` is registered (case-insensitive). While
 * `::stop-commands::<token>` is in force, only `::<token>::` is processed, a nested stop included. stdout and
 * stderr reach one command manager; their relative order is unknown, so stderr is processed after stdout,
 * in whatever mode stdout left (the order that favours an attacker who stops commands on stdout and would
 * run them on stderr, or the reverse).
 */
export function processCommands(stdout: string, stderr = '') {
  const registered = new Set(['add-mask', 'save-state', 'set-output', 'error', 'warning', 'notice', 'debug', 'set-env', 'add-path', 'stop-commands', 'group', 'endgroup', 'echo', 'add-matcher', 'remove-matcher']);
  const unescape = (v: string) => v.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%25/g, '%');
  const result = { masks: [] as string[], errors: [] as string[], warnings: [] as string[], log: [] as string[], refused: [] as string[], state: {} as Record<string, string>, outputs: {} as Record<string, string>, stoppedAtEnd: null as string | null };
  let stopToken: string | null = null;
  for (const line of [...stdout.split(/\r\n|\r|\n/), ...stderr.split(/\r\n|\r|\n/)]) {
    const text = line.trimStart();
    const end = text.startsWith('::') ? text.indexOf('::', 2) : -1;
    const info = end < 0 ? '' : text.slice(2, end);
    const name = (info.includes(' ') ? info.slice(0, info.indexOf(' ')) : info).toLowerCase();
    if (end < 0 || !registered.has(name) || (stopToken !== null && name !== stopToken)) {
      if (line !== '') result.log.push(line);
      continue;
    }
    const props = Object.fromEntries(
      info
        .slice(name.length + 1)
        .split(',')
        .filter((p) => p.includes('='))
        .map((p) => [p.slice(0, p.indexOf('=')).trim(), unescape(p.slice(p.indexOf('=') + 1))]),
    );
    const data = unescape(text.slice(end + 2));
    if (stopToken !== null) {
      registered.delete(stopToken);
      stopToken = null;
    } else if (name === 'stop-commands') {
      stopToken = data.toLowerCase();
      registered.add(stopToken);
    } else if (name === 'add-mask') result.masks.push(data);
    else if (name === 'error') result.errors.push(data);
    else if (name === 'warning') result.warnings.push(data);
    else if (name === 'save-state' && props.name) result.state[props.name] = data;
    else if (name === 'set-output' && props.name) result.outputs[props.name] = data;
    else if (name === 'set-env' || name === 'add-path') result.refused.push(line);
    if (name !== 'add-mask') result.log.push(line);
  }
  result.stoppedAtEnd = stopToken;
  return result;
}

export const runStep = (script: 'main' | 'post', o: StepOptions): Promise<StepResult> => startStep(script, o).done;

/** main, then post with main's state replayed, as one job. */
export async function runJob(o: StepOptions): Promise<{ main: StepResult; post: StepResult }> {
  const main = await runStep('main', o);
  const post = await runStep('post', { ...o, state: main.state, jobEnv: { ...o.jobEnv, ...main.env } });
  return { main, post };
}

/** Every form a secret could leak in: plain, JSON-escaped, base64. */
export function secretForms(secret: string): string[] {
  return [secret, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64')];
}

/** Returns the secrets (by index) that appear in any log; the caller asserts it is empty. */
export function leakedSecrets(logs: string[], secrets: string[]): string[] {
  const text = logs.join('\n');
  return secrets.filter((s) => s && secretForms(s).some((form) => text.includes(form))).map((s) => `${s.slice(0, 6)}… (${s.length} chars)`);
}

/**
 * Logs of a step as the runner would show them: processed `::add-mask::` commands are what the runner hides,
 * so they are excluded; one it did not process (commands stopped) is shown as text, and counts.
 */
export function stepLogs(...steps: StepResult[]): string[] {
  return steps.flatMap((s) => [s.log.join('\n'), s.summary, JSON.stringify(s.outputs), JSON.stringify(s.state), JSON.stringify(s.env)]);
}

/** post of the job whose main was `main`: its state replayed, its exported variables in the job env. */
export const runPostAfter = (o: StepOptions, main: StepResult): Promise<StepResult> =>
  runStep('post', { ...o, state: main.state, jobEnv: { ...o.jobEnv, ...main.env } });

/** What Codex does to auth.json on a refresh, for tests that stand in for it: temp file + rename, 0600. */
export function replaceAuthFile(codexHome: string, text: string): void {
  const file = path.join(codexHome, 'auth.json');
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** main and post that also keep every result in `log`, for the suite's leak scan. */
export function recordedSteps(log: StepResult[]) {
  const keep = (result: StepResult) => (log.push(result), result);
  return {
    main: async (o: StepOptions) => keep(await runStep('main', o)),
    post: async (o: StepOptions, after: StepResult) => keep(await runPostAfter(o, after)),
  };
}
