import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { decidePersist, hashText, parseAuthFile, readCredentialFile, writeCredentialFile, type AuthFile } from '../auth-file.js';
import type { RunAs } from '../codex.js';
import type { RunContext } from '../context.js';
import { errorMessage, UserError } from '../errors.js';
import type { SafetyStrategy } from '../inputs.js';
import type { Log } from '../log.js';
import { asAgent, baseEnv, privileged, probePrivilege, run, shellExports, SYSTEM_PATH, systemCommand, why, type Privilege } from './agent-exec.js';
import { AGENT_FILE_LIMIT, bitsFor, closedAncestors, isWithin, processesOf, readAgentFile, type Account } from './agent-files.js';

/** The user codex runs as under `safety-strategy: unprivileged-user` on a GitHub-hosted runner. */
export const AGENT_USER = 'codex-agent';

/**
 * One agent user per runner: on a machine that hosts several self-hosted runners, jobs run at once, and
 * one shared user would let one job's agent write another's working tree, and one job's clean-up end
 * another's agent. A GitHub-hosted runner is a machine of its own.
 */
export function agentUserName(ctx: Pick<RunContext, 'runnerEnvironment' | 'runnerName'>): string {
  if (ctx.runnerEnvironment === 'github-hosted') return AGENT_USER;
  return `${AGENT_USER}-${createHash('sha256').update(ctx.runnerName || 'runner').digest('hex').slice(0, 8)}`;
}

/** The runner's file-command files: the agent must not reach them (it could append state or outputs). */
const FILE_COMMANDS = ['GITHUB_STATE', 'GITHUB_ENV', 'GITHUB_OUTPUT', 'GITHUB_PATH', 'GITHUB_STEP_SUMMARY'];

/** `auto` is `unprivileged-user` on GitHub-hosted Linux runners (passwordless sudo, a throwaway machine), `none` elsewhere. */
export function resolveSafetyStrategy(strategy: SafetyStrategy, where: { runnerEnvironment: RunContext['runnerEnvironment']; platform: NodeJS.Platform }): 'unprivileged-user' | 'none' {
  if (strategy !== 'auto') return strategy;
  return where.runnerEnvironment === 'github-hosted' && where.platform === 'linux' ? 'unprivileged-user' : 'none';
}

/** Why `unprivileged-user` cannot be had on this runner. */
class Unavailable extends Error {}

/** One codex run as the agent user: what to run it with, and `finish()`, which must follow in a `finally`. */
export interface AgentRun {
  account: Account;
  /** the agent's CODEX_HOME for this run */
  codexHome: string;
  runAs: RunAs;
  /** ends the agent's processes, brings a refreshed auth.json back, undoes the run's permission changes */
  finish(): Promise<void>;
}

export interface AgentOptions {
  strategy: SafetyStrategy;
  ctx: RunContext;
  codex: string;
  /** the action's codex-home, which holds the auth.json to hand over */
  codexHome: string;
  workingDirectory: string;
  log: Log;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  /** this node's path, which tells where the runner lives (its `_diag` logs); process.execPath unless a test says */
  execPath?: string;
}

/**
 * Sets the agent user up for one run, or returns null for `none`. Where it cannot be had, an explicit
 * `unprivileged-user` fails and `auto` falls back to `none` with one line saying why.
 */
export async function prepareAgentRun(options: AgentOptions): Promise<AgentRun | null> {
  const platform = options.platform ?? process.platform;
  if (resolveSafetyStrategy(options.strategy, { runnerEnvironment: options.ctx.runnerEnvironment, platform }) === 'none') return null;
  try {
    return await prepare(options, platform);
  } catch (error) {
    if (!(error instanceof Unavailable)) throw error;
    if (options.strategy === 'unprivileged-user') {
      throw new UserError(
        `\`safety-strategy: unprivileged-user\` is not available on this runner: ${error.message}. Fix that, or set \`safety-strategy: none\` to run Codex as the job's own user (the agent can then read this step's environment, inputs included).`,
      );
    }
    options.log.info(`Codex runs as the job's own user (\`safety-strategy: auto\` fell back to \`none\`): ${error.message}.`);
    return null;
  }
}

async function prepare(options: AgentOptions, platform: NodeJS.Platform): Promise<AgentRun> {
  if (platform !== 'linux') throw new Unavailable(`it needs Linux, and this runner is ${platform}`);
  const given = lentDirectory(options);
  const lent = await realPath(given);
  // both as written and as resolved: a link in either path must not hide that one lies inside the other
  const within = async (p: string) => isWithin(p, given) || isWithin(p, lent) || isWithin(await realPath(p), lent);
  const { ctx } = options;
  for (const inside of [options.codexHome, ctx.runnerTemp, ctx.toolCache, ctx.home, options.codex]) {
    if (await within(inside)) throw new Unavailable(`the working directory ${lent} contains ${inside}, which the agent must not own; point \`working-directory\` or \`codex-home\` elsewhere`);
  }
  await checkSearchPath(options.env ?? process.env, lent, within);
  const action = (await Promise.all(actionPaths(options.env ?? process.env).map(async (p) => ((await within(p)) ? p : '')))).find(Boolean);
  if (action) {
    throw new Unavailable(
      `the working directory ${lent} contains this action (${action}, as with \`uses: ./\`), and an agent that may write there could rewrite its post step, which runs with this step's inputs; use the action from another directory or repository`,
    );
  }
  const privilege = await probePrivilege();
  if (!privilege) throw new Unavailable(`the action runs as uid ${process.getuid?.()} without passwordless \`sudo\` (\`sudo -n true\` fails), so it cannot create or switch to a separate user`);
  const account = await ensureAccount(privilege, agentUserName(options.ctx));
  const version = await asAgent(privilege, account, [options.codex, '--version'], { timeoutMs: 30_000 });
  if (version.code !== 0) {
    throw new Unavailable(`\`codex --version\` fails when run as ${account.name} (${why(version)}): install Codex where every user can read it (not under a private home directory), e.g. with \`codex-version\` into the runner's tool cache`);
  }
  // Another uid is what keeps this process's environment (the inputs) from the agent: make sure it does.
  const environ = await asAgent(privilege, account, ['sh', '-c', 'head -c 1 "/proc/$0/environ" >/dev/null 2>&1 && exit 9; exit 0', String(process.pid)]);
  if (environ.code !== 0) throw new Unavailable(`${account.name} can read this step's environment through /proc/${process.pid}/environ (exit ${environ.code})`);
  return setUp(privilege, account, options, lent);
}

/** Where this action's own files are: where the runner says (not every runner does), and above the running bundle (dist/main/index.js). */
function actionPaths(env: NodeJS.ProcessEnv): string[] {
  const bundle = process.argv[1] ? path.dirname(path.dirname(path.dirname(path.resolve(process.argv[1])))) : '';
  return [env.GITHUB_ACTION_PATH ?? '', bundle].filter(Boolean);
}

/** `p` with every link resolved, as far as it exists (the rest appended): what a later open would reach. */
async function realPath(p: string): Promise<string> {
  const absolute = path.resolve(p);
  try {
    return await fs.realpath(absolute);
  } catch {
    const parent = path.dirname(absolute);
    return parent === absolute ? absolute : path.join(await realPath(parent), path.basename(absolute));
  }
}

/**
 * The job's PATH must not lead into the lent tree: post and later steps find their commands there (the
 * command store's \`bash\`, \`git\`), and would run what the agent planted with the job's rights. An empty or
 * relative entry means the current directory, which may be anywhere.
 */
async function checkSearchPath(env: NodeJS.ProcessEnv, lent: string, within: (p: string) => Promise<boolean>): Promise<void> {
  for (const entry of env.PATH === undefined ? [] : env.PATH.split(path.delimiter)) {
    const bad = !path.isAbsolute(entry) ? `an empty or relative entry (${JSON.stringify(entry)}), which means the current directory` : (await within(entry)) ? `${entry}, which lies in the working tree lent to the agent (${lent})` : '';
    if (bad) {
      throw new Unavailable(
        `the job's PATH holds ${bad}; commands this action and later steps find on PATH would run what the agent put there. Take that entry off PATH (as added through GITHUB_PATH) for this step`,
      );
    }
  }
}

/** What the agent may write: the workspace when codex runs inside it, else the working directory alone. */
function lentDirectory(options: AgentOptions): string {
  return isWithin(options.workingDirectory, options.ctx.workspace) ? options.ctx.workspace : options.workingDirectory;
}

/** The agent user, created when missing; refused when it could do more than an unprivileged user. */
async function ensureAccount(privilege: Privilege, name: string): Promise<Account> {
  let account = await lookup(name);
  for (let attempt = 0; !account && attempt < 5; attempt++) {
    const created = await privileged(privilege, ['useradd', '--system', '--user-group', '--create-home', '--home-dir', `/home/${name}`, '--shell', '/bin/bash', name]);
    account = await lookup(name); // another job may have created it meanwhile
    if (!account && created.code !== 10) throw new Unavailable(`\`useradd ${name}\` failed (${why(created)})`);
    if (!account) await new Promise((r) => setTimeout(r, 200 * (attempt + 1))); // 10: /etc/passwd is locked
  }
  if (!account) throw new Unavailable(`\`useradd ${name}\` kept finding /etc/passwd locked`);
  if (account.uid === 0 || account.uid === process.getuid?.()) throw new Unavailable(`the user ${name} has uid ${account.uid}, the same as root or this action's`);
  const groups = (await run('id', ['-G', name])).stdout.trim().split(/\s+/).map(Number);
  const others = groups.filter((gid) => gid !== account.gid);
  if (others.length > 0) {
    throw new Unavailable(`the existing user ${name} is also in groups ${others.join(', ')}; it must be in none but its own (a sudo or docker group would make it root). Remove it (\`userdel ${name}\`) and the action creates it again`);
  }
  const sudo = await run('sudo', ['-n', '-l', '-U', name], { timeoutMs: 10_000 });
  if (sudo.code === 0 && !/not allowed/i.test(sudo.stdout + sudo.stderr)) throw new Unavailable(`the user ${name} may run \`sudo\`; it must not`);
  const denied = await privileged(privilege, ['sh', '-c', DENY_CRON_AND_AT, name]);
  if (denied.code === 8) throw new Unavailable(`the user ${name} is listed in /etc/cron.allow or /etc/at.allow, so it could leave jobs that run after Codex; remove it from there`);
  if (denied.code !== 0) throw new Unavailable(`could not deny ${name} cron and at (${why(denied)})`);
  await ensureHome(privilege, account);
  return account;
}

/**
 * cron and at would let the agent run after its processes are ended (on a self-hosted runner, into the next
 * job, which hands its auth.json to the same user). Its name goes into /etc/cron.deny (created when missing:
 * with neither file, Debian's cron lets every user in) and into /etc/at.deny when at consults it (with
 * neither at file, at is root's alone, and creating at.deny would let every other user in). An allow file
 * overrides deny: the name must not be in it. Exit 8 when it is.
 */
const DENY_CRON_AND_AT = `umask 022
for kind in cron at; do
  if [ -e "/etc/$kind.allow" ]; then grep -qxF -- "$0" "/etc/$kind.allow" && exit 8; continue; fi
  [ "$kind" = at ] && [ ! -e /etc/at.deny ] && continue
  grep -qxF -- "$0" "/etc/$kind.deny" 2>/dev/null || printf '%s\\n' "$0" >> "/etc/$kind.deny" || exit 9
done
exit 0`;

/**
 * What the agent may leave behind outside the tree, removed as root once its processes are gone: its crontab,
 * its at jobs, and its files in the shared temporary directories (not inside the lent tree, which may lie in
 * /tmp: that goes back to its owner instead). \`find -P -delete\` never follows a link and deletes relative to
 * the directory it walks. $0 is the user, $1 a \`find -path\` pattern of the lent tree.
 */
const SWEEP = `command -v crontab >/dev/null 2>&1 && crontab -r -u "$0" >/dev/null 2>&1
if command -v atq >/dev/null 2>&1 && command -v atrm >/dev/null 2>&1; then
  for job in $(atq | awk -v u="$0" '$NF == u { print $1 }'); do atrm "$job"; done
fi
for dir in /tmp /var/tmp /dev/shm; do
  [ -d "$dir" ] && find -P "$dir" -xdev -mindepth 1 ! -path "$1" ! -path "$1/*" -user "$0" -delete 2>/dev/null
done
exit 0`;

/** Its home must be a directory of its own: the run changes its mode and puts the agent's CODEX_HOME in it. */
async function ensureHome(privilege: Privilege, account: Account): Promise<void> {
  const home = await fs.lstat(account.home).catch(() => null);
  if (!home && account.home === `/home/${account.name}`) {
    await must(privileged(privilege, ['install', '-d', '-o', String(account.uid), '-g', String(account.gid), '-m', '0700', account.home]), `create ${account.home}`);
  } else if (!home?.isDirectory() || home.uid !== account.uid) {
    throw new Unavailable(`the home directory of ${account.name}, ${account.home}, is not a directory of its own; remove the user (\`userdel ${account.name}\`) and the action creates it again`);
  }
}

async function lookup(name: string): Promise<Account | null> {
  const result = await run('getent', ['passwd', name]);
  if (result.code === 2) return null;
  const fields = result.stdout.trim().split(':');
  if (result.code !== 0 || fields.length < 7) throw new Unavailable(`\`getent passwd ${name}\` failed (${why(result)})`);
  return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] as string };
}

/** A directory whose mode the run changed, with the mode to put back. */
interface Changed {
  dir: string;
  mode: number;
}

/**
 * Hands the agent its home, its own CODEX_HOME with a copy of auth.json, and the working tree; closes
 * RUNNER_TEMP and the file-command directories where other users could enter them. Whatever fails on the
 * way is undone, and makes the strategy unavailable.
 */
async function setUp(privilege: Privilege, account: Account, options: AgentOptions, lent: string): Promise<AgentRun> {
  const { log } = options;
  const owner = await fs.stat(lent);
  const runDir = path.join(RUN_ROOT, account.name, `run-${randomBytes(6).toString('hex')}`);
  const codexHome = path.join(runDir, 'codex-home');
  const authPath = path.join(options.codexHome, 'auth.json');
  const handed = await readCredentialFile(authPath);
  if (handed === null) throw new Error(`No auth.json in ${options.codexHome} to hand to ${account.name}`);
  // An API-key or access-token login (their own file format) is handed over too, and never comes back:
  // nothing in it rotates.
  const handedInfo = chatgptInfo(handed);
  const restored = handedInfo && { hash: hashText(handed), lastRefresh: handedInfo.lastRefresh, accountId: handedInfo.accountId };
  const changed: Changed[] = [];
  const lending = { out: false };
  const runAs = agentRunAs(privilege, account, runDir, codexHome);
  const undo = async (): Promise<string[]> => {
    // root works on names inside what the agent owned: none of its processes may run meanwhile to swap them
    await runAs.endAll();
    const problems = lending.out ? await giveBack(privilege, account, lent, owner) : [];
    for (const { dir, mode } of changed.splice(0).reverse()) {
      const put = await privileged(privilege, ['chmod', mode.toString(8), '--', dir]);
      if (put.code !== 0) problems.push(`could not restore the mode of ${dir} (${why(put)})`);
    }
    // by root, with the agent's processes ended: the leaf lies in root's directories, and rm never follows a link
    const removed = await privileged(privilege, ['rm', '-rf', '--one-file-system', '--', runDir]);
    if (removed.code !== 0) problems.push(`could not remove ${runDir} (${why(removed)})`);
    const swept = await privileged(privilege, ['sh', '-c', SWEEP, account.name, findPattern(lent)], { timeoutMs: TREE_TIMEOUT_MS });
    if (swept.code !== 0) problems.push(`could not remove what ${account.name} left in cron, at or the temporary directories (${why(swept)})`);
    return problems;
  };
  try {
    // whatever an earlier run of the agent left running (a job killed before it could clean up) goes first
    await runAs.endAll();
    await privileged(privilege, ['sh', '-c', SWEEP, account.name, findPattern(lent)], { timeoutMs: TREE_TIMEOUT_MS });
    await handOver(privilege, account, options.codexHome, runDir, codexHome);
    await closeToOthers(privilege, account, options, lent, changed, log);
    await closeRunnerLogs(privilege, account, options, changed);
    await openTheWay(privilege, account, lent, changed, log);
    lending.out = true;
    await lend(privilege, account, lent, owner.uid);
  } catch (error) {
    await undo();
    throw new Unavailable(errorMessage(error));
  }
  log.info(`Codex runs as the user ${account.name} (uid ${account.uid}), which can write ${lent} and its own CODEX_HOME, and cannot read this step's environment, RUNNER_TEMP or the runner's files.`);
  return {
    account,
    codexHome,
    runAs,
    finish: async () => {
      await runAs.endAll();
      if (restored) {
        await bringBack(account, runAs.readBack, path.join(codexHome, 'auth.json'), authPath, restored, log).catch((error: unknown) =>
          log.warning(`The auth.json Codex used as ${account.name} was not taken back: ${errorMessage(error)}`),
        );
      }
      for (const problem of await undo()) log.warning(`After running Codex as ${account.name}: ${problem}.`);
    },
  };
}

/**
 * Where the agent's run directories live: root's, 0711, as is the directory for each agent user below it, so
 * the agent owns only the leaf and can neither rename nor replace any directory above it.
 */
export const RUN_ROOT = '/var/lib/codex-auth';

/**
 * The agent's private run directory and CODEX_HOME (0700), auth.json and config.toml in it (0600), all its own.
 * Root creates only the run directory, a leaf in directories of its own (RUN_ROOT). Everything inside is
 * written as the agent user: root writing by name into a directory the agent owns would follow whatever link
 * the agent put there (a CODEX_HOME that leads to /etc), and the agent user can write nothing it could not
 * write anyway.
 */
export async function handOver(privilege: Privilege, account: Account, from: string, runDir: string, codexHome: string): Promise<void> {
  await must(privileged(privilege, ['chmod', '0700', account.home]), `make ${account.home} private`);
  for (const dir of [RUN_ROOT, path.dirname(runDir)]) await must(privileged(privilege, ['install', '-d', '-o', '0', '-g', '0', '-m', '0711', dir]), `create ${dir}`);
  await must(privileged(privilege, ['install', '-d', '-o', String(account.uid), '-g', String(account.gid), '-m', '0700', runDir]), `create ${runDir}`);
  await must(asAgent(privilege, account, ['mkdir', '-m', '0700', '--', codexHome]), `create ${codexHome}`);
  for (const name of ['auth.json', 'config.toml']) {
    const file = path.join(from, name);
    if (name === 'config.toml' && !(await fs.lstat(file).catch(() => null))?.isFile()) continue;
    await writeAsAgent(privilege, account, path.join(codexHome, name), await fs.readFile(file, 'utf8'));
  }
}

/** A big working tree takes a while to walk. */
const TREE_TIMEOUT_MS = 10 * 60_000;

/**
 * The working tree is lent by ownership, which needs no ACL tools, keeps git's ownership check happy, and is
 * undone exactly (giveBack). Files with more than one link stay the owner's: their other names may lie
 * outside the tree (a package manager's store), and the agent can still replace them, not change them.
 */
async function lend(privilege: Privilege, account: Account, lent: string, ownerUid: number): Promise<void> {
  // -execdir: chown gets a name relative to the directory find entered (checking it is the one it walked),
  // never a path through directories the agent could swap for links. \`.git\` (any depth) stays the owner's:
  // hooks, core.fsmonitor or core.hooksPath written there would run in a later step's git.
  const find = ['find', '-P', lent, '-name', '.git', '-prune', '-o', '(', '-type', 'd', '-o', '-links', '1', ')', '-user', String(ownerUid), '-execdir', 'chown', '-h', String(account.uid), '--', '{}', '+'];
  await must(privileged(privilege, find, { timeoutMs: TREE_TIMEOUT_MS }), `lend ${lent} to ${account.name}`);
  const check = await asAgent(privilege, account, ['sh', '-c', 'cd -- "$0" && test -w .', lent]);
  if (check.code !== 0) throw new Error(`${account.name} still cannot write ${lent} (${why(check)})`);
}

async function must(pending: Promise<{ code: number; stdout: string; stderr: string }>, what: string): Promise<void> {
  const result = await pending;
  if (result.code !== 0) throw new Error(`Could not ${what}: ${why(result)}`);
}

/**
 * The tree goes back to its owner, files the agent created included (their group too). Before that, with
 * the agent's processes ended: a file of its own with more than one link is removed (its other name may lie
 * outside the tree, where the agent would keep it and the owner would come to own it), and its files lose the
 * group and other write bits and set-id bits it may have added (a world-writable file in the job's tree).
 */
async function giveBack(privilege: Privilege, account: Account, lent: string, owner: { uid: number; gid: number }): Promise<string[]> {
  const problems: string[] = [];
  const uid = String(account.uid);
  for (const [what, find] of [
    ['remove the hard links it made', ['find', '-P', lent, '-user', uid, '!', '-type', 'd', '-links', '+1', '-execdir', 'rm', '-f', '--', '{}', '+']],
    ['take back the write bits it gave', ['find', '-P', lent, '-user', uid, '!', '-type', 'l', '-perm', '/6022', '-execdir', 'chmod', 'go-w,ug-s', '--', '{}', '+']],
  ] as const) {
    const result = await privileged(privilege, [...find], { timeoutMs: TREE_TIMEOUT_MS });
    if (result.code !== 0) problems.push(`could not ${what} in ${lent} (${why(result)})`);
  }
  for (const [from, to] of [[`--from=${account.uid}`, String(owner.uid)], [`--from=:${account.gid}`, `:${owner.gid}`]] as const) {
    const result = await privileged(privilege, ['chown', '-R', '-h', from, to, '--', lent], { timeoutMs: TREE_TIMEOUT_MS });
    if (result.code !== 0) problems.push(`could not give ${lent} back to uid ${owner.uid} (${why(result)})`);
  }
  return problems;
}

/**
 * RUNNER_TEMP (main's scratch copies, the runner's file-command files) and the file-command directories
 * are closed to other users for the run when they are open; a directory the agent needs on its way, or one
 * the action does not own (such as /tmp), is left as it is with a warning.
 */
async function closeToOthers(privilege: Privilege, account: Account, options: AgentOptions, lent: string, changed: Changed[], log: Log): Promise<void> {
  const env = options.env ?? process.env;
  const dirs = new Set([options.ctx.runnerTemp, ...FILE_COMMANDS.map((name) => env[name]).filter((f): f is string => !!f).map((f) => path.dirname(f))]);
  for (const dir of dirs) {
    const stat = await fs.stat(dir).catch(() => null);
    if (!stat?.isDirectory() || (bitsFor(stat, account) & 5) === 0) continue;
    const needed = [lent, options.codex, account.home].some((p) => isWithin(p, dir));
    if (needed || stat.uid !== process.getuid?.() || (stat.mode & 0o1000) !== 0) {
      log.warning(`${dir} stays open to ${account.name} (mode ${(stat.mode & 0o7777).toString(8)}): ${needed ? 'Codex or the working directory lies inside it' : 'the action does not own it'}.`);
      continue;
    }
    await setMode(privilege, dir, stat.mode & 0o7777, stat.mode & 0o7770, changed);
  }
}

/**
 * The runner's own logs (\`<runner root>/_diag\`, its \`pages/*.log\` 0644 in 0755 directories) carry the live
 * step log, and with it the token that resumes workflow commands. Once openTheWay lets others pass the
 * directories above the working tree, the agent could read them there: \`_diag\` is closed to others for the run,
 * or the strategy is not available. The runner's node is \`<root>/externals/node<N>/bin/node\`; RUNNER_ROOT is
 * honoured where a runner sets it.
 */
async function closeRunnerLogs(privilege: Privilege, account: Account, options: AgentOptions, changed: Changed[]): Promise<void> {
  const roots = new Set<string>();
  const node = /^(.*)\/externals\/node\d+\/bin\/node$/.exec(await realPath(options.execPath ?? process.execPath));
  if (node?.[1]) roots.add(node[1]);
  const hint = (options.env ?? process.env).RUNNER_ROOT;
  if (hint && path.isAbsolute(hint)) roots.add(await realPath(hint));
  for (const root of roots) {
    const diag = path.join(root, '_diag');
    const stat = await fs.stat(diag).catch(() => null);
    if (!stat?.isDirectory() || (bitsFor(stat, account) & 5) === 0) continue;
    await setMode(privilege, diag, stat.mode & 0o7777, stat.mode & 0o7770, changed);
  }
}

/** \`dir\` as a \`find -path\` pattern that matches only itself. */
function findPattern(dir: string): string {
  return dir.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * The directories above the working tree that other users cannot pass (on GitHub-hosted runners,
 * /home/runner is 0750) get the others' search bit for the run: passing, not listing. RUNNER_TEMP and the
 * action's private directories stay closed on their own (0700, or closed above).
 */
async function openTheWay(privilege: Privilege, account: Account, lent: string, changed: Changed[], log: Log): Promise<void> {
  for (const { dir, mode } of await closedAncestors(lent, account)) {
    await setMode(privilege, dir, mode, mode | 0o001, changed);
    log.info(`${dir} lets other users pass (mode ${(mode | 0o001).toString(8)}, was ${mode.toString(8)}) while Codex runs, so that ${account.name} reaches ${lent}.`);
  }
}

async function setMode(privilege: Privilege, dir: string, from: number, to: number, changed: Changed[]): Promise<void> {
  changed.push({ dir, mode: from });
  await must(privileged(privilege, ['chmod', to.toString(8), '--', dir]), `change the mode of ${dir}`);
}

/** What a ChatGPT auth.json says of itself; null for the other logins Codex writes (API key, access token). */
function chatgptInfo(text: string): AuthFile['info'] | null {
  try {
    return parseAuthFile(text, 'auth.json').info;
  } catch {
    return null;
  }
}

/**
 * The agent's auth.json comes back into the action's codex-home when Codex refreshed it: read without
 * following links, then checked as post would (valid, not older), then written atomically, 0600.
 */
async function bringBack(
  account: Account,
  read: (file: string) => Promise<string | null>,
  agentAuth: string,
  authPath: string,
  restored: { hash: string; lastRefresh: number | null; accountId: string },
  log: Log,
): Promise<void> {
  const text = await read(agentAuth);
  const decision = decidePersist(restored, text);
  if (decision.kind === 'unchanged') return;
  if (decision.kind !== 'changed') {
    log.warning(`The auth.json Codex left as ${account.name} is not taken back: ${decision.reason}.`);
    return;
  }
  await writeCredentialFile(authPath, decision.auth.text);
  log.info(`Codex refreshed auth.json as ${account.name}; the refreshed file is back in ${path.dirname(authPath)}.`);
}

/**
 * \`.git\` stays the job user's while the rest of the tree is the agent's, and git refuses a repository another
 * user owns ("dubious ownership"): \`safe.directory=*\` as command-scope configuration (which git honours for
 * it) lets the agent's git read it. Appended to any GIT_CONFIG_COUNT the job set.
 */
function trustTree(env: Record<string, string>): Record<string, string> {
  const count = /^\d+$/.test(env.GIT_CONFIG_COUNT ?? '') ? Number(env.GIT_CONFIG_COUNT) : 0;
  return { GIT_CONFIG_COUNT: String(count + 1), [`GIT_CONFIG_KEY_${count}`]: 'safe.directory', [`GIT_CONFIG_VALUE_${count}`]: '*' };
}

/**
 * How runCodexExec starts codex as the agent, reads what it wrote, and ends what it left. Ending and
 * reading take turns: a `kill -1` as that user while a read runs as that user (through sudo) would end
 * the read too.
 */
function agentRunAs(privilege: Privilege, account: Account, runDir: string, codexHome: string): RunAs & { readBack(file: string): Promise<string | null> } {
  let turn: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turn.then(fn, fn);
    turn = next.catch(() => undefined);
    return next;
  };
  const endAll = async () => {
    // kill(-1) as that user reaches every process it owns, in any group or session; at least once, since
    // /proc mounted with hidepid may show the action none of them
    for (let round = 0; round === 0 || (round < 20 && (await processesOf(account.uid)).length > 0); round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 25 * round));
      await asAgent(privilege, account, ['sh', '-c', 'kill -KILL -1 2>/dev/null; exit 0'], { timeoutMs: 10_000 });
    }
  };
  return {
    outputDir: runDir,
    codexHome,
    async command(file, args, env) {
      const agentEnv = { ...env, ...baseEnv(account, env.PATH), ...trustTree(env), CODEX_HOME: codexHome };
      if (privilege === 'root') return { file, args, env: agentEnv, uid: account.uid, gid: account.gid };
      // Through sudo, the environment goes in a file only the agent can read, never on a command line.
      const envFile = path.join(runDir, `.env-${randomBytes(6).toString('hex')}`);
      await writeAsAgent(privilege, account, envFile, shellExports(agentEnv));
      const script = 'set -a && . "$0" && rm -f -- "$0" && set +a && exec "$@"';
      return { file: systemCommand('sudo'), args: ['-n', '-u', account.name, '--', systemCommand('env'), '-i', '/bin/sh', '-c', script, envFile, file, ...args], env: { PATH: SYSTEM_PATH } };
    },
    readOutput: (file) => inTurn(async () => (await readBack(privilege, account, file, 1024 * 1024)) ?? ''),
    endAll: () => inTurn(endAll),
    readBack: (file) => inTurn(() => readBack(privilege, account, file, AGENT_FILE_LIMIT)),
  };
}

/** Exit codes of READ_BACK, each a reason to refuse. */
const REFUSED: Record<number, string> = { 3: 'it is a symbolic link', 5: 'it is not a regular file', 6: 'it is not owned by the agent user', 7: 'it is larger than allowed' };
/**
 * The same checks as readAgentFile, run as the agent itself (through sudo the action cannot open its files).
 * The read is capped (\`head -c\`, and run()'s own cap): a file swapped for /dev/zero after the checks ends at
 * limit + 1 bytes, which is refused.
 */
const READ_BACK = '[ -L "$0" ] && exit 3; [ -e "$0" ] || exit 4; [ -f "$0" ] || exit 5; [ -O "$0" ] || exit 6; [ "$(stat -c %s -- "$0")" -le "$1" ] || exit 7; exec head -c "$(($1 + 1))" -- "$0"';

/**
 * Reads a file the agent left, once its processes are gone. As root: O_NOFOLLOW and fstat (readAgentFile).
 * Through sudo: as the agent user, so a link could only ever lead to what that user may read anyway.
 */
async function readBack(privilege: Privilege, account: Account, file: string, limit: number): Promise<string | null> {
  if (privilege === 'root') return readAgentFile(file, account, limit);
  const result = await asAgent(privilege, account, ['sh', '-c', READ_BACK, file, String(limit)], { maxBytes: limit + 1 });
  if (result.code === 4) return null;
  const refused = REFUSED[result.code];
  if (refused) throw new UserError(`Refusing to take ${file} back from ${account.name}: ${refused}.`);
  if (result.code !== 0 || result.stdout.length > limit) throw new Error(`Could not read ${file} as ${account.name}: ${why(result)}`);
  return result.stdout;
}

/** Writes `text` to a new `file` as the agent user (0600), the text on stdin: never on a command line. */
function writeAsAgent(privilege: Privilege, account: Account, file: string, text: string): Promise<void> {
  const script = ['-c', 'umask 077 && set -C && cat > "$0"', file];
  return new Promise((resolve, reject) => {
    const options = { stdio: ['pipe', 'ignore', 'ignore'] as ['pipe', 'ignore', 'ignore'], env: baseEnv(account), cwd: '/' };
    const child =
      privilege === 'root'
        ? spawn(systemCommand('sh'), script, { ...options, uid: account.uid, gid: account.gid })
        : spawn(systemCommand('sudo'), ['-n', '-u', account.name, '--', systemCommand('sh'), ...script], { ...options, env: { PATH: SYSTEM_PATH } });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`Could not write ${file} as ${account.name} (exit ${code})`))));
    child.stdin.end(text);
  });
}
