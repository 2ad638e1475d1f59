// Fake ChatGPT-managed auth.json files for the demo and the benchmark (tests use __tests__/support).
import { randomBytes } from 'node:crypto';

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function fakeJwt(claims) {
  return `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(claims)}.${randomBytes(32).toString('base64url')}`;
}

export function fakeAuthJson({ accountId = 'acct-demo', email = 'demo@example.com', lastRefresh = new Date(), accessExp = null } = {}) {
  const auth = { chatgpt_plan_type: 'business', chatgpt_account_id: accountId, chatgpt_user_id: 'user-demo' };
  const exp = accessExp ? { exp: Math.floor(accessExp.getTime() / 1000) } : {};
  return JSON.stringify(
    {
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: {
        id_token: fakeJwt({ email, 'https://api.openai.com/auth': auth }),
        access_token: fakeJwt({ ...exp, 'https://api.openai.com/auth': auth }),
        refresh_token: `rt_${randomBytes(24).toString('hex')}`,
        account_id: accountId,
      },
      last_refresh: lastRefresh.toISOString(),
    },
    null,
    2,
  );
}
