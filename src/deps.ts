import * as core from '@actions/core';
import type { RunContext } from './context.js';
import type { InputOptions } from './inputs.js';
import { systemClock, type Clock, type Log } from './log.js';

/** The edges main and post run against: the Actions runner by default, the CLI's own (cli/run-cli.ts). */
export interface MainDeps {
  log: Log;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  /** The CLI runs this pipeline outside Actions: it gives its own run context and stores (cli/). */
  context?: (env: NodeJS.ProcessEnv) => RunContext;
  inputOptions?: InputOptions;
}

export const defaultDeps = (): MainDeps => ({ log: core, clock: systemClock, env: process.env });
