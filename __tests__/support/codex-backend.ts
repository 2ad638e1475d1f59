/**
 * A loopback HTTPS stand-in for what the real Codex CLI talks to when it is logged in with ChatGPT:
 * the OpenAI token endpoint (`POST /oauth/token`) and the ChatGPT Codex backend (`/backend-api/...`).
 *
 * Codex refuses a plain-HTTP workspace backend, so each backend makes its own throwaway CA and a
 * server certificate for 127.0.0.1/localhost (openssl CLI, in a temp dir removed by `stop()`); Codex
 * is told to trust the CA with `CODEX_CA_CERTIFICATE`.
 *
 * The token service models rotating refresh tokens as the real one does: a token family accepts only
 * its current refresh token; a refresh issues a new refresh/access/id token and the presented refresh
 * token becomes "used" — presenting it again answers 401 `refresh_token_reused`, which Codex turns
 * into "…your refresh token was already used. Please log out and sign in again." and exit 1. The
 * Responses endpoint accepts only a family's current, unexpired access token; anything else gets a 401,
 * which makes Codex run its `unauthorized_recovery` refresh.
 *
 * Shapes follow openai/codex `codex-rs/login/src/auth/manager.rs` (RefreshRequest/RefreshResponse,
 * `classify_refresh_token_failure` reading `error.code`) and `codex-rs/codex-api/src/sse/responses.rs`
 * (the SSE events). The 403 text is what ChatGPT answers when a workspace's "Codex Local" toggle is off;
 * Codex prints the body of an unexpected status, so the text reaches stderr.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

// ---------------------------------------------------------------------------------------------
// JWTs and auth.json

/** An unsigned-in-spirit JWT: base64url(header).base64url(payload).fake-signature. Codex never checks signatures. */
export function makeJwt(claims: Record<string, unknown>): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${b64({ alg: 'RS256', typ: 'JWT', kid: 'codex-auth-test' })}.${b64(claims)}.${randomBytes(32).toString('base64url')}`;
}

/** Decodes a JWT payload (no verification), as Codex does. */
export function decodeJwt(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (payload === undefined) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export interface Identity {
  accountId: string;
  email: string;
  planType: string;
  userId: string;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

function authClaim(id: Identity) {
  return {
    chatgpt_account_id: id.accountId,
    chatgpt_plan_type: id.planType,
    chatgpt_user_id: id.userId,
    user_id: id.userId,
  };
}

/** An id_token as the token service issues it (Codex reads email, plan, account and user ids). */
export function makeIdToken(id: Identity, issuedAt = new Date()): string {
  return makeJwt({
    iss: 'https://auth.openai.com',
    aud: ['app_EMoamEEZ73f0CkXaXp7hrann'],
    sub: `auth0|${id.userId}`,
    email: id.email,
    email_verified: true,
    iat: seconds(issuedAt),
    exp: seconds(issuedAt) + 3600,
    'https://api.openai.com/auth': authClaim(id),
  });
}

/** An access token; `exp: null` leaves the claim out (Codex then falls back to the 8-day `last_refresh` rule). */
export function makeAccessToken(id: Identity, exp: Date | null, issuedAt = new Date()): string {
  return makeJwt({
    iss: 'https://auth.openai.com',
    aud: ['https://api.openai.com/v1'],
    sub: `auth0|${id.userId}`,
    iat: seconds(issuedAt),
    ...(exp ? { exp: seconds(exp) } : {}),
    jti: randomUUID(),
    'https://api.openai.com/auth': authClaim(id),
    'https://api.openai.com/profile': { email: id.email, email_verified: true },
  });
}

export function makeRefreshToken(): string {
  return `rt_${randomBytes(24).toString('base64url')}`;
}

export interface AuthJsonParams {
  accountId: string;
  email?: string;
  planType?: string;
  userId?: string;
  lastRefresh: Date;
  /** The access token's `exp`; null = no `exp` claim. Default: lastRefresh + 10 days. Ignored when accessToken is given. */
  accessExp?: Date | null;
  refreshToken: string;
  accessToken?: string;
  idToken?: string;
  /** false leaves `tokens.account_id` out (Codex then never refreshes). */
  includeAccountId?: boolean;
}

/** The auth.json text Codex itself writes for `auth_mode: "chatgpt"` (DESIGN.md §5), pretty-printed. */
export function makeAuthJson(p: AuthJsonParams): string {
  const id = identity(p);
  const accessExp = p.accessExp === undefined ? new Date(p.lastRefresh.getTime() + 10 * 86_400_000) : p.accessExp;
  const tokens: Record<string, string> = {
    id_token: p.idToken ?? makeIdToken(id, p.lastRefresh),
    access_token: p.accessToken ?? makeAccessToken(id, accessExp, p.lastRefresh),
    refresh_token: p.refreshToken,
  };
  if (p.includeAccountId !== false) tokens.account_id = p.accountId;
  return JSON.stringify({ auth_mode: 'chatgpt', OPENAI_API_KEY: null, tokens, last_refresh: p.lastRefresh.toISOString() }, null, 2);
}

function identity(p: Partial<Identity> & { accountId: string }): Identity {
  return {
    accountId: p.accountId,
    email: p.email ?? 'ci@example.com',
    planType: p.planType ?? 'team',
    userId: p.userId ?? `user-${p.accountId}`,
  };
}

// ---------------------------------------------------------------------------------------------
// The server

export type RefreshFailure = 'reused' | 'expired' | 'invalidated';

export interface CodexBackendOptions {
  /** Text of the assistant message each Responses call answers. Default "OK". */
  replyText?: string;
  /** Lifetime of access tokens issued by a refresh, in seconds. Default 10 days, like ChatGPT's. */
  accessTokenTtlSec?: number;
  /** Make every refresh fail this way (401 with `error.code` = `refresh_token_<mode>`). */
  refreshFailure?: RefreshFailure | null;
  /** Answer 403 "Unauthorized. Contact your ChatGPT administrator for access." on the Codex backend. */
  workspaceDisabled?: boolean;
  /** Hold each refresh this long before answering (to widen race windows). */
  refreshDelayMs?: number;
  /** Hold each Responses call this long before streaming. */
  responsesDelayMs?: number;
  /** Also accept access tokens a family issued before its current one (still unexpired), as real JWTs would be. Default false. */
  acceptOldAccessTokens?: boolean;
  /** Answer every refresh with a 500 (the token endpoint is down); nothing rotates. */
  refreshServerError?: boolean;
  /** More routes and credentials (workspace access tokens: `access-token-backend.ts`); null = none. */
  extension?: BackendExtension | null;
}

/** What a support module adds to the stand-in: its own routes, and credentials the Codex backend accepts. */
export interface BackendExtension {
  /** Answers a request itself (true), or leaves it to the stand-in (false). */
  handle(req: IncomingMessage, url: URL, body: Buffer, entry: LoggedRequest, res: ServerResponse): Promise<boolean>;
  /** true: the Responses/models request carries a credential this extension accepts. */
  authorizes(req: IncomingMessage, entry: LoggedRequest): boolean;
}

export type RequestKind =
  | 'refresh'
  | 'responses'
  | 'responses-websocket'
  | 'models'
  | 'accounts-check'
  // workspace access tokens (access-token-backend.ts)
  | 'whoami'
  | 'jwks'
  | 'task-register'
  | 'config-bundle'
  | 'other';

export interface LoggedRequest {
  /** ms since the epoch when the request arrived. */
  at: number;
  /** ms since the epoch when the answer was finished. */
  doneAt?: number;
  method: string;
  path: string;
  kind: RequestKind;
  status?: number;
  /** refresh: the refresh token presented, its reason and what the service made of it. */
  refreshToken?: string;
  refreshReason?: string;
  /** The client's User-Agent (Codex sends its own, naming its version). */
  userAgent?: string;
  outcome?: 'rotated' | RefreshFailure | 'unknown' | 'server-error';
  /** The bearer token presented (backend calls). */
  accessToken?: string;
  accountHeader?: string;
  /** Request body: size, encoding (Codex zstd-compresses Responses bodies) and JSON when readable. */
  bodyBytes?: number;
  contentEncoding?: string;
  json?: unknown;
}

export interface TokenFamily {
  identity: Identity;
  /** The one refresh token the service accepts now. */
  refreshToken: string;
  accessToken: string;
  accessExp: Date | null;
  idToken: string;
  /** Refresh tokens already exchanged, oldest first. */
  used: string[];
  /** Access tokens issued before the current one. */
  oldAccessTokens: string[];
  /** Successful refreshes so far. */
  rotations: number;
  /** Per-family forced failure (overrides the backend-wide setting). */
  failure: RefreshFailure | null;
}

export interface SeedOptions {
  accountId?: string;
  email?: string;
  planType?: string;
  userId?: string;
  /**
   * true: last_refresh 9 days ago and an access token that expired an hour ago — Codex refreshes
   * before its first request. 'age': no `exp` claim and last_refresh 9 days ago (the `scheduled`
   * rule). false (default): fresh — refreshed now, access token valid for accessTokenTtlSec.
   */
  stale?: boolean | 'age';
  /** Overrides for the seed's timestamps. */
  lastRefresh?: Date;
  accessExp?: Date | null;
}

export interface Seed {
  family: TokenFamily;
  /** auth.json text matching the family's current tokens. */
  authJson: string;
}

export interface CodexBackend {
  origin: string;
  /** PEM of the throwaway CA, for CODEX_CA_CERTIFICATE. */
  caPath: string;
  /** Every request, in arrival order. */
  readonly requests: LoggedRequest[];
  /** The `POST /oauth/token` requests. */
  readonly tokenRequests: LoggedRequest[];
  /** The `POST /backend-api/codex/responses` requests. */
  readonly responsesRequests: LoggedRequest[];
  readonly families: TokenFamily[];
  /** Mutable: change behaviour between runs. */
  settings: Required<CodexBackendOptions>;
  /** Registers a new token family and returns it with a matching auth.json. */
  issue(options?: SeedOptions): Seed;
  /** Someone else refreshed: the family's current refresh token becomes used and new tokens are issued. */
  rotate(family: TokenFamily): void;
  /** The service stops accepting the family's current access token (a 401 that the refresh token can still fix). */
  revokeAccessToken(family: TokenFamily): void;
  /** Env for running codex offline against this backend (base minus proxies and API-key overrides). */
  env(codexHome: string, base?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** Args for `codex exec` (after `exec`): base URLs, no plugins/apps/analytics, no git check. */
  args(): string[];
  stop(): Promise<void>;
}

const TOKEN_ERRORS: Record<RefreshFailure | 'unknown', { code: string; message: string }> = {
  reused: {
    code: 'refresh_token_reused',
    message: 'Your refresh token has already been used to generate a new access token. Please try signing in again.',
  },
  expired: { code: 'refresh_token_expired', message: 'Your refresh token has expired. Please try signing in again.' },
  invalidated: { code: 'refresh_token_invalidated', message: 'Your refresh token has been invalidated. Please try signing in again.' },
  unknown: { code: 'invalid_grant', message: 'Invalid refresh token.' },
};

export const WORKSPACE_DISABLED_MESSAGE = 'Unauthorized. Contact your ChatGPT administrator for access.';

const DEFAULTS: Required<CodexBackendOptions> = {
  replyText: 'OK',
  accessTokenTtlSec: 10 * 86_400,
  refreshFailure: null,
  workspaceDisabled: false,
  refreshDelayMs: 0,
  responsesDelayMs: 0,
  acceptOldAccessTokens: false,
  refreshServerError: false,
  extension: null,
};

/** A throwaway CA and a 127.0.0.1/localhost server certificate signed by it (EC P-256, 2 days). */
function makeCertificates(dir: string): { caPath: string; key: Buffer; cert: Buffer } {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=codex-auth test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '2', '-sha256', '-extfile', file('server.ext'), '-out', file('server.pem'));
  return { caPath: file('ca.pem'), key: readFileSync(file('server.key')), cert: readFileSync(file('server.pem')) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sseEvent(data: { type: string } & Record<string, unknown>): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Starts the stand-in on https://127.0.0.1:<random port>. Stop it with `stop()`. */
export async function startCodexBackend(options: CodexBackendOptions = {}): Promise<CodexBackend> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'codex-backend-'));
  let certs: ReturnType<typeof makeCertificates>;
  try {
    certs = makeCertificates(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const settings: Required<CodexBackendOptions> = { ...DEFAULTS, ...options };
  const requests: LoggedRequest[] = [];
  const families: TokenFamily[] = [];
  const sockets = new Set<Socket>();
  let origin = '';
  let responseSeq = 0;

  const familyByRefresh = (token: string) =>
    families.find((f) => f.refreshToken === token) ?? families.find((f) => f.used.includes(token));

  function familyByAccess(token: string): TokenFamily | undefined {
    return families.find((f) => {
      if (f.accessToken !== token && !(settings.acceptOldAccessTokens && f.oldAccessTokens.includes(token))) return false;
      const exp = decodeJwt(token).exp;
      return typeof exp !== 'number' || exp * 1000 > Date.now();
    });
  }

  function rotate(family: TokenFamily): void {
    const now = new Date();
    family.used.push(family.refreshToken);
    family.oldAccessTokens.push(family.accessToken);
    family.refreshToken = makeRefreshToken();
    family.accessExp = new Date(now.getTime() + settings.accessTokenTtlSec * 1000);
    family.accessToken = makeAccessToken(family.identity, family.accessExp, now);
    family.idToken = makeIdToken(family.identity, now);
    family.rotations += 1;
  }

  async function handleRefresh(body: Buffer, entry: LoggedRequest, res: ServerResponse): Promise<void> {
    let request: Record<string, unknown> = {};
    try {
      request = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      request = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    }
    entry.json = request;
    const token = typeof request.refresh_token === 'string' ? request.refresh_token : '';
    entry.refreshToken = token;
    if (typeof request.refresh_reason === 'string') entry.refreshReason = request.refresh_reason;
    if (settings.refreshDelayMs > 0) await sleep(settings.refreshDelayMs);
    if (settings.refreshServerError) {
      entry.outcome = 'server-error';
      return sendJson(res, 500, { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } });
    }

    if (request.grant_type !== 'refresh_token') {
      entry.outcome = 'unknown';
      return sendJson(res, 400, { error: { message: 'Unsupported grant_type.', type: 'invalid_request_error', param: null, code: 'unsupported_grant_type' } });
    }
    const family = familyByRefresh(token);
    const failure: RefreshFailure | 'unknown' | null = !family
      ? 'unknown'
      : family.failure ?? settings.refreshFailure ?? (family.refreshToken === token ? null : 'reused');
    if (failure || !family) {
      entry.outcome = failure ?? 'unknown';
      const e = TOKEN_ERRORS[failure ?? 'unknown'];
      return sendJson(res, 401, { error: { message: e.message, type: 'invalid_request_error', param: null, code: e.code } });
    }
    rotate(family);
    entry.outcome = 'rotated';
    sendJson(res, 200, {
      id_token: family.idToken,
      access_token: family.accessToken,
      refresh_token: family.refreshToken,
      expires_in: settings.accessTokenTtlSec,
      token_type: 'bearer',
      scope: 'openid profile email offline_access',
    });
  }

  async function handleResponses(authorized: boolean, res: ServerResponse): Promise<void> {
    if (settings.workspaceDisabled) return sendJson(res, 403, { detail: WORKSPACE_DISABLED_MESSAGE });
    if (!authorized) {
      return sendJson(res, 401, {
        error: { message: 'Your authentication token has expired. Please try signing in again.', type: 'invalid_request_error', param: null, code: 'token_expired' },
      });
    }
    if (settings.responsesDelayMs > 0) await sleep(settings.responsesDelayMs);
    responseSeq += 1;
    const id = `resp_test_${responseSeq}`;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(sseEvent({ type: 'response.created', response: { id, status: 'in_progress' } }));
    res.write(sseEvent({
      type: 'response.output_item.done',
      output_index: 0,
      item: { type: 'message', id: `msg_test_${responseSeq}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: settings.replyText, annotations: [] }] },
    }));
    res.end(sseEvent({
      type: 'response.completed',
      response: {
        id,
        status: 'completed',
        usage: { input_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens: 1, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 13 },
      },
    }));
  }

  function classify(method: string, pathname: string): RequestKind {
    if (method === 'POST' && pathname === '/oauth/token') return 'refresh';
    if (pathname === '/backend-api/codex/responses') return 'responses';
    if (pathname === '/backend-api/codex/models') return 'models';
    if (pathname === '/backend-api/wham/accounts/check') return 'accounts-check';
    return 'other';
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const method = req.method ?? 'GET';
    const entry: LoggedRequest = { at: Date.now(), method, path: url.pathname, kind: classify(method, url.pathname) };
    requests.push(entry);
    res.on('finish', () => {
      entry.doneAt = Date.now();
      entry.status = res.statusCode;
    });
    const body = await readBody(req);
    entry.bodyBytes = body.length;
    const encoding = req.headers['content-encoding'];
    if (encoding) entry.contentEncoding = encoding;
    else if (body.length && entry.kind !== 'refresh' && String(req.headers['content-type']).includes('json')) {
      try {
        entry.json = JSON.parse(body.toString('utf8'));
      } catch {
        // not JSON; size and encoding are enough
      }
    }
    if (typeof req.headers['user-agent'] === 'string') entry.userAgent = req.headers['user-agent'];
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) entry.accessToken = bearer;
    const accountHeader = req.headers['chatgpt-account-id'];
    if (typeof accountHeader === 'string') entry.accountHeader = accountHeader;
    const family = bearer ? familyByAccess(bearer) : undefined;
    if (await settings.extension?.handle(req, url, body, entry, res)) return;
    const authorized = family !== undefined || settings.extension?.authorizes(req, entry) === true;

    switch (entry.kind) {
      case 'refresh':
        return handleRefresh(body, entry, res);
      case 'responses':
        if (method !== 'POST') return sendJson(res, 405, { detail: 'Method Not Allowed' });
        return handleResponses(authorized, res);
      case 'models':
        if (settings.workspaceDisabled) return sendJson(res, 403, { detail: WORKSPACE_DISABLED_MESSAGE });
        return sendJson(res, 200, { models: [] });
      case 'accounts-check': {
        const accountId = family?.identity.accountId ?? entry.accountHeader ?? families.at(-1)?.identity.accountId ?? 'unknown';
        return sendJson(res, 200, { accounts: [{ id: accountId, workspace_backend_origin: origin, account_routing_override: 'NO_CONSTRAINT' }] });
      }
      default:
        return sendJson(res, 404, { detail: 'Not Found' });
    }
  }

  const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { detail: String(error) });
      else res.destroy();
    });
  });
  // Codex tries a WebSocket first for Responses; 426 makes it fall back to HTTP POST + SSE.
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const entry: LoggedRequest = { at: Date.now(), method: req.method ?? 'GET', path: url.pathname, kind: 'responses-websocket', status: 426 };
    requests.push(entry);
    socket.end('HTTP/1.1 426 Upgrade Required\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    entry.doneAt = Date.now();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  function issue(opts: SeedOptions = {}): Seed {
    const id = identity({ ...opts, accountId: opts.accountId ?? `acct-${randomBytes(4).toString('hex')}` });
    const now = Date.now();
    const stale = opts.stale ?? false;
    const lastRefresh = opts.lastRefresh ?? new Date(stale ? now - 9 * 86_400_000 : now);
    const accessExp =
      opts.accessExp !== undefined ? opts.accessExp
      : stale === 'age' ? null
      : stale ? new Date(now - 3_600_000)
      : new Date(now + settings.accessTokenTtlSec * 1000);
    const family: TokenFamily = {
      identity: id,
      refreshToken: makeRefreshToken(),
      accessToken: makeAccessToken(id, accessExp, lastRefresh),
      accessExp,
      idToken: makeIdToken(id, lastRefresh),
      used: [],
      oldAccessTokens: [],
      rotations: 0,
      failure: null,
    };
    families.push(family);
    const authJson = makeAuthJson({
      ...id,
      lastRefresh,
      refreshToken: family.refreshToken,
      accessToken: family.accessToken,
      idToken: family.idToken,
    });
    return { family, authJson };
  }

  let stopped = false;
  return {
    origin,
    caPath: certs.caPath,
    requests,
    get tokenRequests() {
      return requests.filter((r) => r.kind === 'refresh');
    },
    get responsesRequests() {
      return requests.filter((r) => r.kind === 'responses');
    },
    families,
    settings,
    issue,
    rotate,
    revokeAccessToken(family: TokenFamily): void {
      family.oldAccessTokens.push(family.accessToken);
      family.accessToken = makeAccessToken(family.identity, family.accessExp);
    },
    env(codexHome: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
      const env: NodeJS.ProcessEnv = {};
      const drop = /^(https?_proxy|all_proxy|no_proxy|openai_api_key|codex_api_key|codex_access_token|openai_base_url|codex_ca_certificate|ssl_cert_file|rust_log)$/i;
      for (const [k, v] of Object.entries(base)) if (!drop.test(k)) env[k] = v;
      return {
        ...env,
        CODEX_HOME: codexHome,
        CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${origin}/oauth/token`,
        CODEX_REVOKE_TOKEN_URL_OVERRIDE: `${origin}/oauth/revoke`,
        CODEX_CA_CERTIFICATE: certs.caPath,
        NO_PROXY: '127.0.0.1,localhost',
        NO_COLOR: '1',
      };
    },
    args(): string[] {
      return [
        '-c', `chatgpt_base_url="${origin}/backend-api/"`,
        '-c', `openai_base_url="${origin}/backend-api/codex"`,
        '--disable', 'plugins',
        '--disable', 'apps',
        '--disable', 'remote_plugin',
        '--disable', 'shell_snapshot',
        '-c', 'analytics.enabled=false',
        '--skip-git-repo-check',
      ];
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers a token family on `backend` and returns the matching seed auth.json (see SeedOptions). */
export function issueSeed(backend: CodexBackend, options: SeedOptions = {}): Seed {
  return backend.issue(options);
}
