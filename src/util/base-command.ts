import { Command, Errors } from '@oclif/core';
import { isKnownError } from './errors.js';
import { escapeText } from './escape.js';

/**
 * Every custody command extends this: one place maps errors to exit codes
 * (0 ok, 1 findings or failure, 2 usage or unreadable input) and prints one clear line.
 */
export abstract class BaseCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number }; code?: string }): Promise<unknown> {
    if (err.code === 'EEXIT' || err instanceof Errors.ExitError) throw err;
    if (isKnownError(err)) {
      this.logToStderr(`custody ${this.id ?? ''}: ${escapeText(err.message)}`);
      if (err.hint) this.logToStderr(`  ${err.hint}`);
      this.exit(2);
    }
    if (err instanceof Errors.CLIError) {
      // oclif's parse errors: one line, exit 2.
      this.logToStderr(`custody ${this.id ?? ''}: ${usageLine(err.message)} (see custody ${this.id ?? ''} --help)`);
      this.exit(2);
    }
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') this.exit(0);
    this.logToStderr(`custody ${this.id ?? ''}: internal error: ${escapeText(err.message)}`);
    if (process.env.DEBUG) this.logToStderr(err.stack ?? '');
    else this.logToStderr('  this is a bug in custody; run with DEBUG=1 for the stack trace');
    this.exit(1);
  }
}

/** oclif parse messages span lines ("Missing 1 required arg:\nbundle  Bundle directory"); fold them to one. */
export function usageLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('See more help'));
  if (lines.length === 0) return message;
  const named = lines.slice(1).filter((l) => /^\S+\s{2,}\S/.test(l) || /^\S+$/.test(l)).map((l) => l.split(/\s{2,}/)[0]);
  if (lines[0]!.endsWith(':') && named.length > 0) return `${lines[0]} ${named.join(', ')}`;
  return lines[0]!;
}
