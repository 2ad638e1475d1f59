/** A known cause of a failed codex run, recognised from its output, and what to do about it. */
export interface Diagnosis {
  cause: string;
  fix: string;
}

const RULES: { pattern: RegExp; cause: string; fix: (where: string) => string }[] = [
  {
    // app-server's refusal is only `Failed to refresh token status=401 Unauthorized`: reused, expired and revoked look alike
    pattern: /refresh token (was already used|has expired|was revoked)|refresh_token_(reused|expired|invalidated)|could not be refreshed|Failed to refresh token status=401/i,
    cause: 'The stored Codex refresh token can no longer be used (already used by another run, expired, or revoked): this token family is dead.',
    fix: (where) => `Seed again: run \`codex login\` on a trusted machine and put the new ~/.codex/auth.json in ${where}. Then make sure only one run at a time uses this auth stream (keep \`lock\` on).`,
  },
  {
    pattern: /Unauthorized\. Contact your ChatGPT administrator/i,
    cause: "The ChatGPT workspace does not allow this account to use Codex locally (the workspace's Codex Local access is off).",
    fix: () => 'Ask a workspace admin to turn on Codex Local access for this account in the ChatGPT workspace settings, or use an API key (`openai-api-key`).',
  },
  {
    // codex-rs: "Login is restricted to workspace(s) <ids>, but current credentials belong to <id>. Logging out."
    pattern: /Login is restricted to (a specific )?workspace|forced_chatgpt_workspace_id|not (allowed|permitted) .*workspace|workspace.*(mismatch|restriction)/i,
    cause: 'Codex logged out because the signed-in workspace is not the one `forced_chatgpt_workspace_id` allows.',
    fix: (where) => `Sign in to the allowed workspace with \`codex login\` and seed ${where} again, or change \`forced_chatgpt_workspace_id\` in config.toml.`,
  },
  {
    pattern: /Not logged in|not signed in|No credentials/i,
    cause: 'Codex found no login: no auth.json was in CODEX_HOME when it ran.',
    fix: () => 'Check that this step and codex use the same `codex-home`, and that `auth-json` or the store provided an auth.json.',
  },
];

/**
 * DESIGN §3.10, §5.1: a `lock-scope: refresh` job runs with a placeholder refresh token. When the backend still
 * answers 401 mid-run, Codex's recovery refresh presents the placeholder, which is refused, and Codex says
 * to sign in again. That advice is wrong here: the stream in the store is intact.
 */
const WITHHELD: Diagnosis = {
  cause:
    "The backend refused this job's access token mid-run, and Codex's recovery refresh was refused too: with `lock-scope: refresh` the job runs with a placeholder refresh token, since only the holder of the lock may spend the real one. The stored auth stream is intact: do not seed again.",
  fix: 'Run the job again: its main takes the lock and refreshes ahead when the access token expires within `min-validity`. If this repeats, raise `min-validity`, run with `refresh: force` once, or use `lock-scope: job`.',
};

/** `withheld`: the run used a copy whose refresh token was withheld (`lock-scope: refresh`). */
export function diagnose(output: string, where: string, options: { withheld?: boolean } = {}): Diagnosis | null {
  for (const [index, rule] of RULES.entries()) {
    if (!rule.pattern.test(output)) continue;
    return index === 0 && options.withheld ? WITHHELD : { cause: rule.cause, fix: rule.fix(where) };
  }
  return null;
}

/**
 * Access-token mode (DESIGN §5.2): no refresh token, no store, nothing to seed. A refusal mid-run reaches
 * Codex as a 401 (the config bundle or a model turn), which it reports as a session that "could not be
 * refreshed automatically. Please log out and sign in again." — advice a CI job cannot follow.
 */
/** What every access-token refusal tells the user to do: fits CI, where nobody can "log out and sign in again". */
export const NEW_TOKEN_FIX =
  "Create a new Codex access token in ChatGPT (the workspace's access tokens page), within the workspace's expiration limit, and update the secret passed as `access-token`.";

const ACCESS_TOKEN_RULES: { pattern: RegExp; cause: string; fix: string }[] = [
  {
    pattern: /Unauthorized\. Contact your ChatGPT administrator/i,
    cause: "The Codex backend refused `access-token`: the workspace does not allow this token's member to use Codex Local.",
    fix: "Ask a workspace owner or admin to turn on **Allow members to use Codex Local** for this member (Workspace Settings > Permissions & roles), or create the token as a member who has it.",
  },
  {
    pattern: /could not be refreshed automatically|sign in again|status 401|401 Unauthorized|token has expired|invalid_token|revoked/i,
    cause: 'The Codex backend refused `access-token` during the run: the token was most likely revoked or has expired.',
    fix: `${NEW_TOKEN_FIX} A weekly check (this action with \`access-token\` and no \`prompt\`) catches this before the week's jobs do.`,
  },
];

export function diagnoseAccessToken(output: string): Diagnosis | null {
  const rule = ACCESS_TOKEN_RULES.find((r) => r.pattern.test(output));
  return rule ? { cause: rule.cause, fix: rule.fix } : null;
}
