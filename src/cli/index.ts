import { runCli } from './run-cli.js';
import type { OptionSpec } from './options.js';

/** action.yml's inputs, embedded by scripts/bundle.mjs: the CLI's options are the action's inputs. */
declare const __CODEX_AUTH_INPUTS__: OptionSpec[];

runCli(process.argv.slice(2), __CODEX_AUTH_INPUTS__).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`codex-auth: error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
