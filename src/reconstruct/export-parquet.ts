import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { COLUMNS } from '../model/columns.js';
import { parseTimeNs } from '../model/time.js';
import { Db, sqlPath } from '../util/duckdb.js';
import { InputError } from '../util/errors.js';
import { fsyncFile } from '../util/fsx.js';
import type { TimelineQuery, TimelineRow } from './timeline.js';

/**
 * The linked timeline as one Parquet file, written by DuckDB, for DuckDB, pandas or Spark: the
 * model's columns with their model types (BIGINT ids, VARCHAR[] argv, attrs as JSON text; times
 * as UTC timestamps with microseconds, which every Parquet reader understands), then
 *   links           LIST(STRUCT(rule VARCHAR, confidence VARCHAR, event_id VARCHAR))
 *   identity_chain  LIST(STRUCT(id VARCHAR, type VARCHAR, via VARCHAR, event_id VARCHAR, confidence VARCHAR))
 *   bundle          VARCHAR
 *   time_ns         BIGINT (the row's time in nanoseconds since the epoch, exact)
 * in time order, Snappy-compressed (the codec every Parquet reader has). Rows stream through a
 * staging NDJSON file (never all in memory); the Parquet file is written under a temporary name,
 * fsynced and renamed, so a reader never sees half a file.
 */

export const LINKS_TYPE = 'STRUCT(rule VARCHAR, confidence VARCHAR, event_id VARCHAR)[]';
export const CHAIN_TYPE = 'STRUCT(id VARCHAR, type VARCHAR, via VARCHAR, event_id VARCHAR, confidence VARCHAR)[]';

/** The staging line of a row: times as ns integers in strings, numbers as text, lists as JSON. */
function stagingLine(row: TimelineRow, n: number): string {
  const o: Record<string, unknown> = { _n: n };
  for (const c of COLUMNS) {
    const v = row[c.name];
    if (v === null || v === undefined) o[c.name] = null;
    else if (c.type === 'TIMESTAMP_NS') o[c.name] = String(parseTimeNs(v as string));
    else if (c.name === 'attrs') o[c.name] = JSON.stringify(v);
    else if (c.type === 'VARCHAR[]') o[c.name] = v;
    else o[c.name] = typeof v === 'string' ? v : String(v);
  }
  o.links = row.links.map((l) => ({ rule: l.rule, confidence: l.confidence, event_id: l.event_id }));
  o.identity_chain = row.identity_chain.map((c) => ({ id: c.id, type: c.type, via: c.via, event_id: c.event_id ?? null, confidence: c.confidence ?? null }));
  o.bundle = row.bundle;
  return `${JSON.stringify(o)}\n`;
}

export async function writeTimelineParquet(query: TimelineQuery, file: string, opts: { limit?: number } = {}): Promise<number> {
  const limit = opts.limit ?? Infinity;
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(tmpdir(), `custody-export-${tag}.ndjson`);
  const tmp = join(dirname(file), `.custody-export-${tag}.parquet.tmp`);
  let n = 0;
  try {
    const out = createWriteStream(staging);
    for await (const batch of query.rows(2048, limit)) {
      for (const row of batch) {
        if (n >= limit) break;
        if (!out.write(stagingLine(row, n++))) await once(out, 'drain');
      }
      if (n >= limit) break;
    }
    out.end();
    await once(out, 'finish');

    const db = await Db.open();
    try {
      const stagingCols = [
        `_n: 'BIGINT'`,
        ...COLUMNS.map((c) => `${c.name}: '${c.type === 'VARCHAR[]' ? 'VARCHAR[]' : 'VARCHAR'}'`),
        `links: '${LINKS_TYPE}'`,
        `identity_chain: '${CHAIN_TYPE}'`,
        `bundle: 'VARCHAR'`,
      ].join(', ');
      const select = COLUMNS.map((c) => {
        // Spark (through 3.5) cannot read Parquet TIMESTAMP(NANOS): times are UTC microsecond
        // timestamps (isAdjustedToUTC), and time_ns keeps the row's exact nanoseconds.
        if (c.type === 'TIMESTAMP_NS') return `CAST(make_timestamp(CAST(${c.name} AS BIGINT) // 1000) AS TIMESTAMPTZ) AS ${c.name}`;
        if (c.type === 'VARCHAR' || c.type === 'VARCHAR[]') return c.name;
        return `CAST(${c.name} AS ${c.type}) AS ${c.name}`;
      }).join(', ');
      // Only custody's own generated paths reach this SQL text, as quoted literals.
      const source = n === 0 ? `(SELECT * FROM read_json(${sqlPath(staging)}, columns = {${stagingCols}}, format = 'newline_delimited') WHERE false)` : `read_json(${sqlPath(staging)}, columns = {${stagingCols}}, format = 'newline_delimited', maximum_object_size = 268435456)`;
      await db.conn.run("SET TimeZone = 'UTC'");
      await db.conn.run(`COPY (SELECT ${select}, links, identity_chain, bundle, CAST(time AS BIGINT) AS time_ns FROM ${source} ORDER BY _n) TO ${sqlPath(tmp)} (FORMAT parquet, COMPRESSION snappy)`);
    } finally {
      db.close();
    }
    await fsyncFile(tmp);
    try {
      await rename(tmp, file);
    } catch (err) {
      throw new InputError(`${file}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return n;
  } finally {
    await rm(staging, { force: true });
    await rm(tmp, { force: true });
  }
}
