/**
 * A loopback stand-in of the parts of the GitHub REST API that codex-auth uses, with GitHub's semantics:
 *
 * - git refs: POST …/git/refs → 201, or 422 `Reference already exists` / `Object does not exist`;
 *   GET …/git/matching-refs/<prefix> (sorted by name; [] when none); DELETE …/git/refs/<ref> → 204, or
 *   422 `Reference does not exist` (what GitHub answers for a missing ref, not 404);
 *   GET …/commits?per_page=1 (the default branch head; 409 for an empty repository); GET /repos/{o}/{r};
 * - the runs API: GET …/actions/runs/{id} and …/runs/{id}/attempts/{n}; every run is `in_progress` until a
 *   test says otherwise (`setRunStatus`, `deleteRun`);
 * - secrets: the public key (a real X25519 key pair per repository or environment), GET a secret's
 *   metadata, PUT {encrypted_value, key_id} → 201 created / 204 updated; the sealed box is opened with
 *   libsodium (the reference implementation) and kept, so `secret(name).value` is the plaintext;
 * - rate limits per token: x-ratelimit-limit/remaining/reset/used/resource on every answer; a conditional
 *   GET (If-None-Match with the current ETag) answered 304 is not charged; a spent limit answers 403;
 * - permissions per token (`grant`): a denial answers 403 `Resource not accessible by integration`
 *   (GITHUB_TOKEN, App tokens) or 404 (a personal token without access to the repository);
 * - injected failures (`failNext`): a 429 with retry-after, a 502, …
 *
 * Every request is logged with its token and whether it was charged. Importable from plain JS once built
 * (scripts/bench-lock.mjs bundles it with esbuild).
 */
import { createHash, generateKeyPairSync, randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import sodium from 'libsodium-wrappers';

export type Access = 'none' | 'read' | 'write';

export interface Grant {
  contents?: Access;
  actions?: Access;
  secrets?: Access;
  /** how a denial is answered: 403 (GITHUB_TOKEN, App tokens) or 404 (a personal token without access) */
  denyAs?: 403 | 404;
  /** the hourly rate limit; default 5000 (GITHUB_TOKEN: 1000 per repository) */
  rateLimit?: number;
}

export interface LoggedRequest {
  at: number;
  method: string;
  path: string;
  token: string;
  status: number;
  /** counted against the token's primary rate limit (everything but a 304) */
  charged: boolean;
}

export interface RefRecord {
  repo: string;
  ref: string;
  sha: string;
  createdAt: number;
  token: string;
}

export interface RefEvent {
  at: number;
  kind: 'create' | 'delete';
  repo: string;
  ref: string;
  token: string;
}

export interface StoredSecret {
  name: string;
  /** the plaintext, opened with the private key */
  value: string;
  encryptedValue: string;
  keyId: string;
  createdAt: string;
  updatedAt: string;
  writes: number;
}

export type RunStatus = 'queued' | 'in_progress' | 'completed';

interface Failure {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  match: (method: string, path: string) => boolean;
}

export interface GithubApiStandIn {
  url: string;
  /** GITHUB_API_URL for the steps */
  env: Record<string, string>;
  stop(): Promise<void>;
  requests: LoggedRequest[];
  refLog: RefEvent[];
  /** requests charged to the primary rate limit, of one token or all */
  charged(token?: string): number;
  /** current refs, sorted by name; optionally of one repository and under a prefix (`refs/codex-auth-locks/`) */
  refs(repo?: string, prefix?: string): RefRecord[];
  /** the head commit of a repository's default branch (what GITHUB_SHA is in a test) */
  headSha(repo: string): string;
  setEmpty(repo: string, empty: boolean): void;
  hideRepo(repo: string): void;
  grant(token: string, grant: Grant): void;
  setRunStatus(repo: string, runId: string | number, status: RunStatus, conclusion?: string | null, attempt?: number): void;
  deleteRun(repo: string, runId: string | number): void;
  /** forces a token's remaining requests, e.g. 0 with a reset a few seconds away */
  setRateLimit(token: string, remaining: number, resetInSeconds?: number): void;
  /** the next `count` requests that match answer `status` with `headers` */
  failNext(count: number, status: number, headers?: Record<string, string>, match?: (method: string, path: string) => boolean, body?: unknown): void;
  /** added latency per request, to look like a remote API */
  setLatency(ms: number): void;
  publicKey(repo: string, environment?: string): { keyId: string; key: string };
  secret(repo: string, name: string, environment?: string): StoredSecret | undefined;
  setSecret(repo: string, name: string, value: string, options?: { environment?: string; updatedAt?: string }): void;
}

interface KeyPair {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

interface Run {
  status: RunStatus;
  conclusion: string | null;
  attempt: number;
  deleted: boolean;
  updatedAt: string;
}

interface RateState {
  limit: number;
  used: number;
  resetAt: number;
}

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** git check-ref-format, as far as GitHub enforces it. */
function validRefName(ref: string): boolean {
  if (!ref.startsWith('refs/') || ref.split('/').length < 3 || ref.endsWith('/') || ref.includes('//')) return false;
  if ([...ref].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f || '~^:?*[\\'.includes(c)) || ref.includes('..') || ref.includes('@{')) return false;
  return ref.split('/').every((c) => c.length > 0 && !c.startsWith('.') && !c.endsWith('.lock') && !c.endsWith('.'));
}

export async function startGithubApi(): Promise<GithubApiStandIn> {
  await sodium.ready;
  const requests: LoggedRequest[] = [];
  const refLog: RefEvent[] = [];
  const refs = new Map<string, RefRecord>(); // key: repo + ' ' + ref
  const hidden = new Set<string>();
  const empty = new Set<string>();
  const grants = new Map<string, Grant>();
  const runs = new Map<string, Run>();
  const rates = new Map<string, RateState>();
  const keys = new Map<string, KeyPair>();
  const secrets = new Map<string, StoredSecret>();
  const failures: (Failure & { left: number })[] = [];
  let latency = 0;

  const norm = (repo: string) => repo.toLowerCase();
  const headSha = (repo: string) => createHash('sha1').update(`head of ${norm(repo)}`).digest('hex');
  const scopeKey = (repo: string, environment?: string) => `${norm(repo)}${environment ? `/environments/${environment}` : ''}`;

  function keyPair(scope: string): KeyPair {
    let pair = keys.get(scope);
    if (!pair) {
      const { publicKey, privateKey } = generateKeyPairSync('x25519');
      const raw = (jwk: { x?: string; d?: string }, part: 'x' | 'd') => new Uint8Array(Buffer.from(jwk[part] as string, 'base64url'));
      pair = {
        keyId: String(randomInt(1e9, 2 ** 47)),
        publicKey: raw(publicKey.export({ format: 'jwk' }), 'x'),
        privateKey: raw(privateKey.export({ format: 'jwk' }), 'd'),
      };
      keys.set(scope, pair);
    }
    return pair;
  }

  function rate(token: string): RateState {
    let state = rates.get(token);
    const now = Date.now();
    if (!state || state.resetAt <= now) {
      state = { limit: grants.get(token)?.rateLimit ?? 5000, used: 0, resetAt: now + 3600_000 };
      rates.set(token, state);
    }
    return state;
  }

  function run(repo: string, id: string): Run {
    const key = `${norm(repo)}#${id}`;
    let r = runs.get(key);
    if (!r) {
      r = { status: 'in_progress', conclusion: null, attempt: 1, deleted: false, updatedAt: isoSeconds(Date.now()) };
      runs.set(key, r);
    }
    return r;
  }

  type Answer = { status: number; body?: unknown; headers?: Record<string, string> };
  const notFound: Answer = { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' } };

  function allowed(token: string, scope: 'contents' | 'actions' | 'secrets', need: Access): Answer | null {
    const grant = grants.get(token) ?? {};
    const defaults = { contents: 'write', actions: 'read', secrets: 'write' } as const;
    const have = grant[scope] ?? defaults[scope];
    const rank = { none: 0, read: 1, write: 2 };
    if (rank[have] >= rank[need]) return null;
    if (grant.denyAs === 404) return notFound;
    return { status: 403, body: { message: 'Resource not accessible by integration', documentation_url: 'https://docs.github.com/rest' } };
  }

  function route(method: string, path: string, query: URLSearchParams, token: string, body: unknown): Answer {
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    if (!m) return notFound;
    const repo = `${decodeURIComponent(m[1] as string)}/${decodeURIComponent(m[2] as string)}`;
    const rest = m[3] ?? '';
    if (hidden.has(norm(repo))) return notFound;
    if (rest === '' && method === 'GET') return { status: 200, body: { full_name: repo, default_branch: 'main', private: true } };
    if (rest === '/commits' && method === 'GET') {
      const denied = allowed(token, 'contents', 'read');
      if (denied) return denied;
      if (empty.has(norm(repo))) return { status: 409, body: { message: 'Git Repository is empty.' } };
      return { status: 200, body: [{ sha: headSha(repo) }].slice(0, Number(query.get('per_page') ?? 30)) };
    }
    if (rest.startsWith('/git/')) return gitRoute(method, rest.slice('/git/'.length), repo, token, body);
    if (rest.startsWith('/actions/runs/')) return runsRoute(method, rest.slice('/actions/runs/'.length), repo, token);
    const secretPath = /^(?:\/environments\/([^/]+))?\/(?:actions\/)?secrets\/([^/]+)$/.exec(rest);
    if (secretPath && (rest.startsWith('/actions/') || rest.startsWith('/environments/'))) {
      return secretsRoute(method, repo, secretPath[1] ? decodeURIComponent(secretPath[1]) : undefined, decodeURIComponent(secretPath[2] as string), token, body);
    }
    return notFound;
  }

  function gitRoute(method: string, rest: string, repo: string, token: string, body: unknown): Answer {
    const key = (ref: string) => `${norm(repo)} ${ref}`;
    if (method === 'POST' && rest === 'refs') {
      const denied = allowed(token, 'contents', 'write');
      if (denied) return denied;
      const { ref, sha } = (body ?? {}) as { ref?: unknown; sha?: unknown };
      if (typeof ref !== 'string' || typeof sha !== 'string') return { status: 422, body: { message: 'Invalid request.' } };
      if (!validRefName(ref)) return { status: 422, body: { message: 'Reference name is not valid' } };
      if (sha !== headSha(repo)) return { status: 422, body: { message: 'Object does not exist' } };
      if (refs.has(key(ref))) return { status: 422, body: { message: 'Reference already exists' } };
      const conflicts = [...refs.values()].some((r) => norm(r.repo) === norm(repo) && (r.ref.startsWith(`${ref}/`) || ref.startsWith(`${r.ref}/`)));
      if (conflicts) return { status: 422, body: { message: 'Reference cannot be created' } };
      const record: RefRecord = { repo, ref, sha, createdAt: Date.now(), token };
      refs.set(key(ref), record);
      refLog.push({ at: record.createdAt, kind: 'create', repo, ref, token });
      return { status: 201, body: refJson(repo, record) };
    }
    if (method === 'GET' && rest.startsWith('matching-refs/')) {
      const denied = allowed(token, 'contents', 'read');
      if (denied) return denied;
      const prefix = `refs/${rest.slice('matching-refs/'.length)}`;
      return { status: 200, body: listRefs(repo, prefix).map((r) => refJson(repo, r)) };
    }
    if (method === 'GET' && rest.startsWith('ref/')) {
      const denied = allowed(token, 'contents', 'read');
      if (denied) return denied;
      const record = refs.get(key(`refs/${rest.slice('ref/'.length)}`));
      return record ? { status: 200, body: refJson(repo, record) } : notFound;
    }
    if (method === 'DELETE' && rest.startsWith('refs/')) {
      const denied = allowed(token, 'contents', 'write');
      if (denied) return denied;
      const ref = rest;
      if (!refs.delete(key(ref))) return { status: 422, body: { message: 'Reference does not exist' } };
      refLog.push({ at: Date.now(), kind: 'delete', repo, ref, token });
      return { status: 204 };
    }
    return notFound;
  }

  function refJson(repo: string, r: RefRecord) {
    return { ref: r.ref, node_id: `REF_${r.ref}`, url: `/repos/${repo}/git/${r.ref}`, object: { sha: r.sha, type: 'commit', url: `/repos/${repo}/git/commits/${r.sha}` } };
  }

  function listRefs(repo: string | undefined, prefix = ''): RefRecord[] {
    return [...refs.values()].filter((r) => (!repo || norm(r.repo) === norm(repo)) && r.ref.startsWith(prefix)).sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  function runsRoute(method: string, rest: string, repo: string, token: string): Answer {
    const m = /^(\d+)(?:\/attempts\/(\d+))?$/.exec(rest);
    if (method !== 'GET' || !m) return notFound;
    const denied = allowed(token, 'actions', 'read');
    if (denied) return denied;
    const id = m[1] as string;
    const r = run(repo, id);
    if (r.deleted) return notFound;
    const attempt = m[2] ? Number(m[2]) : r.attempt;
    if (attempt > r.attempt || attempt < 1) return notFound;
    const current = attempt === r.attempt;
    return {
      status: 200,
      body: {
        id: Number(id),
        run_attempt: attempt,
        status: current ? r.status : 'completed',
        conclusion: current ? r.conclusion : (r.conclusion ?? 'failure'),
        html_url: `https://github.example/${repo}/actions/runs/${id}`,
        updated_at: r.updatedAt,
      },
    };
  }

  function secretsRoute(method: string, repo: string, environment: string | undefined, name: string, token: string, body: unknown): Answer {
    const scope = scopeKey(repo, environment);
    if (method === 'GET' && name === 'public-key') {
      const denied = allowed(token, 'secrets', 'read');
      if (denied) return denied;
      const pair = keyPair(scope);
      return { status: 200, body: { key_id: pair.keyId, key: Buffer.from(pair.publicKey).toString('base64') } };
    }
    const secretKey = `${scope} ${name.toUpperCase()}`;
    if (method === 'GET') {
      const denied = allowed(token, 'secrets', 'read');
      if (denied) return denied;
      const s = secrets.get(secretKey);
      return s ? { status: 200, body: { name: s.name, created_at: s.createdAt, updated_at: s.updatedAt } } : notFound;
    }
    if (method === 'PUT') {
      const denied = allowed(token, 'secrets', 'write');
      if (denied) return denied;
      const { encrypted_value: encrypted, key_id: keyId } = (body ?? {}) as { encrypted_value?: unknown; key_id?: unknown };
      const pair = keyPair(scope);
      if (typeof encrypted !== 'string' || keyId !== pair.keyId) return { status: 422, body: { message: 'Bad request: key_id does not match the public key' } };
      let value: string;
      try {
        value = Buffer.from(sodium.crypto_box_seal_open(new Uint8Array(Buffer.from(encrypted, 'base64')), pair.publicKey, pair.privateKey)).toString('utf8');
      } catch {
        return { status: 422, body: { message: 'Bad request: encrypted_value could not be decrypted' } };
      }
      const now = isoSeconds(Date.now());
      const existing = secrets.get(secretKey);
      secrets.set(secretKey, { name: name.toUpperCase(), value, encryptedValue: encrypted, keyId, createdAt: existing?.createdAt ?? now, updatedAt: now, writes: (existing?.writes ?? 0) + 1 });
      return { status: existing ? 204 : 201, body: existing ? undefined : {} };
    }
    return notFound;
  }

  const server = createServer((req, res) => void handle(req, res));
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (latency) await new Promise((r) => setTimeout(r, latency));
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const auth = req.headers.authorization ?? '';
    const token = /^(?:Bearer|token) (.+)$/i.exec(auth)?.[1] ?? '';
    let body: unknown;
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    } catch {
      body = undefined;
    }
    const state = rate(token);
    const failure = failures.find((f) => f.left > 0 && f.match(method, url.pathname));
    let answer: Answer;
    if (!token) answer = { status: 401, body: { message: 'Requires authentication' } };
    else if (failure) {
      failure.left--;
      answer = { status: failure.status, headers: failure.headers, body: failure.body };
    } else if (state.used >= state.limit) {
      answer = { status: 403, body: { message: 'API rate limit exceeded for installation.' } };
    } else if (url.pathname === '/rate_limit') {
      answer = { status: 200, body: { resources: { core: { limit: state.limit, remaining: state.limit - state.used, reset: Math.floor(state.resetAt / 1000) } } } };
    } else answer = route(method, url.pathname, url.searchParams, token, body);

    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    const etag = `"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"`;
    const ifNoneMatch = req.headers['if-none-match'];
    const notModified = method === 'GET' && answer.status === 200 && !!token && !!ifNoneMatch && ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, '')).includes(etag);
    const charged = !notModified && url.pathname !== '/rate_limit' && !(answer.status === 403 && state.used >= state.limit);
    if (charged && token) state.used++;
    const headers: Record<string, string> = {
      'x-ratelimit-limit': String(state.limit),
      'x-ratelimit-remaining': String(Math.max(0, state.limit - state.used)),
      'x-ratelimit-reset': String(Math.floor(state.resetAt / 1000)),
      'x-ratelimit-used': String(state.used),
      'x-ratelimit-resource': 'core',
      ...(answer.headers ?? {}),
    };
    if (method === 'GET' && answer.status === 200) headers.etag = etag;
    requests.push({ at: Date.now(), method, path: url.pathname + url.search, token, status: notModified ? 304 : answer.status, charged });
    if (notModified) {
      res.writeHead(304, headers).end();
      return;
    }
    if (text) headers['content-type'] = 'application/json; charset=utf-8';
    res.writeHead(answer.status, headers).end(text);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    env: { GITHUB_API_URL: url },
    requests,
    refLog,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
    charged: (token) => requests.filter((r) => r.charged && (token === undefined || r.token === token)).length,
    refs: (repo, prefix) => listRefs(repo, prefix),
    headSha,
    setEmpty: (repo, on) => void (on ? empty.add(norm(repo)) : empty.delete(norm(repo))),
    hideRepo: (repo) => void hidden.add(norm(repo)),
    grant: (token, grant) => void grants.set(token, grant),
    setRunStatus: (repo, runId, status, conclusion = null, attempt) => {
      const r = run(repo, String(runId));
      Object.assign(r, { status, conclusion: status === 'completed' ? (conclusion ?? 'success') : null, updatedAt: isoSeconds(Date.now()) });
      if (attempt) r.attempt = attempt;
    },
    deleteRun: (repo, runId) => void (run(repo, String(runId)).deleted = true),
    setRateLimit: (token, remaining, resetInSeconds = 3600) => {
      const state = rate(token);
      state.used = state.limit - remaining;
      state.resetAt = Date.now() + resetInSeconds * 1000;
    },
    failNext: (count, status, headers = {}, match = () => true, body = { message: status === 429 ? 'You have exceeded a secondary rate limit.' : 'Server Error' }) =>
      void failures.push({ left: count, status, headers, match, body }),
    setLatency: (ms) => void (latency = ms),
    publicKey: (repo, environment) => {
      const pair = keyPair(scopeKey(repo, environment));
      return { keyId: pair.keyId, key: Buffer.from(pair.publicKey).toString('base64') };
    },
    secret: (repo, name, environment) => secrets.get(`${scopeKey(repo, environment)} ${name.toUpperCase()}`),
    setSecret: (repo, name, value, options = {}) => {
      const scope = scopeKey(repo, options.environment);
      const pair = keyPair(scope);
      const updatedAt = options.updatedAt ?? isoSeconds(Date.now());
      const encrypted = Buffer.from(sodium.crypto_box_seal(value, pair.publicKey)).toString('base64');
      const existing = secrets.get(`${scope} ${name.toUpperCase()}`);
      secrets.set(`${scope} ${name.toUpperCase()}`, { name: name.toUpperCase(), value, encryptedValue: encrypted, keyId: pair.keyId, createdAt: existing?.createdAt ?? updatedAt, updatedAt, writes: existing?.writes ?? 0 });
    },
  };
}
