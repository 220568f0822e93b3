import { join } from 'node:path';
import { ingest, type IngestSummary } from '../../src/ingest/ingest.js';
import { Timeline, type TimelineRow } from '../../src/reconstruct/index.js';

/** Ingests inputs into a new bundle under `dir` and returns the summary and every timeline row. */
export async function ingestAndRead(dir: string, inputs: string[], source?: string): Promise<{ bundle: string; summary: IngestSummary; rows: TimelineRow[] }> {
  const bundle = join(dir, 'bundle');
  const summary = await ingest({ bundle, inputs, source });
  const rows = await readRows(bundle);
  return { bundle, summary, rows };
}

export async function readRows(bundle: string | string[]): Promise<TimelineRow[]> {
  const tl = await Timeline.open(Array.isArray(bundle) ? bundle : [bundle]);
  try {
    const q = await tl.query({});
    const rows: TimelineRow[] = [];
    for await (const batch of q.rows()) rows.push(...batch);
    return rows;
  } finally {
    tl.close();
  }
}

/** Rows of a raw file by 1-based line (and JSON pointer), for field-by-field assertions. */
export function rowAt(rows: TimelineRow[], file: string, line: number, pointer = ''): TimelineRow {
  const hit = rows.find((r) => {
    const m = /^raw\/[^/]+\/[0-9a-f]{12}-(.*):(\d+)(?:#(.*))?$/.exec(r.source_ref);
    return m && m[1] === file && Number(m[2]) === line && (m[3] ?? '') === pointer;
  });
  if (!hit) throw new Error(`no row for ${file}:${line}${pointer ? `#${pointer}` : ''}`);
  return hit;
}
