import chalk, { type ChalkInstance } from 'chalk';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeTimelineParquet } from '../reconstruct/export-parquet.js';
import { InputError } from '../util/errors.js';
import { fsyncFile } from '../util/fsx.js';
import { COLUMNS } from '../model/columns.js';
import type { TimelineQuery, TimelineRow } from '../reconstruct/index.js';
import { toOcsf } from '../reconstruct/export-ocsf.js';
import { toTimesketch } from '../reconstruct/export-timesketch.js';
import { escapeText, safeJsonStringify } from '../util/escape.js';
import { Out } from '../util/out.js';
import { fit, rowCells, type RowCells } from './cells.js';

export type PrintFormat = 'table' | 'json' | 'ndjson' | 'csv' | 'timesketch' | 'ocsf';

/** Colour per outcome; only used when writing to a terminal. */
export const OUTCOME_COLOR: Record<string, ChalkInstance> = {
  success: chalk.green,
  allowed: chalk.cyan,
  failure: chalk.yellow,
  denied: chalk.red,
  unknown: chalk.gray,
};

const CSV_COLUMNS = [...COLUMNS.map((c) => c.name), 'identity_chain', 'links', 'bundle'];

function csvCell(v: unknown): string {
  let s: string;
  if (v === null || v === undefined) s = '';
  else if (typeof v === 'string') s = v;
  else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) s = v.join(' ');
  else s = JSON.stringify(v);
  // CSV is for people and spreadsheets: escapes shown, formula triggers neutralized.
  s = escapeText(s);
  if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
  return /[",\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvValue(row: TimelineRow, col: string): unknown {
  if (col === 'identity_chain') return row.identity_chain.map((c) => c.id).join(' > ');
  return row[col];
}

/**
 * Prints every row of a query in a non-interactive format, streaming in batches.
 * JSON formats are lossless (escapes only where a terminal could act on them); CSV and
 * table show control characters as visible escapes. timesketch and ocsf are JSON Lines in those
 * tools' shapes (src/reconstruct/export-*.ts).
 */
export async function printTimeline(out: Out, query: TimelineQuery, format: PrintFormat, opts: { limit?: number; color?: boolean } = {}): Promise<number> {
  let n = 0;
  const limit = opts.limit ?? Infinity;
  const color = opts.color ?? false;
  if (format === 'json') await out.write('[');
  if (format === 'csv') await out.write(`${CSV_COLUMNS.join(',')}\n`);
  for await (const batch of query.rows(2048, limit)) {
    const parts: string[] = [];
    if (format === 'table') {
      const cells = batch.slice(0, Math.max(0, limit - n)).map(rowCells);
      const w = tableWidths(out.isTTY ? out.columns : null, cells);
      parts.push(`${tableLine(TABLE_TITLES, w, color, true)}\n`);
      for (const c of cells) parts.push(`${tableLine(c, w, color)}\n`);
      n += cells.length;
      await out.write(parts.join(''));
      if (n >= limit || out.closed) break;
      continue;
    }
    for (const row of batch) {
      if (n >= limit) break;
      switch (format) {
        case 'ndjson':
          parts.push(`${safeJsonStringify(row)}\n`);
          break;
        case 'timesketch':
          parts.push(`${safeJsonStringify(toTimesketch(row))}\n`);
          break;
        case 'ocsf':
          parts.push(`${safeJsonStringify(toOcsf(row))}\n`);
          break;
        case 'json':
          parts.push(`${n === 0 ? '\n' : ',\n'}${safeJsonStringify(row)}`);
          break;
        case 'csv':
          parts.push(`${CSV_COLUMNS.map((c) => csvCell(csvValue(row, c))).join(',')}\n`);
          break;
      }
      n++;
    }
    await out.write(parts.join(''));
    if (n >= limit || out.closed) break;
  }
  if (format === 'json') await out.write(n === 0 ? ']\n' : '\n]\n');
  return n;
}

const TABLE_COLUMNS = ['time', 'source', 'outcome', 'actor', 'credential', 'action', 'target', 'behind'] as const;
type TableColumn = (typeof TABLE_COLUMNS)[number];
const TABLE_TITLES: Record<TableColumn, string> = { time: 'TIME (UTC)', source: 'SOURCE', outcome: 'OUTCOME', actor: 'ACTOR', credential: 'CREDENTIAL', action: 'ACTION', target: 'TARGET', behind: 'BEHIND' };
/** Share of the flexible width each column gets on a terminal. */
const FLEX: Partial<Record<TableColumn, number>> = { actor: 0.22, credential: 0.16, action: 0.16, target: 0.24, behind: 0.22 };

type Widths = Record<TableColumn, number>;

/** On a terminal, columns fit its width; into a pipe or file, nothing is cut (widths from the rows). */
function tableWidths(columns: number | null, cells: RowCells[]): Widths {
  const natural = Object.fromEntries(TABLE_COLUMNS.map((c) => [c, Math.max(TABLE_TITLES[c].length, ...cells.map((x) => x[c].length))])) as Widths;
  if (columns === null) return natural;
  const fixed = natural.time + natural.source + 7 + TABLE_COLUMNS.length - 1;
  const rest = Math.max(40, columns - fixed);
  const w = { ...natural, outcome: 7 };
  for (const [c, share] of Object.entries(FLEX) as [TableColumn, number][]) w[c] = Math.min(natural[c], Math.max(6, Math.floor(rest * share)));
  return w;
}

function tableLine(c: Record<TableColumn, string>, w: Widths, color: boolean, header = false): string {
  return TABLE_COLUMNS.map((col) => {
    const text = fit(c[col], w[col]);
    if (header) return color ? chalk.bold(text) : text;
    return color && col === 'outcome' ? (OUTCOME_COLOR[c.outcome] ?? chalk.white)(text) : text;
  })
    .join(' ')
    .trimEnd();
}

/**
 * `reconstruct --output <file>`: the printed format written to a file (under a temporary name,
 * renamed when complete), or with `parquet` the linked timeline as a Parquet file.
 */
export async function exportTimeline(query: TimelineQuery, file: string, format: PrintFormat | 'parquet', opts: { limit?: number } = {}): Promise<number> {
  try {
    const st = await stat(dirname(resolve(file)));
    if (!st.isDirectory()) throw new Error('ENOTDIR');
  } catch {
    throw new InputError(`--output ${file}: the directory ${dirname(file)} does not exist`, 'create it first, or name another file');
  }
  if (format === 'parquet') return writeTimelineParquet(query, file, opts);
  const tmp = join(dirname(resolve(file)), `.custody-export-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const stream = createWriteStream(tmp);
    const out = new Out(stream);
    const n = await printTimeline(out, query, format, { limit: opts.limit, color: false });
    stream.end();
    await once(stream, 'finish');
    await fsyncFile(tmp);
    await rename(tmp, file);
    return n;
  } finally {
    await rm(tmp, { force: true });
  }
}
