/**
 * `@actions/core` for the `codex-auth` CLI. The CLI bundle resolves every `import … from '@actions/core'`
 * in src/ to this module (scripts/bundle.mjs), so the action's pipeline (runMain, runPost and all below
 * them) runs unchanged outside GitHub Actions; only where it talks to its host differs:
 * - inputs come from the CLI's flags and CODEX_AUTH_* variables (cli/options.ts fills `host.inputs`);
 * - outputs, state and exported variables are kept in memory (the CLI saves state to `--state-file`);
 * - the log goes to stderr, one `codex-auth: ` prefix a line. There is no `::add-mask::` outside GitHub, so
 *   nothing may print a token in the first place; every secret set here is still cut out of each line
 *   (and its JSON-escaped form) as a second line of defence;
 * - the job summary becomes a few plain lines on stderr.
 * Only the part of `@actions/core` that src/ uses is here; the bundle fails on an import this module lacks,
 * and `satisfies` below holds each function to the real signature.
 */
import type * as actionsCore from '@actions/core';
import { cliWording } from './wording.js';

export const host = {
  inputs: new Map<string, string>(),
  state: new Map<string, string>(),
  outputs: new Map<string, string>(),
  exported: new Map<string, string>(),
  secrets: new Set<string>(),
  failed: false,
  debug: false,
  /** where log lines go; tests and the CLI's leak check read it back */
  write: (line: string): void => {
    process.stderr.write(`${line}\n`);
  },
};

/** Cuts every secret (longest first, so no part of one survives) out of `text`. */
export function redact(text: string): string {
  let out = text;
  for (const secret of [...host.secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('***');
  return out;
}

/** The brackets in which the action relays a child's output (command-free-output.ts) mean nothing here. */
const COMMAND_BRACKET = /^::(stop-commands::)?[0-9a-f]{32}(::)?$/;

function emit(prefix: string, message: string): void {
  for (const line of redact(message).split(/\r\n|\r|\n/)) if (!COMMAND_BRACKET.test(line)) host.write(`codex-auth: ${prefix}${line}`);
}

export const getInput = ((name: string, options?: actionsCore.InputOptions): string => {
  const value = host.inputs.get(name) ?? '';
  if (options?.required && !value) throw new Error(`Input required and not supplied: ${name}`);
  return options?.trimWhitespace === false ? value : value.trim();
}) satisfies typeof actionsCore.getInput;

export const setSecret = ((secret: string): void => {
  if (!secret) return;
  host.secrets.add(secret);
  const escaped = JSON.stringify(secret).slice(1, -1);
  if (escaped !== secret) host.secrets.add(escaped);
}) satisfies typeof actionsCore.setSecret;

export const setOutput = ((name: string, value: unknown): void => {
  host.outputs.set(name, typeof value === 'string' ? value : JSON.stringify(value));
}) satisfies typeof actionsCore.setOutput;

export const exportVariable = ((name: string, value: unknown): void => {
  host.exported.set(name, typeof value === 'string' ? value : JSON.stringify(value));
}) satisfies typeof actionsCore.exportVariable;

export const saveState = ((name: string, value: unknown): void => {
  host.state.set(name, typeof value === 'string' ? value : JSON.stringify(value));
}) satisfies typeof actionsCore.saveState;

export const getState = ((name: string): string => host.state.get(name) ?? '') satisfies typeof actionsCore.getState;

export const info = ((message: string): void => emit('', message)) satisfies typeof actionsCore.info;
export const warning = ((message: string | Error): void => emit('warning: ', cliWording(String(message instanceof Error ? message.message : message)))) satisfies typeof actionsCore.warning;
export const error = ((message: string | Error): void => emit('error: ', cliWording(String(message instanceof Error ? message.message : message)))) satisfies typeof actionsCore.error;
export const notice = ((message: string | Error): void => emit('notice: ', String(message instanceof Error ? message.message : message))) satisfies typeof actionsCore.notice;
export const debug = ((message: string): void => {
  if (host.debug) emit('debug: ', message);
}) satisfies typeof actionsCore.debug;
export const isDebug = ((): boolean => host.debug) satisfies typeof actionsCore.isDebug;

export const setFailed = ((message: string | Error): void => {
  host.failed = true;
  error(message);
}) satisfies typeof actionsCore.setFailed;

type Cell = string | { data: string; header?: boolean };

/** The job summary as plain text: a heading, then `what: value` rows, on stderr when written. */
class PlainSummary {
  private lines: string[] = [];
  addHeading(text: string): this {
    this.lines.push(`${text}:`);
    return this;
  }
  addRaw(text: string): this {
    this.lines.push(...text.replace(/\*\*/g, '').split('\n').filter(Boolean));
    return this;
  }
  addTable(rows: Cell[][]): this {
    const text = (c: Cell | undefined) => (c === undefined ? '' : typeof c === 'string' ? c : c.data);
    for (const row of rows) if (!row.some((c) => typeof c === 'object' && c.header)) this.lines.push(`  ${text(row[0])}: ${text(row[1])}`);
    return this;
  }
  async write(): Promise<this> {
    for (const line of this.lines) info(line);
    this.lines = [];
    return this;
  }
}

export const summary = new PlainSummary();
