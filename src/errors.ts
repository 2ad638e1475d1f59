/** An error the user can fix: its message is shown as it is, without a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
}

/** The message of anything thrown, with the chain of causes a lower layer attached. */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause === undefined || error.message.includes(errorMessage(cause))) return error.message;
  return `${error.message}: ${errorMessage(cause)}`;
}

/** Adds context to a lower layer's error and keeps it as `cause`. */
export function withContext(context: string, error: unknown): Error {
  const wrapped = error instanceof UserError ? new UserError(context, { cause: error }) : new Error(context, { cause: error });
  return wrapped;
}
