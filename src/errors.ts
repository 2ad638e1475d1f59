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
