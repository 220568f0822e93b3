/**
 * custody's error taxonomy. One place (src/commands/base.ts) maps these to exit codes:
 * 0 ok, 1 findings or failure, 2 usage or unreadable input (DESIGN.md, "Bad input").
 */

/** The user asked for something that cannot work as asked. Exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** An input (bundle, rule file, evidence file) cannot be read or is not what it claims. Exit 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** The machine lacks something custody needs (root, BTF, the native addon). Exit 2. */
export class EnvironmentError extends Error {
  override readonly name = 'EnvironmentError';
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export type KnownError = UsageError | InputError | EnvironmentError;

export function isKnownError(err: unknown): err is KnownError {
  return err instanceof UsageError || err instanceof InputError || err instanceof EnvironmentError;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
