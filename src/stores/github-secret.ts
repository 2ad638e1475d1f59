import blake from 'blakejs';
import nacl from 'tweetnacl';
import { parseAuthFile, type AuthFile } from '../auth-file.js';
import { UserError } from '../errors.js';
import { createGithubApi, GithubApiError, repoPath, type FetchLike, type GithubApi, type GithubResponse } from '../github.js';
import type { PersistResult, Store, StoreDeps, Stored } from './store.js';

/**
 * `store: github-secret`: post writes the refreshed auth.json back to the Actions secret `secret-name` (of
 * `secret-repository`, or of its environment `secret-environment`), sealed with that scope's public key.
 *
 * Secrets are write-only: no API returns a value. What the secret held when the job started is what the
 * runner passed in `auth-json`, so restore returns that, with the secret's `updated_at` as its version
 * (a secret that does not exist yet restores as nothing: the seed). Persist compares `updated_at` again
 * before it writes (compare-and-swap, to the second, as GitHub keeps it): a secret rewritten meanwhile
 * (a run without the lock, or by hand) is not overwritten — and, as its value cannot be read, post fails
 * and says so, rather than pretend to know which copy is newer.
 *
 * Both steps use `secret-token` (GITHUB_TOKEN cannot read or write secrets), so a token that cannot do
 * this fails main before Codex spends a refresh token that could then not be kept.
 */
export class GithubSecretStore implements Store {
  readonly kind = 'github-secret' as const;
  readonly inPlace = false;
  private api: Promise<GithubApi> | null = null;
  private key: Promise<GithubResponse<{ key_id?: unknown; key?: unknown } | null>> | null = null;

  constructor(
    private readonly deps: StoreDeps,
    private readonly edges: { fetch?: FetchLike; stepStartedAt?: number } = {},
  ) {}

  /** When this step's process started: the job got its secrets no later than that. */
  private get stepStartedAt(): number {
    return this.edges.stepStartedAt ?? Math.floor(performance.timeOrigin);
  }

  async restore(): Promise<Stored | null> {
    const updatedAt = await this.updatedAt();
    if (updatedAt === null) return null;
    if (!this.deps.inputs.authJson) {
      throw new UserError(
        `\`store: github-secret\` restores from \`auth-json\`, but it is empty while ${this.where()} exists. Pass it in: \`auth-json: \${{ secrets.${this.deps.inputs.secretName} }}\`${this.deps.inputs.secretEnvironment ? ` (the job needs \`environment: ${this.deps.inputs.secretEnvironment}\`)` : ''}.`,
      );
    }
    const auth = parseAuthFile(this.deps.inputs.authJson, `Input \`auth-json\` (${this.where()})`);
    // GitHub resolves `${{ secrets.X }}` when the job starts. A secret rewritten since (by a run that held
    // the lock while this one waited) is newer than the `auth-json` this job got: its refresh token is spent.
    if (Date.parse(updatedAt) > this.stepStartedAt) {
      throw new UserError(
        `${this.where()} was rewritten at ${updatedAt}, after this job received it as \`auth-json\` (another run refreshed it meanwhile). This job's copy is outdated, and its refresh token already spent: re-run the job to get the current secret.`,
      );
    }
    return { auth, version: updatedAt };
  }

  async persist(next: AuthFile, baseVersion: string | null): Promise<PersistResult> {
    const now = await this.updatedAt();
    if (now !== baseVersion) {
      throw new UserError(
        `${this.where()} was ${now === null ? 'deleted' : `rewritten at ${now}`} after this job read it${baseVersion ? ` (as of ${baseVersion})` : ' (it did not exist then)'}: another run wrote it without holding the lock, or someone set it by hand. It was not overwritten, and this job's refreshed auth.json is dropped. If the secret's copy is older than this run's, sign in again and seed it anew.`,
      );
    }
    const api = await this.client();
    const key = await this.publicKey(api);
    if (key.status !== 200) throw this.denied(key.status, 'GET', this.keyPath(), 'read');
    if (typeof key.data?.key_id !== 'string' || typeof key.data.key !== 'string') throw new Error(`GET ${this.keyPath()}: no key in the answer`);
    const path = this.secretPath();
    const put = await api.request('PUT', path, { body: { encrypted_value: sealBox(next.text, key.data.key), key_id: key.data.key_id }, accept: [403, 404] });
    if (put.status !== 201 && put.status !== 204) throw this.denied(put.status, 'PUT', path, 'write');
    return 'written';
  }

  /** The secret's `updated_at`, or null when it does not exist. */
  private async updatedAt(): Promise<string | null> {
    const api = await this.client();
    const path = this.secretPath();
    const res = await api.request<{ updated_at?: unknown }>('GET', path, { accept: [403, 404] });
    if (res.status === 404 && !(await this.scopeVisible(api))) throw this.denied(404, 'GET', path, 'read');
    if (res.status === 403) throw this.denied(403, 'GET', path, 'read');
    if (res.status === 404) return null;
    return typeof res.data?.updated_at === 'string' ? res.data.updated_at : '';
  }

  /** A missing secret and a token that cannot see the repository both answer 404: the public key tells them apart. */
  private async scopeVisible(api: GithubApi): Promise<boolean> {
    return (await this.publicKey(api)).status === 200;
  }

  /** The scope's public key, asked for once. */
  private publicKey(api: GithubApi): Promise<GithubResponse<{ key_id?: unknown; key?: unknown } | null>> {
    this.key ??= api.request('GET', this.keyPath(), { accept: [403, 404] });
    return this.key;
  }

  private keyPath(): string {
    return `${this.scope()}/secrets/public-key`;
  }

  private client(): Promise<GithubApi> {
    const { inputs, log, clock, ctx } = this.deps;
    if (!inputs.secretToken) {
      throw new UserError(
        `\`store: github-secret\` needs \`secret-token\`: the workflow's GITHUB_TOKEN cannot read or write Actions secrets. Create a fine-grained personal access token (or a GitHub App token) for ${inputs.secretRepository} with the repository permission ${this.permission('write')}, store it as a secret, and pass it as \`secret-token\`.`,
      );
    }
    this.api ??= createGithubApi({ apiUrl: ctx.apiUrl, token: inputs.secretToken, clock, log, fetch: this.edges.fetch });
    return this.api;
  }

  private denied(status: number, method: string, path: string, need: 'read' | 'write'): Error {
    if (status !== 403 && status !== 404) return new GithubApiError(method, path, status, '');
    return new UserError(
      `\`secret-token\` may not ${need} ${this.where()} (${method} ${path}: HTTP ${status}). Give it access to ${this.deps.inputs.secretRepository} with the repository permission ${this.permission(need)}.`,
    );
  }

  private permission(need: 'read' | 'write'): string {
    const level = need === 'write' ? 'Read and write' : 'Read-only (Read and write to persist)';
    return this.deps.inputs.secretEnvironment ? `"Environments: ${level}"` : `"Secrets: ${level}"`;
  }

  private scope(): string {
    const { secretRepository, secretEnvironment } = this.deps.inputs;
    const repo = repoPath(secretRepository);
    return secretEnvironment ? `${repo}/environments/${encodeURIComponent(secretEnvironment)}` : `${repo}/actions`;
  }

  private secretPath(): string {
    return `${this.scope()}/secrets/${encodeURIComponent(this.deps.inputs.secretName)}`;
  }

  private where(): string {
    const { secretName, secretRepository, secretEnvironment } = this.deps.inputs;
    return `the secret \`${secretName}\` of ${secretRepository}${secretEnvironment ? ` (environment \`${secretEnvironment}\`)` : ''}`;
  }
}

/**
 * libsodium's `crypto_box_seal`, which GitHub requires for secret values: an ephemeral X25519 key pair,
 * nonce = BLAKE2b-192(ephemeral public key ‖ recipient public key), then crypto_box (XSalsa20-Poly1305);
 * the output is the ephemeral public key followed by the box, base64.
 */
export function sealBox(plaintext: string, recipientKeyBase64: string): string {
  const recipient = new Uint8Array(Buffer.from(recipientKeyBase64, 'base64'));
  if (recipient.length !== nacl.box.publicKeyLength) throw new Error(`The secrets public key is ${recipient.length} bytes, not ${nacl.box.publicKeyLength}`);
  const ephemeral = nacl.box.keyPair();
  const nonceInput = new Uint8Array(ephemeral.publicKey.length + recipient.length);
  nonceInput.set(ephemeral.publicKey);
  nonceInput.set(recipient, ephemeral.publicKey.length);
  const nonce = blake.blake2b(nonceInput, undefined, nacl.box.nonceLength);
  const box = nacl.box(new Uint8Array(Buffer.from(plaintext, 'utf8')), nonce, recipient, ephemeral.secretKey);
  ephemeral.secretKey.fill(0);
  return Buffer.concat([ephemeral.publicKey, box]).toString('base64');
}
