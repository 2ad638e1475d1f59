import { promises as fs } from 'node:fs';
import * as z from 'zod/mini';
import type { RunContext } from './context.js';
import { UserError } from './errors.js';
import { jsonOrNull } from './json.js';

const PullRequestEvent = z.looseObject({
  pull_request: z.optional(
    z.looseObject({
      head: z.looseObject({ repo: z.nullable(z.looseObject({ full_name: z.string() })) }),
      base: z.looseObject({ repo: z.looseObject({ full_name: z.string() }) }),
    }),
  ),
});

const OPT_IN = 'Set `allow-untrusted: true` on the codex-auth step only if you accept that risk.';

/**
 * DESIGN §3.6: a live Codex login must not be handed to code from a fork. Refuses `pull_request_target`
 * (it runs with secrets in reach of the pull request) and `pull_request` whose head is another repository.
 */
export async function assertTrusted(ctx: RunContext, allowUntrusted: boolean): Promise<void> {
  if (allowUntrusted) return;
  if (ctx.eventName === 'pull_request_target') {
    throw new UserError(`Refusing to run on a 'pull_request_target' event: it runs with this repository's secrets while pull request code may be in reach, which would hand it a live Codex login. ${OPT_IN}`);
  }
  if (ctx.eventName !== 'pull_request' && ctx.eventName !== 'pull_request_review' && ctx.eventName !== 'pull_request_review_comment') return;
  const text = ctx.eventPath ? await fs.readFile(ctx.eventPath, 'utf8').catch(() => '') : '';
  const event = jsonOrNull(PullRequestEvent, text);
  const pr = event?.pull_request;
  if (!pr) throw new UserError(`Refusing to run on a '${ctx.eventName}' event whose payload does not say where the pull request comes from. ${OPT_IN}`);
  const head = pr.head.repo?.full_name ?? '(deleted repository)';
  if (head !== pr.base.repo.full_name) {
    throw new UserError(`Refusing to run on a pull request from the fork ${head}: this would hand the fork's code a live Codex login. ${OPT_IN}`);
  }
}
