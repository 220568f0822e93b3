import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    const config: Record<string, string> = {
      enable_external_access: 'true',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'true',
      // Bounded memory on a responder's host; spills go to the system temp dir, never the cwd.
      memory_limit: opts.memoryLimit ?? process.env.CUSTODY_DUCKDB_MEMORY ?? '2GB',
      preserve_insertion_order: 'false',
      temp_directory: join(tmpdir(), `custody-duckdb-${process.pid}`),
    };
    if (opts.threads) config.threads = String(opts.threads);
    const instance = await DuckDBInstance.create(':memory:', config);
    const conn = await instance.connect();
    return new Db(instance, conn);
  }

  /** Another connection to the same database, for work that runs beside `conn`; close it before `close()`. */
  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  close(): void {
    this.conn.closeSync();
    this.instance.closeSync();
    rmSync(join(tmpdir(), `custody-duckdb-${process.pid}`), { recursive: true, force: true });
  }
}

/** A SQL string literal for custody's own paths (never for evidence or user filters). */
export function sqlPath(path: string): string {
  return `'${path.replace(/'/g, "''")}'`;
}
