/**
 * `store: github-secret` against the loopback GitHub API stand-in: the sealed box opens with libsodium (the
 * reference implementation) and the stand-in's private key; restore is the seed with the secret's
 * `updated_at` as version; compare-and-swap; permission and missing-token messages.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import sodium from 'libsodium-wrappers';
import { parseAuthFile, type AuthFile } from '../../src/auth-file.js';
import { readContext } from '../../src/context.js';
import { UserError } from '../../src/errors.js';
import type { Inputs } from '../../src/inputs.js';
import { systemClock, type Log } from '../../src/log.js';
import { GithubSecretStore, sealBox } from '../../src/stores/github-secret.js';
import { makeAuthJson, makeRefreshToken } from '../support/codex-backend.js';
import { startGithubApi, type GithubApiStandIn } from '../support/github-api.js';

const REPO = 'octo/repo';
const TOKEN = 'github_pat_secret_writer';
const quiet: Log = { info: () => undefined, warning: () => undefined, debug: () => undefined };

let api: GithubApiStandIn;
beforeEach(async () => {
  api = await startGithubApi();
});
afterEach(async () => {
  await api.stop();
});

function authFile(lastRefresh: Date): AuthFile {
  return parseAuthFile(makeAuthJson({ accountId: 'acct-secret', lastRefresh, refreshToken: makeRefreshToken() }), 'test auth.json');
}

function store(over: Partial<Inputs> = {}): GithubSecretStore {
  const ctx = readContext({ GITHUB_REPOSITORY: REPO, GITHUB_API_URL: api.url, GITHUB_RUN_ID: '1' });
  const inputs = { authJson: '', secretName: 'CODEX_AUTH_JSON', secretToken: TOKEN, secretRepository: REPO, secretEnvironment: '', ...over } as Inputs;
  return new GithubSecretStore({ ctx, inputs, log: quiet, clock: systemClock, authPath: '/unused/auth.json' });
}

const byToken = () => api.requests.filter((r) => r.token === TOKEN).map((r) => `${r.method} ${r.path} ${r.status}`);

describe('sealBox', () => {
  test('is a libsodium sealed box: it opens with the recipient key pair and nothing else', async () => {
    await sodium.ready;
    const pair = sodium.crypto_box_keypair();
    const sealed = Buffer.from(sealBox('{"auth_mode":"chatgpt"}', Buffer.from(pair.publicKey).toString('base64')), 'base64');
    expect(sealed.length).toBe(32 + 16 + '{"auth_mode":"chatgpt"}'.length);
    expect(Buffer.from(sodium.crypto_box_seal_open(sealed, pair.publicKey, pair.privateKey)).toString()).toBe('{"auth_mode":"chatgpt"}');
    const other = sodium.crypto_box_keypair();
    expect(() => sodium.crypto_box_seal_open(sealed, other.publicKey, other.privateKey)).toThrow();
    expect(() => sealBox('x', Buffer.alloc(16).toString('base64'))).toThrow(/16 bytes/);
  });
});

describe('GithubSecretStore', () => {
  test('without secret-token it fails at once, saying GITHUB_TOKEN cannot and which token to make', async () => {
    const error = await store({ secretToken: '' }).restore().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/needs `secret-token`: the workflow's GITHUB_TOKEN cannot read or write Actions secrets.*fine-grained personal access token.*"Secrets: Read and write"/);
    expect(api.requests).toEqual([]);
  });

  test('restores the seed with the secret’s updated_at as version; nothing when the secret does not exist', async () => {
    const seed = authFile(new Date('2026-01-01T00:00:00Z'));
    expect(await store({ authJson: seed.text }).restore()).toBeNull();
    api.setSecret(REPO, 'CODEX_AUTH_JSON', seed.text, { updatedAt: '2026-01-02T03:04:05Z' });
    const stored = await store({ authJson: seed.text }).restore();
    expect(stored?.version).toBe('2026-01-02T03:04:05Z');
    expect(stored?.auth.hash).toBe(seed.hash);
    await expect(store().restore()).rejects.toThrow('`auth-json: ${{ secrets.CODEX_AUTH_JSON }}`');
  });

  test('a secret rewritten after this step started is refused: the auth-json this job got is outdated', async () => {
    const seed = authFile(new Date('2026-01-01T00:00:00Z'));
    api.setSecret(REPO, 'CODEX_AUTH_JSON', seed.text, { updatedAt: '2026-01-02T03:04:05Z' });
    const ctx = readContext({ GITHUB_REPOSITORY: REPO, GITHUB_API_URL: api.url, GITHUB_RUN_ID: '1' });
    const inputs = { authJson: seed.text, secretName: 'CODEX_AUTH_JSON', secretToken: TOKEN, secretRepository: REPO, secretEnvironment: '' } as Inputs;
    const startedBefore = new GithubSecretStore({ ctx, inputs, log: quiet, clock: systemClock, authPath: '/unused' }, { stepStartedAt: Date.parse('2026-01-02T03:00:00Z') });
    await expect(startedBefore.restore()).rejects.toThrow(/rewritten at 2026-01-02T03:04:05Z, after this job received it .* re-run the job/);
    const startedAfter = new GithubSecretStore({ ctx, inputs, log: quiet, clock: systemClock, authPath: '/unused' }, { stepStartedAt: Date.parse('2026-01-02T04:00:00Z') });
    expect((await startedAfter.restore())?.version).toBe('2026-01-02T03:04:05Z');
  });

  test('persist seals the file with the repository key; the stand-in opens it; a new secret is created', async () => {
    const next = authFile(new Date());
    expect(await store().persist(next, null)).toBe('written');
    const secret = api.secret(REPO, 'CODEX_AUTH_JSON');
    expect(secret?.value).toBe(next.text);
    expect(secret?.keyId).toBe(api.publicKey(REPO).keyId);
    expect(secret?.encryptedValue).not.toContain(next.text.slice(0, 20));
    expect(byToken()).toEqual([
      'GET /repos/octo/repo/actions/secrets/CODEX_AUTH_JSON 404',
      'GET /repos/octo/repo/actions/secrets/public-key 200',
      'PUT /repos/octo/repo/actions/secrets/CODEX_AUTH_JSON 201',
    ]);
  });

  test('a round trip: restore, then persist over the same version updates the secret (204)', async () => {
    const seed = authFile(new Date('2026-01-01T00:00:00Z'));
    api.setSecret(REPO, 'CODEX_AUTH_JSON', seed.text, { updatedAt: '2026-01-02T03:04:05Z' });
    const s = store({ authJson: seed.text });
    const stored = await s.restore();
    const next = authFile(new Date());
    expect(await s.persist(next, stored?.version ?? null)).toBe('written');
    expect(api.secret(REPO, 'CODEX_AUTH_JSON')?.value).toBe(next.text);
    expect(byToken().at(-1)).toBe('PUT /repos/octo/repo/actions/secrets/CODEX_AUTH_JSON 204');
  });

  test('an environment secret is sealed with the environment key and written there', async () => {
    const next = authFile(new Date());
    await store({ secretEnvironment: 'prod', secretRepository: 'octo/other' }).persist(next, null);
    expect(api.secret('octo/other', 'CODEX_AUTH_JSON', 'prod')?.value).toBe(next.text);
    expect(api.secret('octo/other', 'CODEX_AUTH_JSON')).toBeUndefined();
    expect(byToken().at(-1)).toBe('PUT /repos/octo/other/environments/prod/secrets/CODEX_AUTH_JSON 201');
  });

  test('a secret rewritten since restore is not overwritten (compare-and-swap), and post is told why', async () => {
    const seed = authFile(new Date('2026-01-01T00:00:00Z'));
    api.setSecret(REPO, 'CODEX_AUTH_JSON', seed.text, { updatedAt: '2026-01-02T03:04:05Z' });
    const s = store({ authJson: seed.text });
    const stored = await s.restore();
    api.setSecret(REPO, 'CODEX_AUTH_JSON', 'written by someone else', { updatedAt: '2026-01-02T03:09:00Z' });
    const error = await s.persist(authFile(new Date()), stored?.version ?? null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain('was rewritten at 2026-01-02T03:09:00Z after this job read it (as of 2026-01-02T03:04:05Z)');
    expect(api.secret(REPO, 'CODEX_AUTH_JSON')?.value).toBe('written by someone else');
    expect(byToken().some((r) => r.startsWith('PUT'))).toBe(false);
  });

  test('a token that may read but not write secrets, or cannot see the repository, gets the permission named', async () => {
    api.grant(TOKEN, { secrets: 'read' });
    await expect(store().persist(authFile(new Date()), null)).rejects.toThrow(
      /`secret-token` may not write the secret `CODEX_AUTH_JSON` of octo\/repo \(PUT \/repos\/octo\/repo\/actions\/secrets\/CODEX_AUTH_JSON: HTTP 403\)\. Give it access to octo\/repo with the repository permission "Secrets: Read and write"/,
    );
    api.grant(TOKEN, { secrets: 'none', denyAs: 404 });
    await expect(store({ secretEnvironment: 'prod' }).restore()).rejects.toThrow(/may not read the secret `CODEX_AUTH_JSON` of octo\/repo \(environment `prod`\) .*HTTP 404.*"Environments: Read-only/);
  });
});
