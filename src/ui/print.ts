import chalk, { type ChalkInstance } from 'chalk';
import { COLUMNS } from '../model/columns.js';
import type { TimelineQuery, TimelineRow } from '../reconstruct/index.js';
import { escapeText, safeJsonStringify } from '../util/escape.js';
import type { Out } from '../util/out.js';
import { fit, rowCells } from './cells.js';

export type PrintFormat = 'table' | 'json' | 'ndjson' | 'csv';

/** Colour per outcome; only used when writing to a terminal. */
export const OUTCOME_COLOR: Record<string, ChalkInstance> = {
  success: chalk.green,
  allowed: chalk.cyan,
  failure: chalk.yellow,
  denied: chalk.red,
  unknown: chalk.gray,
};

/** The row as JSON output carries it: model columns, links, identity_chain, bundle. */
function jsonRow(row: TimelineRow): Record<string, unknown> {
  return row;
}

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
 * table show control characters as visible escapes.
 */
export async function printTimeline(out: Out, query: TimelineQuery, format: PrintFormat, opts: { limit?: number; color?: boolean } = {}): Promise<number> {
  let n = 0;
  const limit = opts.limit ?? Infinity;
  const color = opts.color ?? false;
  if (format === 'json') await out.write('[');
  if (format === 'csv') await out.write(`${CSV_COLUMNS.join(',')}\n`);
  const widths = tableWidths(out.columns);
  if (format === 'table') await out.write(`${tableHeader(widths, color)}\n`);
  for await (const batch of query.rows()) {
    const parts: string[] = [];
    for (const row of batch) {
      if (n >= limit) break;
      switch (format) {
        case 'ndjson':
          parts.push(`${safeJsonStringify(jsonRow(row))}\n`);
          break;
        case 'json':
          parts.push(`${n === 0 ? '\n' : ',\n'}${safeJsonStringify(jsonRow(row))}`);
          break;
        case 'csv':
          parts.push(`${CSV_COLUMNS.map((c) => csvCell(csvValue(row, c))).join(',')}\n`);
          break;
        case 'table':
          parts.push(`${tableLine(row, widths, color)}\n`);
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

interface Widths {
  time: number;
  source: number;
  outcome: number;
  who: number;
  action: number;
  target: number;
  behind: number;
}

function tableWidths(columns: number): Widths {
  const fixed = { time: 23, source: 10, outcome: 7 };
  const rest = Math.max(40, columns - fixed.time - fixed.source - fixed.outcome - 6);
  return { ...fixed, who: Math.floor(rest * 0.3), action: Math.floor(rest * 0.2), target: Math.floor(rest * 0.28), behind: rest - Math.floor(rest * 0.3) - Math.floor(rest * 0.2) - Math.floor(rest * 0.28) };
}

function tableHeader(w: Widths, color: boolean): string {
  const h = [fit('TIME (UTC)', w.time), fit('SOURCE', w.source), fit('OUTCOME', w.outcome), fit('ACTOR → CREDENTIAL', w.who), fit('ACTION', w.action), fit('TARGET', w.target), fit('BEHIND', w.behind)].join(' ').trimEnd();
  return color ? chalk.bold(h) : h;
}

function tableLine(row: TimelineRow, w: Widths, color: boolean): string {
  const c = rowCells(row);
  const outcome = fit(c.outcome, w.outcome);
  return [fit(c.time, w.time), fit(c.source, w.source), color ? (OUTCOME_COLOR[c.outcome] ?? chalk.white)(outcome) : outcome, fit(c.who, w.who), fit(c.action, w.action), fit(c.target, w.target), fit(c.behind, w.behind)]
    .join(' ')
    .trimEnd();
}
