import type * as z from 'zod/mini';

/** The outcome of reading untrusted JSON: the value, or why not (not JSON at all, or JSON of another shape). */
export type JsonParse<T> = { success: true; data: T } | { success: false; notJson: true } | { success: false; notJson: false; paths: string[] };

/**
 * JSON.parse, then the schema's check: the one way src/ reads JSON it did not write itself. On a shape
 * error, `paths` names where, never the values, which may be secrets.
 */
export function parseJsonWith<T>(schema: z.ZodMiniType<T>): (text: string) => JsonParse<T> {
  return (text) => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { success: false, notJson: true };
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) return { success: true, data: parsed.data };
    return { success: false, notJson: false, paths: parsed.error.issues.map((issue) => issue.path.join('.')) };
  };
}

/** The value when `text` is JSON of the schema's shape, else null. */
export function jsonOrNull<T>(schema: z.ZodMiniType<T>, text: string): T | null {
  const parsed = parseJsonWith(schema)(text);
  return parsed.success ? parsed.data : null;
}
