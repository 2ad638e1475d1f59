/**
 * A loopback stand-in of the GitHub Actions cache service v2 (DESIGN.md §6), enough for the real
 * `@actions/cache` client and for the cache store's own calls:
 *
 * - Twirp JSON `POST /twirp/github.actions.results.api.v1.CacheService/{CreateCacheEntry,
 *   FinalizeCacheEntryUpload,GetCacheEntryDownloadURL}`, with the runtime token as bearer;
 * - the signed blob URLs those hand out, answered as Azure Blob Storage does for the calls the Azure SDK
 *   makes: a single `PUT` with `x-ms-blob-type: BlockBlob`, block upload (`PUT ?comp=block&blockid=…`,
 *   `PUT ?comp=blocklist`), `HEAD` (properties) and ranged `GET` (`x-ms-range` / `Range`);
 * - the GitHub REST routes for listing and deleting caches (`/repos/{o}/{r}/actions/caches…`).
 *
 * Matching follows the service: the primary key matches exactly, restore keys by prefix, the newest entry
 * wins, and only entries of the same version are seen. Tests can make it answer errors, corrupt a blob, and
 * refuse deletes (a token without `actions: write`).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.CacheService/';
const BLOB_PREFIX = '/devstoreaccount1/actions-cache/';

export interface CacheEntry {
  id: number;
  key: string;
  version: string;
  /** the ref scope the entry was saved in (the stand-in has one scope) */
  ref: string;
  createdAt: number;
  finalized: boolean;
  /** the archive exactly as the client uploaded it (a tar, zstd- or gzip-compressed) */
  blob: Buffer | null;
}

export type TwirpMethod = 'CreateCacheEntry' | 'FinalizeCacheEntryUpload' | 'GetCacheEntryDownloadURL';

export interface CacheServiceOptions {
  /** the token the REST routes accept (`github-token`); default the runner support's fake token */
  githubToken?: string;
  /** `owner/repo` the REST routes serve; default `octo/repo` as in the runner support */
  repository?: string;
}

export interface CacheService {
  origin: string;
  /** what a step needs to talk to this service: cache service v2 variables and `GITHUB_API_URL` */
  env: Record<string, string>;
  /** finalized entries, newest first */
  entries(): CacheEntry[];
  /** answer `status` on the Twirp routes (all, or only `methods`) until called again with null */
  failWith(status: number | null, methods?: TwirpMethod[]): void;
  /** flips bytes in the middle of the newest blob whose key starts with `keyPrefix`; returns its key */
  corrupt(keyPrefix: string): string;
  /** answer 403 to REST deletes, as for a token without `actions: write` */
  forbidDeletes(forbid: boolean): void;
  /** every request, as `METHOD path` (no query, no body) */
  requests(): string[];
  stop(): Promise<void>;
}

export const RUNTIME_TOKEN = 'actions-runtime-token-for-tests';

interface Mutable {
  entries: CacheEntry[];
  nextId: number;
  failure: { status: number; methods: TwirpMethod[] | null } | null;
  forbidDeletes: boolean;
  blocks: Map<string, Buffer>;
  log: string[];
}

export async function startCacheService(options: CacheServiceOptions = {}): Promise<CacheService> {
  const githubToken = options.githubToken ?? 'ghs_faketoken_for_tests';
  const repository = options.repository ?? 'octo/repo';
  const state: Mutable = { entries: [], nextId: 1, failure: null, forbidDeletes: false, blocks: new Map(), log: [] };
  let origin = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      state.log.push(`${req.method} ${url.pathname}`);
      const ctx: Request = { req, res, url, body: Buffer.concat(chunks), state, origin, githubToken, repository };
      try {
        route(ctx);
      } catch (error) {
        send(res, 500, { message: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    env: {
      ACTIONS_CACHE_SERVICE_V2: 'true',
      ACTIONS_RESULTS_URL: `${origin}/`,
      ACTIONS_RUNTIME_TOKEN: RUNTIME_TOKEN,
      GITHUB_API_URL: origin,
      // @actions/cache speaks v1 to anything that looks like GitHub Enterprise Server: github.com is not.
      GITHUB_SERVER_URL: 'https://github.com',
    },
    entries: () => state.entries.filter((e) => e.finalized).sort(newestFirst).map((e) => ({ ...e })),
    failWith: (status, methods) => {
      state.failure = status === null ? null : { status, methods: methods ?? null };
    },
    corrupt: (keyPrefix) => corrupt(state, keyPrefix),
    forbidDeletes: (forbid) => {
      state.forbidDeletes = forbid;
    },
    requests: () => [...state.log],
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Request {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  url: URL;
  body: Buffer;
  state: Mutable;
  origin: string;
  githubToken: string;
  repository: string;
}

function route(r: Request): void {
  const p = r.url.pathname;
  if (p.startsWith(TWIRP_PREFIX) && r.req.method === 'POST') return twirp(r, p.slice(TWIRP_PREFIX.length));
  if (p.startsWith(BLOB_PREFIX)) return blob(r, Number(p.slice(BLOB_PREFIX.length)));
  if (p.startsWith(`/repos/${r.repository}/actions/caches`)) return rest(r, p.slice(`/repos/${r.repository}/actions/caches`.length));
  send(r.res, 404, { message: 'Not Found' });
}

function newestFirst(a: CacheEntry, b: CacheEntry): number {
  return b.createdAt - a.createdAt || b.id - a.id;
}

function send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

// --- Twirp -----------------------------------------------------------------------------------

function twirp(r: Request, method: string): void {
  if (r.req.headers.authorization !== `Bearer ${RUNTIME_TOKEN}`) return send(r.res, 401, { code: 'unauthenticated', msg: 'bad runtime token' });
  const failure = r.state.failure;
  if (failure && (!failure.methods || failure.methods.includes(method as TwirpMethod))) {
    return send(r.res, failure.status, { code: failure.status >= 500 ? 'internal' : 'permission_denied', msg: 'injected failure' });
  }
  const input = JSON.parse(r.body.toString('utf8') || '{}') as Record<string, unknown>;
  switch (method) {
    case 'CreateCacheEntry':
      return send(r.res, 200, createEntry(r, String(input.key), String(input.version)));
    case 'FinalizeCacheEntryUpload':
      return send(r.res, 200, finalizeEntry(r.state, String(input.key), String(input.version), Number(input.size_bytes)));
    case 'GetCacheEntryDownloadURL':
      return send(r.res, 200, downloadUrl(r, String(input.key), (input.restore_keys as string[] | undefined) ?? [], String(input.version)));
    default:
      send(r.res, 404, { code: 'bad_route', msg: `no method ${method}` });
  }
}

function createEntry(r: Request, key: string, version: string): Record<string, unknown> {
  if (r.state.entries.some((e) => e.key === key && e.version === version)) return { ok: false, message: `cache entry ${key} already exists` };
  const entry: CacheEntry = { id: r.state.nextId++, key, version, ref: 'refs/heads/main', createdAt: Date.now(), finalized: false, blob: null };
  r.state.entries.push(entry);
  return { ok: true, signed_upload_url: blobUrl(r.origin, entry.id) };
}

function finalizeEntry(state: Mutable, key: string, version: string, size: number): Record<string, unknown> {
  const entry = state.entries.find((e) => e.key === key && e.version === version && !e.finalized);
  if (!entry || !entry.blob || entry.blob.length !== size) return { ok: false, message: `no upload of ${size} bytes for ${key}` };
  entry.finalized = true;
  entry.createdAt = Math.max(Date.now(), ...state.entries.filter((e) => e !== entry && e.finalized).map((e) => e.createdAt + 1));
  return { ok: true, entry_id: String(entry.id) };
}

function downloadUrl(r: Request, key: string, restoreKeys: string[], version: string): Record<string, unknown> {
  const candidates = r.state.entries.filter((e) => e.finalized && e.version === version).sort(newestFirst);
  const hit = candidates.find((e) => e.key === key) ?? restoreKeys.map((prefix) => candidates.find((e) => e.key.startsWith(prefix))).find(Boolean);
  return hit ? { ok: true, signed_download_url: blobUrl(r.origin, hit.id), matched_key: hit.key } : { ok: false };
}

function blobUrl(origin: string, id: number): string {
  return `${origin}${BLOB_PREFIX}${id}?sv=2025-01-05&se=2099-01-01&sr=b&sp=rw&sig=${randomBytes(8).toString('hex')}`;
}

// --- Azure Blob Storage ----------------------------------------------------------------------

function blob(r: Request, id: number): void {
  const entry = r.state.entries.find((e) => e.id === id);
  if (!entry) return send(r.res, 404, undefined, { 'x-ms-error-code': 'BlobNotFound' });
  if (!r.url.searchParams.get('sig')) return send(r.res, 403, undefined, { 'x-ms-error-code': 'AuthenticationFailed' });
  const comp = r.url.searchParams.get('comp');
  if (r.req.method === 'PUT' && comp === 'block') {
    r.state.blocks.set(`${id}/${r.url.searchParams.get('blockid')}`, r.body);
    return blobAnswer(r.res, 201);
  }
  if (r.req.method === 'PUT' && comp === 'blocklist') {
    const ids = [...r.body.toString('utf8').matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]*)<\//g)].map((m) => m[1] as string);
    entry.blob = Buffer.concat(ids.map((b) => r.state.blocks.get(`${id}/${b}`) ?? Buffer.alloc(0)));
    return blobAnswer(r.res, 201, entry.blob);
  }
  if (r.req.method === 'PUT') {
    if (r.req.headers['x-ms-blob-type'] !== 'BlockBlob') return send(r.res, 400, undefined, { 'x-ms-error-code': 'InvalidHeaderValue' });
    entry.blob = r.body;
    return blobAnswer(r.res, 201, entry.blob);
  }
  if (!entry.blob || !entry.finalized) return send(r.res, 404, undefined, { 'x-ms-error-code': 'BlobNotFound' });
  if (r.req.method === 'HEAD') return blobAnswer(r.res, 200, entry.blob, { 'content-length': String(entry.blob.length) }, false);
  if (r.req.method === 'GET') return blobDownload(r, entry.blob);
  send(r.res, 405);
}

function blobAnswer(res: http.ServerResponse, status: number, body?: Buffer, extra: Record<string, string> = {}, withBody = true): void {
  const md5 = body ? { 'content-md5': createHash('md5').update(body).digest('base64') } : {};
  res.writeHead(status, {
    etag: `"0x${randomBytes(8).toString('hex').toUpperCase()}"`,
    'last-modified': new Date().toUTCString(),
    'x-ms-request-id': randomBytes(8).toString('hex'),
    'x-ms-version': '2025-01-05',
    'x-ms-blob-type': 'BlockBlob',
    'x-ms-request-server-encrypted': 'true',
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    ...md5,
    'content-length': '0',
    ...extra,
  });
  res.end(withBody && status === 200 && body ? body : undefined);
}

function blobDownload(r: Request, data: Buffer): void {
  const range = /bytes=(\d+)-(\d*)/.exec(String(r.req.headers['x-ms-range'] ?? r.req.headers.range ?? ''));
  if (!range) return blobAnswer(r.res, 200, data, { 'content-length': String(data.length) });
  const start = Number(range[1]);
  const end = Math.min(range[2] ? Number(range[2]) : data.length - 1, data.length - 1);
  const part = data.subarray(start, end + 1);
  r.res.writeHead(206, {
    'content-length': String(part.length),
    'content-range': `bytes ${start}-${end}/${data.length}`,
    'content-type': 'application/octet-stream',
    'x-ms-blob-type': 'BlockBlob',
    'x-ms-version': '2025-01-05',
    'x-ms-request-id': randomBytes(8).toString('hex'),
    etag: '"0x1"',
    'last-modified': new Date().toUTCString(),
  });
  r.res.end(part);
}

function corrupt(state: Mutable, keyPrefix: string): string {
  const entry = state.entries.filter((e) => e.finalized && e.blob && e.key.startsWith(keyPrefix)).sort(newestFirst)[0];
  if (!entry?.blob) throw new Error(`no stored blob for ${keyPrefix}`);
  const damaged = Buffer.from(entry.blob);
  for (let i = Math.floor(damaged.length / 3); i < Math.floor((2 * damaged.length) / 3); i += 7) damaged[i] = (damaged[i] as number) ^ 0xa5;
  entry.blob = damaged;
  return entry.key;
}

// --- GitHub REST: list and delete caches -----------------------------------------------------

function rest(r: Request, rest: string): void {
  const auth = r.req.headers.authorization ?? '';
  if (auth !== `Bearer ${r.githubToken}` && auth !== `token ${r.githubToken}`) return send(r.res, 401, { message: 'Bad credentials' });
  const q = r.url.searchParams;
  if (r.req.method === 'GET' && rest === '') return send(r.res, 200, listCaches(r.state, q));
  if (r.req.method !== 'DELETE') return send(r.res, 404, { message: 'Not Found' });
  if (r.state.forbidDeletes) return send(r.res, 403, { message: 'Resource not accessible by integration' });
  const byId = /^\/(\d+)$/.exec(rest);
  if (byId) {
    const before = r.state.entries.length;
    r.state.entries = r.state.entries.filter((e) => e.id !== Number(byId[1]));
    return send(r.res, before === r.state.entries.length ? 404 : 204);
  }
  const key = q.get('key');
  if (rest !== '' || !key) return send(r.res, 404, { message: 'Not Found' });
  const deleted = r.state.entries.filter((e) => e.key === key && (!q.get('ref') || e.ref === q.get('ref')));
  r.state.entries = r.state.entries.filter((e) => !deleted.includes(e));
  send(r.res, deleted.length ? 200 : 404, { total_count: deleted.length, actions_caches: deleted.map(restEntry) });
}

function listCaches(state: Mutable, q: URLSearchParams): Record<string, unknown> {
  const key = q.get('key') ?? '';
  const ref = q.get('ref');
  let list = state.entries.filter((e) => e.finalized && e.key.startsWith(key) && (!ref || e.ref === ref)).sort(newestFirst);
  if (q.get('direction') === 'asc') list = list.reverse();
  const perPage = Math.min(Number(q.get('per_page') ?? 30), 100);
  const page = Number(q.get('page') ?? 1);
  return { total_count: list.length, actions_caches: list.slice((page - 1) * perPage, page * perPage).map(restEntry) };
}

function restEntry(e: CacheEntry): Record<string, unknown> {
  const at = new Date(e.createdAt).toISOString();
  return { id: e.id, ref: e.ref, key: e.key, version: e.version, last_accessed_at: at, created_at: at, size_in_bytes: e.blob?.length ?? 0 };
}
