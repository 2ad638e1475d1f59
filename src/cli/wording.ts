/** Names of the CLI's inputs and how its messages name them; no imports, so the log host can use it. */

/** Secrets are read from the environment only: a flag would show in process lists. */
const SECRETS = new Set(['auth-json', 'encryption-key', 'secret-token', 'github-token', 'openai-api-key', 'access-token', 'gitlab-token']);
/** `auth-json` is CODEX_AUTH_JSON; every other input `x-y` is CODEX_AUTH_X_Y. */
export function envName(input: string): string {
  return input === 'auth-json' ? 'CODEX_AUTH_JSON' : `CODEX_AUTH_${input.toUpperCase().replace(/-/g, '_')}`;
}

export function isSecret(input: string): boolean {
  return SECRETS.has(input);
}

/** The action's messages name inputs (`Input \`store\``); the CLI's name its options. */
export function cliWording(message: string): string {
  return message
    .replace(/Inputs? `([a-z][a-z0-9-]*)`/g, (_, name: string) => (isSecret(name) ? `${envName(name)}` : `Option \`--${name}\``))
    .replace(/`([a-z][a-z0-9-]*): ([^`]+)`/g, (whole, name: string, value: string) => (/^(store|lock|cleanup|refresh|lock-scope)$/.test(name) ? `\`--${name} ${value}\`` : whole))
    .replace(/ on the codex-auth step/g, '');
}

