/**
 * `store: gitlab-variable` against the loopback GitLab variables API stand-in: restore reads the current
 * value (base64 or raw JSON), persist writes base64 on one line and keeps the variable's flags, the newer
 * file wins a compare-and-swap, and every refusal names CODEX_AUTH_GITLAB_TOKEN and what to do. The stand-in
 * itself is held to GitLab's documented answers first.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { parseAuthFile, type AuthFile } from '../../src/auth-file.js';
import { UserError } from '../../src/errors.js';
import type { Inputs } from '../../src/inputs.js';
import { systemClock } from '../../src/log.js';
import { GitlabVariableStore } from '../../src/stores/gitlab-variable.js';
import { authText, DAY, recordingLog, runContext, T0 } from '../support/fixtures.js';
import { startGitlabApi, type GitlabApiStandIn } from '../support/gitlab-api.js';

const PROJECT = 42;
const MAINTAINER = 'glpat-maintainer-token-0001';
const DEVELOPER = 'glpat-developer-token-0002';
const READ_ONLY = 'glpat-readapi-token-0003';
const JOB = 'glcbt-job-token-0004';

let api: GitlabApiStandIn;
beforeEach(async () => {
  api = await startGitlabApi();
  api.addProject(PROJECT, 'group/sub/project');
  api.addToken(MAINTAINER, { role: 'maintainer' });
  api.addToken(DEVELOPER, { role: 'developer' });
  api.addToken(READ_ONLY, { role: 'maintainer', scopes: ['read_api'] });
  api.addJobToken(JOB, PROJECT);
});
afterEach(async () => {
  await api.stop();
});

const b64 = (text: string) => Buffer.from(text).toString('base64');
const file = (lastRefresh: number): AuthFile => parseAuthFile(authText({ lastRefresh: new Date(lastRefresh) }), 'test auth.json');

function store(over: Partial<Inputs> = {}, log = recordingLog()): GitlabVariableStore {
  const inputs = { gitlabVariable: 'CODEX_AUTH_JSON', gitlabProject: String(PROJECT), gitlabApiUrl: api.apiUrl, gitlabToken: MAINTAINER, ...over } as Inputs;
  return new GitlabVariableStore({ ctx: runContext(), inputs, log, clock: systemClock, authPath: '/unused/auth.json' });
}

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${api.apiUrl}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

describe('the GitLab variables API stand-in', () => {
  test('answers as GitLab documents: 401, 403 for a Developer and for JOB-TOKEN, 404, 400 for a value masking refuses, PUT keeps the flags', async () => {
    api.setVariable(PROJECT, { key: 'V', value: 'abcdefgh12', masked: true, protected: true });
    expect(await call('GET', `/projects/${PROJECT}/variables/V`)).toEqual({ status: 401, json: { message: '401 Unauthorized' } });
    expect((await call('GET', `/projects/${PROJECT}/variables/V`, { 'PRIVATE-TOKEN': 'glpat-unknown' })).status).toBe(401);
    expect(await call('GET', `/projects/${PROJECT}/variables/V`, { 'PRIVATE-TOKEN': DEVELOPER })).toEqual({ status: 403, json: { message: '403 Forbidden' } });
    expect(await call('GET', `/projects/${PROJECT}/variables/V`, { 'JOB-TOKEN': JOB })).toEqual({ status: 403, json: { message: '403 Forbidden' } });
    expect(await call('GET', `/projects/${PROJECT}/variables/NOPE`, { 'PRIVATE-TOKEN': MAINTAINER })).toEqual({ status: 404, json: { message: '404 Variable Not Found' } });
    expect(await call('GET', '/projects/999/variables/V', { 'PRIVATE-TOKEN': MAINTAINER })).toEqual({ status: 404, json: { message: '404 Project Not Found' } });
    expect(await call('PUT', `/projects/${PROJECT}/variables/V`, { 'PRIVATE-TOKEN': MAINTAINER }, { value: 'has a space' })).toEqual({ status: 400, json: { message: { value: ['is invalid'] } } });
    expect((await call('PUT', `/projects/${PROJECT}/variables/V`, { 'PRIVATE-TOKEN': READ_ONLY }, { value: 'abcdefgh34' })).status).toBe(403);
    const put = await call('PUT', `/projects/group%2Fsub%2Fproject/variables/V`, { authorization: `Bearer ${MAINTAINER}` }, { value: 'abcdefgh56' });
    expect(put).toMatchObject({ status: 200, json: { key: 'V', value: 'abcdefgh56', masked: true, protected: true } });
    expect(api.variable(PROJECT, 'V')).toMatchObject({ value: 'abcdefgh56', masked: true, protected: true });
  });
});

describe('GitlabVariableStore', () => {
  test('restore reads the current value through the API, base64 or raw JSON; a missing variable is none stored', async () => {
    const log = recordingLog();
    expect(await store({}, log).restore()).toBeNull();
    expect(log.text()).toContain('does not exist yet');
    const text = authText({ lastRefresh: new Date(T0) });
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(text), masked: true });
    const stored = await store().restore();
    expect(stored?.auth.text).toBe(text);
    expect(stored?.version).toBe(stored?.auth.hash);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: text });
    expect((await store({ gitlabProject: 'group/sub/project' }).restore())?.auth.text).toBe(text);
    expect(api.requests.map((r) => `${r.method} ${r.path} ${r.auth} ${r.status}`)).toContain('GET /api/v4/projects/group%2Fsub%2Fproject/variables/CODEX_AUTH_JSON bearer 200');
  });

  test('persist PUTs base64 on one line and keeps masked and protected', async () => {
    const old = file(T0);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(old.text), masked: true, protected: true });
    const next = file(T0 + DAY);
    expect(await store().persist(next, old.hash)).toBe('written');
    const variable = api.variable(PROJECT, 'CODEX_AUTH_JSON');
    expect(variable).toMatchObject({ value: b64(next.text), masked: true, protected: true });
    expect(variable?.value).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  test('persist creates a missing variable, masked', async () => {
    const next = file(T0);
    expect(await store().persist(next, null)).toBe('written');
    expect(api.variable(PROJECT, 'CODEX_AUTH_JSON')).toMatchObject({ value: b64(next.text), masked: true, protected: false });
  });

  test('compare-and-swap: a variable rewritten meanwhile with a newer file is kept; an older one is overwritten', async () => {
    const base = file(T0);
    const newer = file(T0 + 2 * DAY);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(newer.text), masked: true });
    const mine = file(T0 + DAY);
    const result = await store().persist(mine, base.hash);
    expect(result).toEqual({ conflict: expect.objectContaining({ version: newer.hash }) });
    expect(api.variable(PROJECT, 'CODEX_AUTH_JSON')?.value).toBe(b64(newer.text));
    const older = file(T0 - DAY);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: b64(older.text), masked: true });
    expect(await store().persist(mine, base.hash)).toBe('written');
    expect(api.variable(PROJECT, 'CODEX_AUTH_JSON')?.value).toBe(b64(mine.text));
    expect(await store().persist(mine, base.hash)).toBe('unchanged');
  });

  test.each([
    ['an unknown token', 'glpat-nobody', /GitLab did not accept CODEX_AUTH_GITLAB_TOKEN \(GET \/personal_access_tokens\/self: HTTP 401\).*Maintainer role and the `api` scope.*CI_JOB_TOKEN cannot read or write CI\/CD variables/],
    ['a Developer token', DEVELOPER, /CODEX_AUTH_GITLAB_TOKEN may not read the GitLab CI\/CD variable `CODEX_AUTH_JSON` of project 42 \(GET \/projects\/42\/variables\/CODEX_AUTH_JSON: HTTP 403\).*below Maintainer.*CI_JOB_TOKEN cannot/],
    ['a read_api token', READ_ONLY, /CODEX_AUTH_GITLAB_TOKEN has the scopes `read_api`, without `api`: it cannot write .* back/],
  ])('restore with %s fails with a message that names the token and the fix', async (_, token, message) => {
    const error = await store({ gitlabToken: token }).restore().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
  });

  test('a project the token cannot see, a hidden variable and a key in several environment scopes are clear errors', async () => {
    await expect(store({ gitlabProject: '999' }).restore()).rejects.toThrow(/HTTP 404 \(404 Project Not Found\): check `gitlab-project` \(999\)/);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: 'x', hidden: true, masked: true });
    await expect(store().restore()).rejects.toThrow(/is hidden, and GitLab never returns a hidden variable's value/);
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: 'short', masked: false });
    api.setVariable(PROJECT, { key: 'CODEX_AUTH_JSON', value: 'short', masked: false, environment_scope: 'production' });
    await expect(store().restore()).rejects.toThrow(/exists in several environment scopes/);
  });

  test('no token: fails before any request', async () => {
    await expect(store({ gitlabToken: '' }).restore()).rejects.toThrow(/needs a token: CODEX_AUTH_GITLAB_TOKEN must be a project access token/);
    expect(api.requests).toEqual([]);
  });
});
