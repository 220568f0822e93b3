import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readManifest, type Manifest } from '../bundle/index.js';
import { COLUMNS } from '../model/columns.js';
import { InputError } from '../util/errors.js';
import { sqlPath, type Db } from '../util/duckdb.js';

export interface LoadedBundle {
  /** The bundle directory as the user named it. */
  dir: string;
  abs: string;
  manifest: Manifest;
  /** Absolute paths of the event files that loaded. */
  parts: string[];
}

export interface LoadResult {
  bundles: LoadedBundle[];
  /** Files that could not be loaded, by name, with the reason; the others still load. */
  warnings: string[];
}

/**
 * Registers the event files of one or more bundles as the DuckDB view `events` (plus the
 * file each row came from). Paths come from validated manifests only. A missing, truncated or
 * corrupt Parquet file is reported by name and left out; the rest load. Hashes are not checked
 * here (that is `custody verify`), only presence, size and a readable Parquet footer.
 */
export async function loadBundles(db: Db, dirs: readonly string[]): Promise<LoadResult> {
  if (dirs.length === 0) throw new InputError('no bundle named');
  const bundles: LoadedBundle[] = [];
  const warnings: string[] = [];
  for (const dir of dirs) {
    const manifest = await readManifest(dir);
    const abs = resolve(dir);
    const parts: string[] = [];
    for (const e of manifest.entries) {
      if (e.kind !== 'events' && e.kind !== 'kernel' && e.kind !== 'gaps') continue;
      const file = join(abs, e.path);
      try {
        const st = await stat(file);
        if (st.size !== e.size) {
          warnings.push(`${join(dir, e.path)}: size ${st.size}, manifest says ${e.size}; left out (run custody verify)`);
          continue;
        }
        await db.conn.run('SELECT count(*) FROM parquet_metadata($1)', [file]);
        parts.push(file);
      } catch (err) {
        const msg = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not readable as Parquet (${firstLine((err as Error).message)})`;
        warnings.push(`${join(dir, e.path)}: ${msg}; left out`);
      }
    }
    bundles.push({ dir, abs, manifest, parts });
  }
  const all = bundles.flatMap((b) => b.parts);
  if (all.length === 0) {
    const cols = COLUMNS.map((c) => `CAST(NULL AS ${c.type}) AS ${c.name}`).join(', ');
    await db.conn.run(`CREATE OR REPLACE VIEW events AS SELECT ${cols}, CAST(NULL AS VARCHAR) AS filename WHERE false`);
  } else {
    // Only custody's own, manifest-validated paths reach this SQL text, quoted as literals.
    const list = all.map(sqlPath).join(', ');
    const cols = COLUMNS.map((c) => c.name).join(', ');
    await db.conn.run(`CREATE OR REPLACE VIEW events AS SELECT ${cols}, filename FROM read_parquet([${list}], union_by_name = true, filename = true)`);
  }
  return { bundles, warnings };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 200);
}
