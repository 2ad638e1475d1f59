import * as core from '@actions/core';
import * as z from 'zod/mini';
import { NEW_TOKEN_FIX } from './diagnose.js';
import { UserError } from './errors.js';

/**
 * A Codex access token (`access-token`, DESIGN §5.2), known before Codex runs. Two shapes:
 * - `personal`: the opaque `at-…` token a Business/Enterprise member creates; its expiry is not visible to
 *   the client (the workspace checks it at whoami);
 * - `agent-identity`: a JWT whose `exp` we read (never its other claims: `agent_private_key` is a secret
 *   inside the secret).
 */
export type AccessToken = { kind: 'personal' } | { kind: 'agent-identity'; expiresAt: number };

export const EXPIRY_WARNING_DAYS = 7;
const DAY_MS = 86_400_000;

const PersonalToken = z.string().check(z.regex(/^at-[\x21-\x7e]{8,}$/));
const Segment = z.string().check(z.regex(/^[A-Za-z0-9_-]+$/));
const JwtHeader = z.object({ alg: z.string() });
/** Only what we need: unknown claims are dropped, so nothing else of the payload is ever held. */
const AgentClaims = z.object({ exp: z.number().check(z.positive()), agent_private_key: z.optional(z.string()) });

const NOT_A_TOKEN =
  "Input `access-token` is not a Codex access token: expected the `at-…` token a workspace member creates in the ChatGPT workspace settings, or an agent-identity JWT. Check that the secret holds the whole token, on one line.";

function decodeJson(segment: string, base64: 'base64url' | 'base64'): unknown {
  try {
    return JSON.parse(Buffer.from(segment, base64).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Raw JSON, or base64 of JSON: what `auth-json` takes. */
function looksLikeAuthJson(text: string): boolean {
  if (text.startsWith('{')) return true;
  if (!/^[A-Za-z0-9+/=\s]+$/.test(text)) return false;
  const json = decodeJson(text, 'base64');
  return typeof json === 'object' && json !== null;
}

/** The shape check; throws a UserError naming the input (and the right one, for a key or an auth.json). */
function classify(token: string): AccessToken {
  if (PersonalToken.safeParse(token).success) return { kind: 'personal' };
  if (/^sk-/.test(token)) {
    throw new UserError(
      'Input `access-token` holds an OpenAI API key (`sk-…`), not a Codex access token. Pass an API key as `openai-api-key` instead, or create a Codex access token in the ChatGPT workspace settings for `access-token`.',
    );
  }
  if (looksLikeAuthJson(token)) {
    throw new UserError(
      'Input `access-token` holds JSON (a Codex auth.json?), not a Codex access token. Pass a ChatGPT auth.json as `auth-json` instead; `access-token` takes the `at-…` token a workspace member creates, or an agent-identity JWT.',
    );
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => Segment.safeParse(p).success)) throw new UserError(NOT_A_TOKEN);
  const [header, payload] = parts as [string, string, string];
  // the payload carries the agent's private key: mask it as soon as we know it is one
  core.setSecret(payload);
  const claims = AgentClaims.safeParse(decodeJson(payload, 'base64url'));
  if (!JwtHeader.safeParse(decodeJson(header, 'base64url')).success || !claims.success) {
    throw new UserError(
      'Input `access-token` looks like a JWT, but not an agent-identity token: its claims cannot be read, or carry no `exp`. Pass the `at-…` token a workspace member creates, or the agent-identity JWT exactly as issued.',
    );
  }
  if (claims.data.agent_private_key) core.setSecret(claims.data.agent_private_key);
  return { kind: 'agent-identity', expiresAt: claims.data.exp * 1000 };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Reads `access-token` before Codex runs: masks it (and a JWT's payload and agent key), checks its shape,
 * fails on an expired JWT and warns when one expires within EXPIRY_WARNING_DAYS.
 */
export function inspectAccessToken(token: string, now: number, warn: (message: string) => void): AccessToken {
  core.setSecret(token);
  const parsed = classify(token);
  if (parsed.kind === 'personal') return parsed;
  const left = parsed.expiresAt - now;
  if (left <= 0) {
    throw new UserError(`Input \`access-token\` is an agent-identity token that expired on ${iso(parsed.expiresAt)}: Codex would refuse it. ${NEW_TOKEN_FIX}`);
  }
  if (left < EXPIRY_WARNING_DAYS * DAY_MS) {
    warn(
      `Input \`access-token\` expires on ${iso(parsed.expiresAt)} (in ${(left / DAY_MS).toFixed(1)} days): jobs after that date will fail. ${NEW_TOKEN_FIX}`,
    );
  }
  return parsed;
}

/** What `expires-at` reports: the JWT's `exp`, or empty when the client cannot see the expiry. */
export function expiresAtOutput(token: AccessToken): string {
  return token.kind === 'agent-identity' ? iso(token.expiresAt) : '';
}

/** Codex's own reasons a token was refused at login: whoami's 401/403, a JWT that does not verify. */
const REFUSED_AT_LOGIN = /status 40[13]\b|failed to verify agent identity JWT|is not trusted|Unauthorized|Forbidden/i;

/** Codex advice that does not fit CI, kept out of what we repeat. */
const stripSignInAdvice = (text: string) => text.replace(/\s*Please log out and sign in again\.?/gi, '').trim();

/** The step's error when `codex login --with-access-token` failed: a refusal explained, anything else as it is. */
export function loginFailure(exitCode: number, codexSaid: string): UserError {
  const said = stripSignInAdvice(/Error logging in with access token:\s*(.*)/i.exec(codexSaid)?.[1] ?? codexSaid);
  if (REFUSED_AT_LOGIN.test(codexSaid)) {
    return new UserError(
      `The \`access-token\` secret was refused when Codex signed in: the token has expired or been revoked, or its member may not use Codex Local. ${NEW_TOKEN_FIX} (Codex said: ${said})`,
    );
  }
  return new UserError(`Codex could not sign in with \`access-token\` (\`codex login --with-access-token\` exited ${exitCode}): ${said}`);
}
