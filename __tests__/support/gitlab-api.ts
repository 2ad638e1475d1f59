/**
 * A loopback stand-in of GitLab's project CI/CD variables API (REST v4), with GitLab's documented answers:
 *
 * - authentication: `PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>` (personal, project or group
 *   access tokens), or `JOB-TOKEN: <CI_JOB_TOKEN>`. No token, or one GitLab does not know (a job token sent
 *   as a Bearer token included): 401 `{"message":"401 Unauthorized"}`;
 * - `/projects/:id` takes the numeric id or the URL-encoded path (`group%2Fproject`); a project the token
 *   has no membership in: 404 `{"message":"404 Project Not Found"}`;
 * - project variables need the Maintainer role: a Developer (or lower) gets 403 `{"message":"403 Forbidden"}`,
 *   and so does a job token (CI_JOB_TOKEN is not allowed on the variables API); a token without the `api`
 *   scope (`read_api`) may GET but a write answers 403 `{"error":"insufficient_scope"}`;
 * - `GET /projects/:id/variables/:key` → 200 the variable, or 404 `{"message":"404 Variable Not Found"}`;
 *   several variables of one key in different environment scopes answer 409 unless
 *   `filter[environment_scope]` picks one;
 * - `PUT /projects/:id/variables/:key` updates only the attributes given (masked, protected, raw, … keep
 *   their values otherwise) → 200; `POST /projects/:id/variables` creates → 201, or 400 when the key exists;
 * - a masked variable's value must meet the masking rules (one line, at least 8 characters, only letters,
 *   digits and `@_-:+=/~.`): otherwise 400 `{"message":{"value":["is invalid"]}}`;
 * - `GET /personal_access_tokens/self` describes the token (scopes, active).
 *
 * Every request is logged with how it authenticated and the answer's status.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Role = 'guest' | 'reporter' | 'developer' | 'maintainer' | 'owner';

export interface TokenSpec {
  role: Role;
  /** default ['api'] */
  scopes?: string[];
  /** the project the token belongs to (project access tokens), by id; default every project */
  project?: number;
}

export interface GitlabVariable {
  key: string;
  value: string;
  variable_type: 'env_var' | 'file';
  protected: boolean;
  masked: boolean;
  hidden: boolean;
  raw: boolean;
  environment_scope: string;
  description: string | null;
}

export interface GitlabRequest {
  method: string;
  path: string;
  auth: 'none' | 'private-token' | 'bearer' | 'job-token';
  status: number;
}

export interface GitlabApiStandIn {
  /** `http://127.0.0.1:<port>/api/v4`, as CI_API_V4_URL */
  apiUrl: string;
  readonly requests: GitlabRequest[];
  addProject(id: number, path: string): void;
  addToken(token: string, spec: TokenSpec): void;
  addJobToken(token: string, project: number): void;
  setVariable(project: number, variable: Partial<GitlabVariable> & { key: string; value: string }): void;
  variable(project: number, key: string, scope?: string): GitlabVariable | undefined;
  stop(): Promise<void>;
}

const ROLE_LEVEL: Record<Role, number> = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 };
const MASKABLE = /^[A-Za-z0-9@_\-:+=/~.]{8,}$/;

export async function startGitlabApi(): Promise<GitlabApiStandIn> {
  const projects = new Map<number, string>();
  const tokens = new Map<string, TokenSpec>();
  const jobTokens = new Map<string, number>();
  const variables = new Map<number, GitlabVariable[]>();
  const requests: GitlabRequest[] = [];
  const sockets = new Set<Socket>();

  const findProject = (id: string): number | null => {
    const decoded = decodeURIComponent(id);
    if (/^\d+$/.test(decoded)) return projects.has(Number(decoded)) ? Number(decoded) : null;
    for (const [num, p] of projects) if (p === decoded) return num;
    return null;
  };

  const handle = async (req: IncomingMessage, body: string): Promise<[number, unknown]> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    if (!path.startsWith('/api/v4/')) return [404, { error: '404 Not Found' }];
    const rest = path.slice('/api/v4'.length);
    const jobToken = header(req, 'job-token');
    const bearer = /^Bearer (.+)$/.exec(header(req, 'authorization'))?.[1];
    const token = header(req, 'private-token') || bearer;
    const log = requests[requests.length - 1] as GitlabRequest;
    log.auth = jobToken ? 'job-token' : header(req, 'private-token') ? 'private-token' : bearer ? 'bearer' : 'none';

    if (jobToken) return jobTokens.has(jobToken) ? [403, { message: '403 Forbidden' }] : [401, { message: '401 Unauthorized' }];
    const spec = token ? tokens.get(token) : undefined;
    if (!spec) return [401, { message: '401 Unauthorized' }];
    const scopes = spec.scopes ?? ['api'];

    if (rest === '/personal_access_tokens/self' && req.method === 'GET') return [200, { id: 1, name: 'codex-auth', revoked: false, active: true, scopes, expires_at: null }];

    const m = /^\/projects\/([^/]+)\/variables(?:\/([^/]+))?$/.exec(rest);
    if (!m) return [404, { error: '404 Not Found' }];
    const project = findProject(m[1] as string);
    if (project === null || (spec.project !== undefined && spec.project !== project)) return [404, { message: '404 Project Not Found' }];
    if (!scopes.includes('api') && !(scopes.includes('read_api') && req.method === 'GET')) {
      return [403, { error: 'insufficient_scope', error_description: 'The request requires higher privileges than provided by the access token.', scope: 'api' }];
    }
    if (ROLE_LEVEL[spec.role] < ROLE_LEVEL.maintainer) return [403, { message: '403 Forbidden' }];
    const list = variables.get(project) ?? [];
    variables.set(project, list);
    const params = parseBody(req, body, url);
    const scope = url.searchParams.get('filter[environment_scope]');
    const key = m[2] === undefined ? undefined : decodeURIComponent(m[2]);

    if (key === undefined) {
      if (req.method !== 'POST') return [405, { message: '405 Method Not Allowed' }];
      const created = fresh({ ...params, key: String(params.key ?? ''), value: String(params.value ?? '') });
      if (list.some((v) => v.key === created.key && v.environment_scope === created.environment_scope)) return [400, { message: { key: [`(${created.key}) has already been taken`] } }];
      if (created.masked && !MASKABLE.test(created.value)) return [400, { message: { value: ['is invalid'] } }];
      list.push(created);
      return [201, created];
    }
    const matches = list.filter((v) => v.key === key && (scope === null || v.environment_scope === scope));
    if (matches.length === 0) return [404, { message: '404 Variable Not Found' }];
    if (matches.length > 1) return [409, { message: "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'" }];
    const found = matches[0] as GitlabVariable;
    if (req.method === 'GET') return [200, { ...found, value: found.hidden ? null : found.value }];
    if (req.method === 'PUT') {
      const next: GitlabVariable = { ...found };
      if (params.value !== undefined) next.value = String(params.value);
      for (const flag of ['masked', 'protected', 'raw'] as const) if (params[flag] !== undefined) next[flag] = params[flag] === true || params[flag] === 'true';
      if (next.masked && !MASKABLE.test(next.value)) return [400, { message: { value: ['is invalid'] } }];
      Object.assign(found, next);
      return [200, { ...found, value: found.hidden ? null : found.value }];
    }
    return [405, { message: '405 Method Not Allowed' }];
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry: GitlabRequest = { method: req.method ?? '', path: req.url ?? '', auth: 'none', status: 0 };
      requests.push(entry);
      handle(req, Buffer.concat(chunks).toString('utf8'))
        .then(([status, json]) => {
          entry.status = status;
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        })
        .catch((error: unknown) => {
          entry.status = 500;
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: String(error) }));
        });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/v4`,
    requests,
    addProject: (id, path) => void projects.set(id, path),
    addToken: (token, spec) => void tokens.set(token, spec),
    addJobToken: (token, project) => void jobTokens.set(token, project),
    setVariable(project, variable) {
      const list = variables.get(project) ?? [];
      variables.set(project, list);
      const existing = list.findIndex((v) => v.key === variable.key && v.environment_scope === (variable.environment_scope ?? '*'));
      const next = fresh(variable);
      if (existing >= 0) list[existing] = next;
      else list.push(next);
    },
    variable: (project, key, scope = '*') => variables.get(project)?.find((v) => v.key === key && v.environment_scope === scope),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function fresh(v: Partial<GitlabVariable> & Record<string, unknown>): GitlabVariable {
  const flag = (x: unknown, fallback: boolean) => (x === undefined ? fallback : x === true || x === 'true');
  return {
    key: String(v.key),
    value: String(v.value ?? ''),
    variable_type: v.variable_type === 'file' ? 'file' : 'env_var',
    protected: flag(v.protected, false),
    masked: flag(v.masked, false),
    hidden: flag(v.hidden, false),
    raw: flag(v.raw, false),
    environment_scope: typeof v.environment_scope === 'string' ? v.environment_scope : '*',
    description: typeof v.description === 'string' ? v.description : null,
  };
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/** GitLab takes parameters as JSON, form data or the query string. */
function parseBody(req: IncomingMessage, body: string, url: URL): Record<string, unknown> {
  const out: Record<string, unknown> = Object.fromEntries(url.searchParams);
  if (!body) return out;
  if ((req.headers['content-type'] ?? '').includes('application/json')) return { ...out, ...(JSON.parse(body) as Record<string, unknown>) };
  return { ...out, ...Object.fromEntries(new URLSearchParams(body)) };
}
