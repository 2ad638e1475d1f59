/**
 * Codex access tokens (DESIGN §5.2) on the loopback stand-in of `codex-backend.ts`: both shapes that
 * `codex login --with-access-token` takes, served as the real services do, with keys and tokens minted
 * here with `node:crypto`.
 *
 * - An opaque `at-…` token: `GET {authapi}/v1/user-auth-credential/whoami` with `Bearer at-…` answers the
 *   member's identity; the Codex backend then accepts the token as `Bearer` with `ChatGPT-Account-ID`.
 * - An agent-identity JWT (RS256, signed by a key of the stand-in's JWKS, served at
 *   `{chatgpt_base_url}/wham/agent-identities/jwks`). Its `agent_private_key` claim is an ed25519 key
 *   (base64 PKCS#8 DER): `codex exec` registers a task (`POST {authapi}/v1/agent/<runtime>/task/register`,
 *   `{timestamp, signature}` over `<runtime>:<timestamp>`) and sends `Authorization: AgentAssertion
 *   <base64url JSON {agent_runtime_id, task_id, timestamp, signature}>`, signed over
 *   `<runtime>:<task>:<timestamp>`. Both signatures are verified here.
 * - For both, `GET /backend-api/wham/config/bundle` answers `{}` (Business/Enterprise plans fetch it).
 *
 * Shapes follow openai/codex `codex-rs/agent-identity/src/lib.rs` and `codex-rs/login/src/auth/`.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackendExtension, CodexBackend, LoggedRequest } from './codex-backend.js';

export const AGENT_IDENTITY_ISSUER = 'https://chatgpt.com/codex-backend/agent-identity';
export const AGENT_IDENTITY_AUDIENCE = 'codex-app-server';

export interface Member {
  accountId: string;
  userId: string;
  email: string;
  planType: string;
}

export interface PersonalToken {
  token: string;
  member: Member;
  /** whoami refuses it (401): revoked, expired, or the member may not use Codex. */
  refused: boolean;
  /** The Codex backend refuses it (401: config bundle, model turns) while whoami still answers. */
  refusedByBackend: boolean;
}

export interface AgentIdentity {
  jwt: string;
  runtimeId: string;
  /** The `agent_private_key` claim: base64 of the ed25519 key's PKCS#8 DER. A secret inside the secret. */
  privateKey: string;
  publicKey: KeyObject;
  member: Member;
  exp: Date;
  /** Task ids the stand-in registered for this runtime. */
  tasks: string[];
}

/** A Codex backend call (config bundle, models, Responses), with the credential it carried and what the stand-in made of it. */
export interface AuthorizedCall {
  entry: LoggedRequest;
  scheme: 'bearer' | 'agent-assertion' | 'none';
  /** agent-assertion: the runtime and task named, and whether the signature verified against the agent's key. */
  runtimeId?: string;
  taskId?: string;
  verified: boolean;
}

export interface WorkspaceTokens {
  /** A member's opaque Codex access token. */
  personal(options?: Partial<Member>): PersonalToken;
  /** An agent-identity JWT that expires at `exp` (signed by a trusted key unless `untrusted`). */
  agentIdentity(options: { exp: Date; iat?: Date; untrusted?: boolean } & Partial<Member>): AgentIdentity;
  readonly calls: AuthorizedCall[];
  /** Env for codex: where whoami, the JWKS and task registration live. */
  env(): Record<string, string>;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function member(options: Partial<Member>): Member {
  const id = randomBytes(4).toString('hex');
  return {
    accountId: options.accountId ?? `acct-ws-${id}`,
    userId: options.userId ?? `user-ws-${id}`,
    email: options.email ?? 'ci-member@example.com',
    planType: options.planType ?? 'enterprise',
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const unauthorized = (res: ServerResponse) =>
  sendJson(res, 401, { error: { message: 'Your access token is invalid or has been revoked.', type: 'invalid_request_error', param: null, code: 'invalid_token' } });

/** Verifies an ed25519 signature (standard base64) over `payload`. */
function signedBy(key: KeyObject, payload: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(payload), key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * An agent-identity JWT as the workspace issues it: RS256 over the claims of DESIGN §5.2, with a fresh
 * ed25519 agent key (base64 PKCS#8 DER) in `agent_private_key`. Without `signer`, a key nobody trusts signs it.
 */
export function mintAgentIdentity(options: { exp: Date; iat?: Date; kid?: string; signer?: KeyObject } & Partial<Member>): AgentIdentity {
  const m = member(options);
  const keys = generateKeyPairSync('ed25519');
  const privateKey = keys.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
  const runtimeId = `agent-runtime-${randomBytes(6).toString('hex')}`;
  const iat = options.iat ?? new Date(Math.min(Date.now(), options.exp.getTime() - 3_600_000));
  const claims = {
    iss: AGENT_IDENTITY_ISSUER,
    aud: AGENT_IDENTITY_AUDIENCE,
    iat: Math.floor(iat.getTime() / 1000),
    exp: Math.floor(options.exp.getTime() / 1000),
    agent_runtime_id: runtimeId,
    agent_private_key: privateKey,
    account_id: m.accountId,
    chatgpt_user_id: m.userId,
    email: m.email,
    plan_type: m.planType,
    chatgpt_account_is_fedramp: false,
  };
  const signer = options.signer ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? 'codex-auth-test-untrusted' })}.${b64url(claims)}`;
  const jwt = `${input}.${sign('sha256', Buffer.from(input), signer).toString('base64url')}`;
  return { jwt, runtimeId, privateKey, publicKey: createPublicKey(keys.privateKey), member: m, exp: options.exp, tasks: [] };
}

/** Serves workspace access tokens on `backend` (it must not have another extension). */
export function serveWorkspaceTokens(backend: CodexBackend): WorkspaceTokens {
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `codex-auth-test-${randomBytes(4).toString('hex')}`;
  const personals: PersonalToken[] = [];
  const agents: AgentIdentity[] = [];
  const calls: AuthorizedCall[] = [];

  const bearerOf = (req: IncomingMessage) => /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const personalOf = (req: IncomingMessage) => personals.find((p) => p.token === bearerOf(req));

  function whoami(req: IncomingMessage, res: ServerResponse): void {
    const personal = personalOf(req);
    if (!personal || personal.refused) return unauthorized(res);
    const m = personal.member;
    sendJson(res, 200, { email: m.email, chatgpt_user_id: m.userId, chatgpt_account_id: m.accountId, chatgpt_plan_type: m.planType, chatgpt_account_is_fedramp: false });
  }

  function registerTask(runtimeId: string, body: Buffer, res: ServerResponse): void {
    const agent = agents.find((a) => a.runtimeId === runtimeId);
    let request: { timestamp?: unknown; signature?: unknown } = {};
    try {
      request = JSON.parse(body.toString('utf8')) as typeof request;
    } catch {
      // refused below
    }
    const { timestamp, signature } = request;
    if (!agent || typeof timestamp !== 'string' || typeof signature !== 'string' || !signedBy(agent.publicKey, `${runtimeId}:${timestamp}`, signature)) {
      return unauthorized(res);
    }
    const taskId = `task-${randomUUID()}`;
    agent.tasks.push(taskId);
    sendJson(res, 200, { task_id: taskId });
  }

  /** `AgentAssertion <base64url JSON>`: a registered task of a known agent, signed with its key. */
  function assertion(header: string): Omit<AuthorizedCall, 'entry'> {
    try {
      const envelope = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
      const { agent_runtime_id: runtimeId, task_id: taskId, timestamp, signature } = envelope;
      if (typeof runtimeId !== 'string' || typeof taskId !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') {
        return { scheme: 'agent-assertion', verified: false };
      }
      const agent = agents.find((a) => a.runtimeId === runtimeId);
      const verified = !!agent && agent.tasks.includes(taskId) && signedBy(agent.publicKey, `${runtimeId}:${taskId}:${timestamp}`, signature);
      return { scheme: 'agent-assertion', runtimeId, taskId, verified };
    } catch {
      return { scheme: 'agent-assertion', verified: false };
    }
  }

  const extension: BackendExtension = {
    async handle(req, url, body, entry, res) {
      const p = url.pathname;
      if (req.method === 'GET' && p === '/api/accounts/v1/user-auth-credential/whoami') {
        entry.kind = 'whoami';
        whoami(req, res);
        return true;
      }
      if (req.method === 'GET' && p === '/backend-api/wham/agent-identities/jwks') {
        entry.kind = 'jwks';
        sendJson(res, 200, { keys: [{ ...signingKey.publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
        return true;
      }
      const task = /^\/api\/accounts\/v1\/agent\/([^/]+)\/task\/register$/.exec(p);
      if (req.method === 'POST' && task) {
        entry.kind = 'task-register';
        registerTask(decodeURIComponent(task[1] as string), body, res);
        return true;
      }
      if (req.method === 'GET' && p === '/backend-api/wham/config/bundle') {
        // Business/Enterprise cloud requirements: a refused credential here makes `codex exec` stop at once
        entry.kind = 'config-bundle';
        if (authorize(req, entry)) sendJson(res, 200, {});
        else unauthorized(res);
        return true;
      }
      return false;
    },
    authorizes(req, entry) {
      return (entry.kind === 'responses' || entry.kind === 'models') && authorize(req, entry);
    },
  };
  backend.settings.extension = extension;

  /** A backend call's credential: a verified AgentAssertion, or a live `at-…` token with its account id. */
  function authorize(req: IncomingMessage, entry: LoggedRequest): boolean {
    const header = req.headers.authorization ?? '';
    const agentHeader = /^AgentAssertion (.+)$/.exec(header)?.[1];
    if (agentHeader) {
      const call = { entry, ...assertion(agentHeader) };
      calls.push(call);
      return call.verified;
    }
    const personal = personalOf(req);
    const ok = !!personal && !personal.refused && !personal.refusedByBackend && req.headers['chatgpt-account-id'] === personal.member.accountId;
    calls.push({ entry, scheme: personal ? 'bearer' : 'none', verified: ok });
    return ok;
  }

  return {
    calls,
    personal(options = {}) {
      const personal: PersonalToken = { token: `at-${randomBytes(32).toString('base64url')}`, member: member(options), refused: false, refusedByBackend: false };
      personals.push(personal);
      return personal;
    },
    agentIdentity(options) {
      const agent = mintAgentIdentity({ ...options, kid, signer: options.untrusted ? undefined : signingKey.privateKey });
      agents.push(agent);
      return agent;
    },
    env() {
      return {
        CODEX_AUTHAPI_BASE_URL: `${backend.origin}/api/accounts`,
        CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL: `${backend.origin}/api/accounts`,
        CODEX_AGENT_IDENTITY_JWKS_BASE_URL: `${backend.origin}/backend-api`,
      };
    },
  };
}
