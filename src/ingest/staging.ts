import { closeSync, openSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { COLUMNS } from '../model/columns.js';
import { formatTimeNs } from '../model/time.js';
import type { Db } from '../util/duckdb.js';
import type { BatchOutput, QuarantineRecord } from './normalize.js';

/**
 * Staging of one source's rows during an ingest run: events go to an NDJSON staging file that
 * DuckDB converts to a time-sorted Parquet part at the end; quarantine records go straight to
 * their NDJSON file. Both live inside the bundle under temporary names until sealed.
 */

/** Columns whose values are staged as decimal strings (bigint ns or u64 ids). */
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

export class NdjsonFile {
  private fd: number | null;
  private pending: string[] = [];
  private pendingChars = 0;
  lines = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w', 0o644);
  }

  add(line: string): void {
    this.pending.push(line);
    this.pendingChars += line.length;
    this.lines++;
    if (this.pendingChars > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    writeSync(this.fd, `${this.pending.join('\n')}\n`);
    this.pending = [];
    this.pendingChars = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

export interface SealedPart {
  tmp: string;
  rows: number;
  start: string | null;
  end: string | null;
}

export class EventStage {
  private file: NdjsonFile;
  private minTime: bigint | null = null;
  private maxTime: bigint | null = null;

  constructor(private readonly stagingPath: string) {
    this.file = new NdjsonFile(stagingPath);
  }

  get rows(): number {
    return this.file.lines;
  }

  add(out: BatchOutput): void {
    for (const r of out.rows) this.file.add(r);
    if (out.minTime !== null && (this.minTime === null || out.minTime < this.minTime)) this.minTime = out.minTime;
    if (out.maxTime !== null && (this.maxTime === null || out.maxTime > this.maxTime)) this.maxTime = out.maxTime;
  }

  /** Converts the staged rows to a time-sorted, zstd-compressed Parquet file at `tmp`. */
  async toParquet(db: Db, tmp: string): Promise<SealedPart> {
    this.file.close();
    try {
      await db.conn.run(
        `COPY (SELECT ${selectList()} FROM read_json($1, format = 'newline_delimited', columns = ${stagingColumns()}, maximum_object_size = 1073741824) ORDER BY time, event_id)
         TO $2 (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
        [this.stagingPath, tmp],
      );
    } finally {
      await rm(this.stagingPath, { force: true });
    }
    return {
      tmp,
      rows: this.file.lines,
      start: this.minTime === null ? null : formatTimeNs(this.minTime),
      end: this.maxTime === null ? null : formatTimeNs(this.maxTime),
    };
  }

  async discard(): Promise<void> {
    this.file.close();
    await rm(this.stagingPath, { force: true });
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
