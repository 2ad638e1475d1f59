import * as z from 'zod/mini';
import { parseAuthFile, type AuthFile } from '../auth-file.js';
import { UserError } from '../errors.js';
import { createGithubApi, GithubApiError, type FetchLike, type GithubApi, type GithubResponse } from '../github.js';
import { swapDecision, type PersistResult, type Store, type StoreDeps, type Stored } from './store.js';

/** What GitLab answers for a project variable (GET/PUT /projects/:id/variables/:key); extra fields are ignored. */
const Variable = z.object({
  key: z.string(),
  value: z.nullable(z.string()),
  masked: z.optional(z.boolean()),
  protected: z.optional(z.boolean()),
  hidden: z.optional(z.boolean()),
  environment_scope: z.optional(z.string()),
});
type Variable = z.infer<typeof Variable>;

const TokenSelf = z.object({ scopes: z.optional(z.array(z.string())), active: z.optional(z.boolean()) });

const TOKEN = 'CODEX_AUTH_GITLAB_TOKEN';
const REQUEST_DEADLINE_MS = 2 * 60_000;
const TOKEN_HELP = `${TOKEN} must be a project access token with the Maintainer role and the \`api\` scope (Settings → Access tokens); CI_JOB_TOKEN cannot read or write CI/CD variables`;

/**
 * `store: gitlab-variable` (DESIGN §8): a GitLab project CI/CD variable holds base64 of auth.json, on one
 * line: the form GitLab can mask.
 *
 * Restore reads the variable's current value through the API, not the job's copy in its environment: a job
 * that waited (for `resource_group:` or the lock) got the value as it was when the job was created, and
 * another job may have rotated the tokens since. Persist reads the variable back and, as GitLab (unlike a
 * GitHub secret) can say what it holds, compares and swaps with the rule every such store shares
 * (swapDecision: the newer file wins). The PUT keeps the variable's masked and protected settings.
 *
 * Requests go through the client the GitHub paths use (github.ts): retries with backoff on network errors
 * and 5xx, `retry-after` on 429, a time limit per attempt. GitLab takes the token as a Bearer token.
 */
export class GitlabVariableStore implements Store {
  readonly kind = 'gitlab-variable' as const;
  readonly inPlace = false;
  private api: Promise<GithubApi> | null = null;

  constructor(
    private readonly deps: StoreDeps,
    private readonly edges: { fetch?: FetchLike } = {},
  ) {}

  async restore(): Promise<Stored | null> {
    await this.checkScopes();
    const variable = await this.read();
    if (!variable) {
      this.deps.log.info(`${this.where()} does not exist yet: it is created when the refreshed auth.json is persisted.`);
      return null;
    }
    return this.stored(variable);
  }

  async persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult> {
    const variable = await this.read();
    const current = variable ? this.stored(variable) : null;
    const decided = swapDecision(current && current.version !== baseVersion ? current : null, next);
    if (decided) return decided;
    const value = Buffer.from(next.text, 'utf8').toString('base64');
    const api = await this.client();
    const body = variable ? { value, masked: variable.masked ?? false, protected: variable.protected ?? false } : { key: this.deps.inputs.gitlabVariable, value, masked: true, protected: false, raw: true };
    // A variable that does not exist yet is created masked (base64 on one line meets GitLab's masking rules).
    const method = variable ? 'PUT' : 'POST';
    const path = variable ? this.variablePath(variable) : `${this.projectPath()}/variables`;
    const res = await api.request(method, path, { body, accept: [400, 401, 403, 404], deadline: this.deadline() });
    if (res.status === 400) throw new UserError(`GitLab refused the new value of ${this.where()} (${method} ${path}: HTTP 400${masking(res.data)}): the refreshed auth.json was NOT stored.`);
    if (res.status !== 200 && res.status !== 201) throw this.denied(res.status, method, path, 'write');
    return 'written';
  }

  private stored(variable: Variable): Stored {
    if (variable.value === null || variable.hidden) {
      throw new UserError(`${this.where()} is hidden, and GitLab never returns a hidden variable's value: recreate it as masked (not hidden) so that jobs can read it back.`);
    }
    const auth = parseAuthFile(variable.value.trim(), `The value of ${this.where()}`);
    return { auth, version: auth.hash };
  }

  /** The variable, or null when it does not exist. Several variables of one key (environment scopes) are refused. */
  private async read(): Promise<Variable | null> {
    const api = await this.client();
    const path = this.variablePath();
    const res = await api.request<unknown>('GET', path, { accept: [401, 403, 404, 409], deadline: this.deadline() });
    if (res.status === 404) {
      // GitLab answers 404 both for a missing variable and for a project the token cannot see.
      if (/variable/i.test(messageOf(res.data))) return null;
      throw new UserError(`GitLab answered GET ${path} with HTTP 404 (${messageOf(res.data) || 'not found'}): check \`gitlab-project\` (${this.deps.inputs.gitlabProject}) and that ${TOKEN} belongs to that project.`);
    }
    if (res.status === 409) {
      throw new UserError(`${this.where()} exists in several environment scopes, so it is not clear which one to keep fresh: keep one \`${this.deps.inputs.gitlabVariable}\` variable (environment scope \`*\`), or use another \`gitlab-variable\`.`);
    }
    if (res.status !== 200) throw this.denied(res.status, 'GET', path, 'read');
    const parsed = Variable.safeParse(res.data);
    if (!parsed.success) throw new Error(`GET ${path}: GitLab's answer is not a variable`);
    return parsed.data;
  }

  /**
   * Fails before anything runs when the token has no `api` scope (a `read_api` token reads the variable
   * but cannot write it back, and the refresh token the job spends would be lost). Older GitLab without
   * this endpoint, or a token type it does not describe, is let through: then the role decides at the GET.
   */
  private async checkScopes(): Promise<void> {
    const api = await this.client();
    const res: GithubResponse<unknown> = await api.request('GET', '/personal_access_tokens/self', { accept: [401, 403, 404], deadline: this.deadline() });
    if (res.status === 401) throw this.denied(401, 'GET', '/personal_access_tokens/self', 'read');
    if (res.status !== 200) return;
    const self = TokenSelf.safeParse(res.data);
    const scopes = self.success ? (self.data.scopes ?? null) : null;
    if (scopes && !scopes.includes('api')) {
      throw new UserError(`${TOKEN} has the scopes ${scopes.map((s) => `\`${s}\``).join(', ')}, without \`api\`: it cannot write ${this.where()} back, so the refreshed auth.json would be lost. ${TOKEN_HELP}.`);
    }
  }

  /** No retry of a request sleeps past this: GitLab down for minutes fails the step rather than hang it. */
  private deadline(): number {
    return this.deps.clock.now() + REQUEST_DEADLINE_MS;
  }

  private client(): Promise<GithubApi> {
    const { inputs, log, clock } = this.deps;
    if (!inputs.gitlabToken) throw new UserError(`\`store: gitlab-variable\` needs a token: ${TOKEN_HELP}.`);
    this.api ??= createGithubApi({ apiUrl: inputs.gitlabApiUrl, token: inputs.gitlabToken, clock, log, fetch: this.edges.fetch });
    return this.api;
  }

  private denied(status: number, method: string, path: string, need: 'read' | 'write'): Error {
    if (status === 401) return new UserError(`GitLab did not accept ${TOKEN} (${method} ${path}: HTTP 401): it is unknown, expired or revoked. ${TOKEN_HELP}.`);
    if (status === 403) return new UserError(`${TOKEN} may not ${need} ${this.where()} (${method} ${path}: HTTP 403): the token's role is below Maintainer, or it is a job token. ${TOKEN_HELP}.`);
    if (status === 404) return new UserError(`GitLab answered ${method} ${path} with HTTP 404: check \`gitlab-project\` (${this.deps.inputs.gitlabProject}) and that ${TOKEN} belongs to that project.`);
    return new GithubApiError(method, path, status, '');
  }

  /** `/projects/:id`: a numeric id as it is, a path (group/sub/project) URL-encoded as one segment. */
  private projectPath(): string {
    return `/projects/${encodeURIComponent(this.deps.inputs.gitlabProject)}`;
  }

  private variablePath(variable?: Variable): string {
    const scope = variable?.environment_scope && variable.environment_scope !== '*' ? `?filter%5Benvironment_scope%5D=${encodeURIComponent(variable.environment_scope)}` : '';
    return `${this.projectPath()}/variables/${encodeURIComponent(this.deps.inputs.gitlabVariable)}${scope}`;
  }

  private where(): string {
    return `the GitLab CI/CD variable \`${this.deps.inputs.gitlabVariable}\` of project ${this.deps.inputs.gitlabProject}`;
  }
}

function messageOf(data: unknown): string {
  const message = data && typeof data === 'object' ? (data as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : '';
}

/** GitLab's 400 for a value that breaks the masking rules names the field, never the value. */
function masking(data: unknown): string {
  const message = data && typeof data === 'object' ? (data as { message?: unknown }).message : undefined;
  if (message && typeof message === 'object' && 'value' in message) return ': the value does not meet the masking rules';
  return '';
}
