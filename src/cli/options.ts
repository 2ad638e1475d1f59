import { ALL_STORES, type StoreKind } from '../inputs.js';
import { envName, isSecret } from './wording.js';

export { cliWording, envName, isSecret } from './wording.js';

/** One option of the CLI: an input of action.yml (embedded at build time) or one only the CLI has. */
export interface OptionSpec {
  name: string;
  description: string;
}

export const SUBCOMMANDS = ['run', 'refresh', 'restore', 'persist'] as const;
export type Subcommand = (typeof SUBCOMMANDS)[number];

/** The inputs the CLI adds to action.yml's (DESIGN §8). */
export const CLI_ONLY_INPUTS: OptionSpec[] = [
  { name: 'gitlab-variable', description: 'gitlab-variable store: the project CI/CD variable that holds base64 of auth.json (default CODEX_AUTH_JSON).' },
  { name: 'gitlab-project', description: 'gitlab-variable store: the project, a numeric id or a path such as group/project (default $CI_PROJECT_ID).' },
  { name: 'gitlab-api-url', description: "gitlab-variable store: GitLab's v4 API URL (default $CI_API_V4_URL)." },
  { name: 'gitlab-token', description: 'gitlab-variable store: a project access token, Maintainer role, `api` scope (CI_JOB_TOKEN cannot write variables).' },
];

/** Inputs with no meaning for the CLI: COMMAND runs Codex itself, and there are no pull-request events. */
const ACTION_ONLY = new Set(['prompt', 'prompt-file', 'allow-untrusted', 'encryption-key']);
/** The CLI's stores: no Actions cache outside GitHub Actions. */
export const CLI_STORES: readonly StoreKind[] = ALL_STORES.filter((s) => s !== 'cache');

/** A usage error: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The CLI's options: action.yml's inputs minus the action-only ones, plus the CLI's own. */
export function cliInputs(actionInputs: OptionSpec[]): OptionSpec[] {
  const store = { name: 'store', description: 'Where the refreshed auth.json is kept between runs: `runner` (codex-home on a persistent machine), `gitlab-variable` (a GitLab CI/CD variable), `command` (your secret manager), `github-secret`; `auto` = `runner`.' };
  return [...actionInputs.filter((i) => !ACTION_ONLY.has(i.name)).map((i) => (i.name === 'store' ? store : i)), ...CLI_ONLY_INPUTS];
}

export interface Parsed {
  subcommand: Subcommand | null;
  help: boolean;
  stdin: boolean;
  stateFile: string;
  /** input name → value, from flags and CODEX_AUTH_* (a flag wins) */
  inputs: Map<string, string>;
  command: string[];
}

/**
 * Parses `codex-auth SUBCOMMAND [--name value | --name=value]… [-- COMMAND…]`. Names and allowed values
 * are checked here only as far as the input table goes; values are checked by readInputs, the action's own
 * validation, whose messages the CLI rewords (cliWording).
 */
export function parseArgs(argv: string[], table: OptionSpec[], env: NodeJS.ProcessEnv): Parsed {
  const names = new Set(table.map((o) => o.name));
  const out: Parsed = { subcommand: null, help: false, stdin: false, stateFile: env.CODEX_AUTH_STATE_FILE ?? '', inputs: new Map(), command: [] };
  const flags = new Map<string, string>();
  let i = 0;
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help' || first === undefined) return { ...out, help: true };
  if (!(SUBCOMMANDS as readonly string[]).includes(first)) throw new UsageError(`Unknown subcommand '${first}': use one of ${SUBCOMMANDS.map((s) => `\`${s}\``).join(', ')} (\`codex-auth --help\`).`);
  out.subcommand = first as Subcommand;
  for (i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.command = argv.slice(i + 1);
      break;
    }
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (arg === '--stdin') {
      out.stdin = true;
      continue;
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    if (!match) throw new UsageError(`Unexpected argument '${arg}': options are \`--name value\`, and COMMAND follows \`--\` (\`codex-auth ${out.subcommand} --help\`).`);
    const name = match[1] as string;
    if (name !== 'state-file' && !names.has(name)) throw new UsageError(`Unknown option \`--${name}\` for \`codex-auth ${out.subcommand}\` (\`codex-auth ${out.subcommand} --help\` lists them).`);
    if (isSecret(name)) throw new UsageError(`\`--${name}\` is not a flag: a secret on the command line shows in process lists. Put it in ${envName(name)}.`);
    let value = match[2];
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`Option \`--${name}\` needs a value.`);
    }
    if (name === 'state-file') out.stateFile = value;
    else flags.set(name, value);
  }
  for (const { name } of table) {
    const value = isSecret(name) ? env[envName(name)] : (flags.get(name) ?? env[envName(name)]);
    if (value !== undefined && value !== '') out.inputs.set(name, value);
  }
  if (out.help) return out;
  if (out.subcommand === 'run' && out.command.length === 0) throw new UsageError('`codex-auth run` needs a COMMAND after `--`, e.g. `codex-auth run --store gitlab-variable -- codex exec "…"`.');
  if (out.subcommand !== 'run' && out.command.length > 0) throw new UsageError(`\`codex-auth ${out.subcommand}\` takes no COMMAND; \`codex-auth run … -- COMMAND\` runs one.`);
  if (out.stdin && out.subcommand !== 'run') throw new UsageError('`--stdin` is for `codex-auth run` only: it gives COMMAND the CLI\'s stdin.');
  if (out.stateFile && (out.subcommand === 'run' || out.subcommand === 'refresh')) throw new UsageError(`\`--state-file\` joins \`restore\` and \`persist\`; \`codex-auth ${out.subcommand}\` keeps its state in memory.`);
  resolveLock(out.inputs);
  requireRepositories(out.inputs);
  return out;
}

/**
 * `lock: auto` outside Actions: the file lock for the runner store (one host). For a store off the host no
 * default is safe without asking: the github lock needs a token, and `none` is right only when the CI
 * serializes the jobs itself (GitLab's `resource_group:`). So the user says which.
 */
function resolveLock(inputs: Map<string, string>): void {
  const lock = inputs.get('lock') ?? 'auto';
  if (lock !== 'auto') return;
  const store = inputs.get('store') ?? 'auto';
  // an unknown store is readInputs' to name, with the allowed values
  if (store === 'auto' || store === 'runner' || !(CLI_STORES as readonly string[]).includes(store)) return inputs.set('lock', 'file'), undefined;
  if (inputs.get('github-token')) return inputs.set('lock', 'github'), undefined;
  throw new UsageError(
    `Option \`--lock\` is \`auto\`, and the ${store} store lies off this machine: say how jobs are serialized. Use \`--lock none\` when the CI runs one job of this stream at a time (GitLab: \`resource_group:\`), or \`--lock github\` with CODEX_AUTH_GITHUB_TOKEN and \`--lock-repository\`. Allowed: \`none\`, \`file\`, \`github\`.`,
  );
}

/**
 * In the action, `lock-repository` and `secret-repository` default to the workflow's repository; outside
 * GitHub there is none, so they must be given where they are used, and are a placeholder where not.
 */
function requireRepositories(inputs: Map<string, string>): void {
  const uses = { 'lock-repository': inputs.get('lock') === 'github', 'secret-repository': inputs.get('store') === 'github-secret' };
  for (const [name, used] of Object.entries(uses)) {
    if (inputs.has(name)) continue;
    if (used) throw new UsageError(`Option \`--${name}\` is needed with ${name === 'lock-repository' ? '`--lock github`' : '`--store github-secret`'}: give the GitHub repository as {owner}/{repo}.`);
    inputs.set(name, 'unknown/unknown');
  }
}

/** First sentence of a description, for the help. */
function brief(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const end = flat.search(/\.(\s|$)/);
  return end > 0 ? flat.slice(0, end + 1) : flat;
}

const USAGE: Record<Subcommand | 'main', string> = {
  main: 'codex-auth SUBCOMMAND [options]\n\nKeeps a ChatGPT-managed Codex login (auth.json) alive on any CI: restore it from a store, hold a lock,\nrun your command, persist the file Codex refreshed.\n\nSubcommands:\n  run [options] -- COMMAND [ARGS…]  restore, run COMMAND with CODEX_HOME set, persist, release; exit with COMMAND\'s code\n  refresh [options]                 restore, rotate the tokens through Codex without a model turn, persist\n  restore [options]                 the first half: lock, restore or seed, write auth.json; state in --state-file\n  persist [options]                 the second half (e.g. GitLab\'s after_script): persist, release, clean up\n\n`codex-auth SUBCOMMAND --help` lists the options. Exit codes: COMMAND\'s own for `run`, 2 for a usage error, 1 otherwise.',
  run: 'codex-auth run [options] [--stdin] -- COMMAND [ARGS…]\n\nTakes the lock, restores (or seeds) auth.json into codex-home, runs COMMAND with CODEX_HOME set (stdin closed\nunless --stdin; its own process group, which gets SIGINT/SIGTERM), then persists what is valid, changed and\nnot older, releases the lock, and exits with COMMAND\'s exit code (1 when COMMAND succeeded but persisting failed).',
  refresh: 'codex-auth refresh [options]\n\nThe keep-fresh job: restores, rotates the tokens through Codex itself without a model turn (`refresh: force`),\npersists the new file, releases the lock.',
  restore: 'codex-auth restore [options] [--state-file FILE]\n\nTakes the lock, restores (or seeds) auth.json into codex-home and keeps what `persist` needs in FILE (default\n<codex-home>/.codex-auth-state.json, 0600, no token in it). Run `codex-auth persist` with the same options later,\neven when the job failed (GitLab: `after_script`).',
  persist: 'codex-auth persist [options] [--state-file FILE]\n\nPersists the auth.json that `restore` wrote (when valid, changed and not older), releases the lock and cleans up.\nIt trusts FILE no more than the action trusts its state: every path and lock handle in it is checked.',
};

export function helpText(subcommand: Subcommand | null, table: OptionSpec[]): string {
  if (!subcommand) return `${USAGE.main}\n`;
  const lines = table.map((o) => {
    const how = isSecret(o.name) ? `env ${envName(o.name)} only` : `--${o.name}, env ${envName(o.name)}`;
    return `  ${how}\n      ${brief(o.description)}`;
  });
  const extra = subcommand === 'restore' || subcommand === 'persist' ? ['  --state-file FILE, env CODEX_AUTH_STATE_FILE\n      Where restore keeps what persist needs (default <codex-home>/.codex-auth-state.json).'] : [];
  return `${USAGE[subcommand]}\n\nOptions (a flag wins over its variable; the seed is CODEX_AUTH_JSON, raw or base64, never a flag):\n${[...lines, ...extra].join('\n')}\n`;
}
