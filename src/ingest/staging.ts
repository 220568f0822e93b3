import { closeSync, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { COLUMNS } from '../model/columns.js';
import { sqlPath, type Db } from '../util/duckdb.js';
import type { QuarantineRecord } from './normalize.js';

/**
 * Staging of one source's rows during an ingest run: events go to an NDJSON staging file that
 * DuckDB converts to a time-sorted Parquet part at the end; quarantine records go straight to
 * their NDJSON file. Both live inside the bundle under temporary names until sealed.
 */

/** Columns whose values are staged as decimal strings (bigint ns or u64 ids). */
/** Staged rows are bounded (fields capped at MAX_FIELD_CHARS, attrs at MAX_ATTRS_CHARS), so 32 MiB holds any row; DuckDB buffers twice this per thread. */
const STAGED_AS_TEXT = new Set(['time', 'credential_expires', 'issued_credential_expires', 'cgroup_id']);

function stagingColumns(): string {
  return `{${COLUMNS.map((c) => `${c.name}: '${c.type === 'TIMESTAMP_NS' || STAGED_AS_TEXT.has(c.name) ? 'VARCHAR' : c.type}'`).join(', ')}}`;
}

function selectList(): string {
  return COLUMNS.map((c) => {
    if (c.type === 'TIMESTAMP_NS') return `make_timestamp_ns(CAST(${c.name} AS BIGINT)) AS ${c.name}`;
    if (STAGED_AS_TEXT.has(c.name)) return `CAST(${c.name} AS ${c.type}) AS ${c.name}`;
    return c.name;
  }).join(', ');
}

/** Bytes buffered before a write: lines are encoded straight into it (no joined strings). */
const STAGING_BUFFER_BYTES = 4 << 20;

export class NdjsonFile {
  private fd: number | null;
  private readonly buf = Buffer.allocUnsafe(STAGING_BUFFER_BYTES);
  private used = 0;
  lines = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o644);
  }

  add(line: string): void {
    this.lines++;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const worst = line.length * 3 + 1;
    if (this.used + worst > this.buf.length) {
      this.flush();
      if (worst > this.buf.length) {
        if (this.fd !== null) {
          const bytes = Buffer.from(`${line}\n`);
          for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off, bytes.length - off);
        }
        return;
      }
    }
    this.used += this.buf.write(line, this.used);
    this.buf[this.used++] = 0x0a;
  }

  private flush(): void {
    if (this.fd === null || this.used === 0) return;
    // A short write (the disk filling up) is retried; the retry then reports ENOSPC.
    for (let off = 0; off < this.used; ) off += writeSync(this.fd, this.buf, off, this.used - off);
    this.used = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Rows per Parquet row group. A timeline page reads its 100 rows in full from the row groups
 * their times fall in, decoding every column of those groups: DuckDB's default (122,880) made
 * that ~0.3 s on a 1M-event bundle, 16,384 makes it ~0.15 s, for ~5 % more bytes on disk and
 * no measurable cost to the scans that build the identity graph (BENCHMARKS.md).
 */
const ROW_GROUP_ROWS = 16_384;

/**
 * Converts staged NDJSON files (one or more, from the processors of a run) into one
 * zstd-compressed Parquet file at `tmp`, streaming (no global sort: rows keep roughly their
 * input order, which for logs is time order, so row-group time statistics stay selective; the
 * timeline sorts when it reads). The staging files are removed.
 */
export async function stagedToParquet(db: Db, paths: readonly string[], tmp: string): Promise<void> {
  try {
    const list = paths.map(sqlPath).join(', ');
    // Paths are custody's own staging files inside the bundle, quoted as literals.
    await db.conn.run(
      `COPY (SELECT ${selectList()} FROM read_json([${list}], format = 'newline_delimited', columns = ${stagingColumns()}, maximum_object_size = 33554432))
       TO $1 (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
      [tmp],
    );
  } finally {
    for (const p of paths) await rm(p, { force: true });
  }
}

export class QuarantineStage {
  private file: NdjsonFile;

  constructor(readonly tmp: string) {
    this.file = new NdjsonFile(tmp);
  }

  get rows(): number {
    return this.file.lines;
  }

  add(records: readonly QuarantineRecord[]): void {
    for (const q of records) this.file.add(JSON.stringify(q));
  }

  close(): void {
    this.file.close();
  }
}
