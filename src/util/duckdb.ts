import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/**
 * One embedded DuckDB per command run, opened lazily (so `--help` never loads the engine) and
 * always closed. SQL text is built only from custody's own identifiers; every value that comes
 * from a user or from evidence is a bound parameter.
 */
export class Db {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly conn: DuckDBConnection,
  ) {}

  static async open(opts: { threads?: number; memoryLimit?: string } = {}): Promise<Db> {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const config: Record<string, string> = { enable_external_access: 'true', autoinstall_known_extensions: 'false', autoload_known_extensions: 'true' };
    if (opts.threads) config.threads = String(opts.threads);
    if (opts.memoryLimit) config.memory_limit = opts.memoryLimit;
    const instance = await DuckDBInstance.create(':memory:', config);
    const conn = await instance.connect();
    return new Db(instance, conn);
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
  }
}

/** A SQL string literal for custody's own paths (never for evidence or user filters). */
export function sqlPath(path: string): string {
  return `'${path.replace(/'/g, "''")}'`;
}
