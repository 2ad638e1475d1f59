import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { childEnv } from './child-env.js';
import type { RunContext } from './context.js';
import { UserError } from './errors.js';
import type { Log } from './log.js';
import { runCommand, type RunResult } from './subprocess.js';

const PACKAGE = '@openai/codex';
/** `codex --version` is a local process printing one line. */
export const CODEX_VERSION_TIMEOUT_MS = 30_000;
/** `npm view`: one registry request. */
export const NPM_VIEW_TIMEOUT_MS = 2 * 60_000;
/** `npm install @openai/codex`: about 400 MB with its native binary, on a slow registry mirror too. */
export const NPM_INSTALL_TIMEOUT_MS = 10 * 60_000;

const NETWORK_ADVICE = "Check the runner's access to the npm registry (npm's `registry` and proxy settings), or put `codex` on PATH before this step and leave `codex-version` empty.";

async function output(command: string, args: string[], options: { label: string; timeoutMs: number; onTimeout: string }): Promise<RunResult> {
  return runCommand(command, args, { ...options, env: childEnv() });
}

/** The version `codex --version` reports; null when it does not run, does not answer in time, or says something else. */
export async function versionOf(codex: string): Promise<string | null> {
  const result = await output(codex, ['--version'], { label: `\`${codex} --version\``, timeoutMs: CODEX_VERSION_TIMEOUT_MS, onTimeout: '' }).catch(() => null);
  const match = result?.stdout.match(/codex-cli\s+(\S+)/);
  return match?.[1] ?? null;
}

async function onPath(): Promise<string | null> {
  const { which } = await import('@actions/io');
  return (await which('codex', false)) || null;
}

async function resolveVersion(spec: string): Promise<string> {
  if (/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) return spec;
  const label = `\`npm view ${PACKAGE}@${spec} version\` (for \`codex-version\` '${spec}')`;
  const result = await output('npm', ['view', `${PACKAGE}@${spec}`, 'version'], { label, timeoutMs: NPM_VIEW_TIMEOUT_MS, onTimeout: NETWORK_ADVICE });
  const version = result.stdout.trim().split('\n').pop()?.trim();
  if (result.code !== 0 || !version) throw new UserError(`Cannot resolve \`codex-version\` '${spec}' on the npm registry: ${result.stderr.trim().split('\n')[0] ?? 'no answer'}.`);
  return version;
}

/**
 * The codex to run: the one on PATH when it fits `codex-version`, else `@openai/codex@VERSION` installed
 * once into the runner's tool cache (`<tool cache>/codex-cli/<version>/<arch>`, completed by a marker).
 */
export async function ensureCodex(spec: string, ctx: RunContext, log: Log): Promise<string> {
  const found = await onPath();
  if (found && !spec) return found;
  if (found && spec) {
    const have = await versionOf(found);
    if (have === spec) return found;
  }
  const version = await resolveVersion(spec || 'latest');
  if (found && (await versionOf(found)) === version) return found;
  const dir = path.join(ctx.toolCache, 'codex-cli', version, process.arch);
  if (await exists(`${dir}.complete`)) return binaryIn(dir);
  log.info(`Installing ${PACKAGE}@${version} into ${dir}`);
  return installAtomically(dir, version, spec || 'latest');
}

const binaryIn = (dir: string) => path.join(dir, 'node_modules', '.bin', 'codex');

const exists = (file: string) => fs.stat(file).then(
  () => true,
  () => false,
);

/**
 * Installs into a temporary directory beside `dir` (same file system, so the rename is atomic), checks the
 * result, then renames it into place, as @actions/tool-cache does: runners that share a tool cache never
 * see a half-installed tree at `dir`, and a tree once in place is never deleted or rewritten, so a codex
 * that another job runs from it keeps working. Two runners that install at once both finish; the first
 * rename wins and the other drops its copy. The marker `<dir>.complete` is written after the rename; a
 * tree without it is accepted when its codex reports the version (a winner that has not written it yet).
 */
async function installAtomically(dir: string, version: string, spec: string): Promise<string> {
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const temp = `${dir}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await fs.mkdir(temp, { recursive: true });
    const label = `\`npm install ${PACKAGE}@${version}\` (for \`codex-version\` '${spec}')`;
    const args = ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', temp, `${PACKAGE}@${version}`];
    const result = await output('npm', args, { label, timeoutMs: NPM_INSTALL_TIMEOUT_MS, onTimeout: NETWORK_ADVICE });
    if (result.code !== 0) {
      throw new UserError(`Failed to install ${PACKAGE}@${version} (npm exited ${result.code}): ${result.stderr.trim().split('\n').slice(-3).join(' ')}`);
    }
    if ((await versionOf(binaryIn(temp))) !== version) throw new Error(`Installed ${PACKAGE}@${version}, but ${binaryIn(temp)} does not report that version`);
    await moveIntoPlace(temp, dir, version);
    await fs.writeFile(`${dir}.complete`, '');
    return binaryIn(dir);
  } finally {
    await fs.rm(temp, { recursive: true, force: true });
  }
}

/**
 * rename(temp → dir). When `dir` exists: another runner's finished tree (keep it, drop ours), or a broken
 * one that an older version of this action left by installing in place (move it aside, then ours in).
 * Moving aside checks the inode: a broken tree that another runner replaced a moment before is put back.
 */
async function moveIntoPlace(temp: string, dir: string, version: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.rename(temp, dir);
      return;
    } catch (error) {
      if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    }
    const seen = await fs.stat(dir).catch(() => null);
    if (!seen) continue; // moved aside by another runner just now: try again
    if ((await exists(`${dir}.complete`)) || (await versionOf(binaryIn(dir))) === version) return;
    const aside = `${dir}.broken-${randomBytes(6).toString('hex')}`;
    try {
      await fs.rename(dir, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if ((await fs.stat(aside)).ino !== seen.ino) {
      // not the broken tree we looked at: another runner's good one, put back (unless a third is there)
      await fs.rename(aside, dir).catch(() => undefined);
      continue;
    }
    await fs.rm(aside, { recursive: true, force: true });
  }
  if (!(await exists(binaryIn(dir)))) throw new Error(`Could not move the installed ${PACKAGE}@${version} into ${dir}`);
}
