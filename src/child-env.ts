/**
 * Variables no child process gets: this action's inputs (`INPUT_*`: the seed, tokens, keys), main's state
 * (`STATE_*`), the runner's file-command paths (a child that appends to GITHUB_STATE could forge what post
 * reads; GITHUB_ENV and GITHUB_PATH reach later steps), and the runner's own credentials (the Actions
 * runtime, cache and results service, OIDC).
 * `run:` steps never see the runner's; Codex, whose agent runs commands, and secret-manager commands must
 * not either. Codex's own `shell_environment_policy` is no guard here: its default filter is off.
 */
const HIDDEN =
  /^(INPUT_|STATE_)|^GITHUB_(STATE|ENV|OUTPUT|PATH|STEP_SUMMARY)$|^ACTIONS_(RUNTIME_TOKEN|RUNTIME_URL|RESULTS_URL|CACHE_URL|ID_TOKEN_REQUEST_TOKEN|ID_TOKEN_REQUEST_URL)$/i;

/** The environment for a child process: this process's, minus HIDDEN, plus `extra`. */
export function childEnv(env: NodeJS.ProcessEnv = process.env, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined && !HIDDEN.test(name)) out[name] = value;
  return { ...out, ...extra };
}
