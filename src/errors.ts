/** An error the user can fix: its message is shown as it is, without a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
}

/** Errors from another realm (a VM context, a worker) fail `instanceof Error`: recognise them by shape. */
function isErrorLike(value: unknown): value is { message: string; cause?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** The message of anything thrown, with the chain of causes a lower layer attached. */
export function errorMessage(error: unknown): string {
  if (!isErrorLike(error)) return String(error);
  const cause = error.cause;
  if (cause === undefined || error.message.includes(errorMessage(cause))) return error.message;
  return `${error.message}: ${errorMessage(cause)}`;
}

/**
 * The stack trace of an unexpected error (not a UserError), for `core.debug` at the entry points: a user
 * error is shown as its message alone, a bug keeps where it happened (with its causes') for the report.
 */
export function stackOf(error: unknown): string | null {
  if (error instanceof UserError || !isErrorLike(error)) return null;
  const stacks: string[] = [];
  for (let e: unknown = error; isErrorLike(e) && stacks.length < 5; e = e.cause) {
    const stack = (e as { stack?: unknown }).stack;
    if (typeof stack === 'string') stacks.push(stacks.length ? `Caused by: ${stack}` : stack);
  }
  return stacks.length ? stacks.join('\n') : null;
}
