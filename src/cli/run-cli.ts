import * as core from './core-host.js';
import { host } from './core-host.js';
import path from 'node:path';
import { errorMessage } from '../errors.js';
import { readInputs } from '../inputs.js';
import { systemClock } from '../log.js';
import type { MainDeps } from '../deps.js';
import { runMain } from '../run-main.js';
import { runPost } from '../run-post.js';
import { signalExitCode, startCommand, type Running } from './command.js';
import { cliContext } from './context.js';
import { cliInputs, cliWording, CLI_STORES, helpText, parseArgs, UsageError, type OptionSpec, type Parsed } from './options.js';
import { loadStateFile, removeStateFile, saveStateFile } from './state-file.js';

/**
 * The `codex-auth` CLI (DESIGN §8): the action's own pipeline, runMain then runPost, with COMMAND between
 * them (`run`), or split across two processes joined by a state file (`restore`, `persist`). Returns the
 * exit code: COMMAND's for `run`, 2 for a usage error, 1 for any other failure.
 */
export async function runCli(argv: string[], actionInputs: OptionSpec[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  host.debug = env.CODEX_AUTH_DEBUG === '1' || env.CODEX_AUTH_DEBUG === 'true';
  const table = cliInputs(actionInputs);
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv, table, env);
  } catch (error) {
    return usage(error);
  }
  if (parsed.help || !parsed.subcommand) {
    process.stdout.write(helpText(parsed.subcommand, table));
    return 0;
  }
  for (const [name, value] of parsed.inputs) host.inputs.set(name, value);
  host.inputs.set('prompt', '');
  if (parsed.subcommand === 'refresh') host.inputs.set('refresh', 'force');
  const deps: MainDeps = { log: core, clock: systemClock, env, context: cliContext, inputOptions: { stores: CLI_STORES } };
  let codexHome: string;
  try {
    // The action's own validation, once up front: a bad value is a usage error, before any lock or request.
    codexHome = readInputs(cliContext(env), env, deps.inputOptions).codexHome;
  } catch (error) {
    return usage(error);
  }
  const stateFile = path.resolve(parsed.stateFile || path.join(codexHome, '.codex-auth-state.json'));
  switch (parsed.subcommand) {
    case 'run':
      return run(parsed, deps);
    case 'refresh':
      return both(deps);
    case 'restore':
      return restore(deps, stateFile);
    case 'persist':
      return persist(deps, stateFile);
  }
}

function usage(error: unknown): number {
  core.error(cliWording(errorMessage(error)));
  if (!(error instanceof UsageError)) core.error('(`codex-auth --help` lists the subcommands and options.)');
  return 2;
}

/**
 * run: main, COMMAND, post. SIGINT/SIGTERM are caught for the whole run, so that post always runs: while
 * the lock is awaited main leaves the queue; while COMMAND runs the signal goes to its process group; a
 * signal before COMMAND started means it is not started.
 */
async function run(parsed: Parsed, deps: MainDeps): Promise<number> {
  let running: Running | null = null;
  let caught: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    caught ??= signal;
    core.info(`Got ${signal}${running ? ": passing it to COMMAND's process group" : ''}; auth.json is persisted and the lock released before exiting.`);
    running?.signal(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runMain(deps);
    printOutputs();
    let code = 1;
    if (host.failed) {
      core.error('COMMAND was not run: restoring auth.json failed (above).');
    } else if (caught) {
      code = signalExitCode(caught);
      core.error(`COMMAND was not run: ${caught} arrived first.`);
    } else {
      running = startCommand(parsed.command, { stdin: parsed.stdin, codexHome: host.exported.get('CODEX_HOME') ?? '', log: core });
      code = await running.exited;
      running = null;
      core.info(`COMMAND exited with code ${code}.`);
    }
    host.failed = false;
    await runPost(deps);
    return code === 0 && host.failed ? 1 : code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** refresh: main with `refresh: force` and no prompt, then post. */
async function both(deps: MainDeps): Promise<number> {
  await runMain(deps);
  printOutputs();
  const mainFailed = host.failed;
  await runPost(deps);
  return mainFailed || host.failed ? 1 : 0;
}

async function restore(deps: MainDeps, stateFile: string): Promise<number> {
  await runMain(deps);
  // Saved even when main failed half-way: the lock it may hold is released by `persist`.
  if (host.state.size > 0) {
    try {
      await saveStateFile(stateFile, host.state);
    } catch (error) {
      core.setFailed(`Could not write the state file ${stateFile}: ${errorMessage(error)}`);
    }
  }
  printOutputs();
  return host.failed ? 1 : 0;
}

async function persist(deps: MainDeps, stateFile: string): Promise<number> {
  const state = await loadStateFile(stateFile, core);
  if (!state) {
    core.info(`No state in ${stateFile}: \`codex-auth restore\` did not get as far as the lock, so there is nothing to persist or release.`);
    return 0;
  }
  for (const [name, value] of state) host.state.set(name, value);
  await runPost(deps);
  await removeStateFile(stateFile);
  return host.failed ? 1 : 0;
}

/** The outputs, as `name=value` lines (none of them is a secret). */
function printOutputs(): void {
  for (const name of ['codex-home', 'source', 'last-refresh', 'stale', 'lock-wait-seconds']) {
    const value = host.outputs.get(name);
    if (value !== undefined && value !== '') core.info(`${name}=${value}`);
  }
}
