import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects, parquetSchema, type SchemaTree } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS } from '../../src/model/columns.js';
import { parseTimeNs } from '../../src/model/time.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { Db } from '../../src/util/duckdb.js';
import { readRows } from '../helpers/bundle.js';
import { cli } from '../helpers/cli.js';
import { demoBundle } from '../helpers/demo.js';

/**
 * `reconstruct --output <file>.parquet`, read back by an independent Parquet reader (hyparquet,
 * pure JavaScript) against the Parquet format's own logical types: LIST of STRUCT for links and
 * identity_chain, TIMESTAMP(MICROS, UTC) times, INT64 time_ns; and by DuckDB, as an analyst would.
 */

let root: string;
let demo: string;
let rows: TimelineRow[];
let file: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-parquet-'));
  demo = await demoBundle(join(root, 'demo'));
  rows = await readRows(demo);
  file = join(root, 'timeline.parquet');
  const r = cli(['reconstruct', demo, '--output', file]);
  if (r.status !== 0) throw new Error(r.stderr);
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function child(tree: SchemaTree, name: string): SchemaTree {
  const c = tree.children.find((x) => x.element.name === name);
  if (!c) throw new Error(`no ${name} under ${tree.element.name}`);
  return c;
}

describe('Parquet export', () => {
  it('has the Parquet logical types other readers rely on', () => {
    const buf = readFileSync(file);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const meta = parquetMetadata(ab);
    expect(Number(meta.num_rows)).toBe(36);
    const schema = parquetSchema(meta);
    expect(schema.children.map((c) => c.element.name)).toEqual([...COLUMNS.map((c) => c.name), 'links', 'identity_chain', 'bundle', 'time_ns']);
    const time = child(schema, 'time').element;
    expect(time.type).toBe('INT64');
    expect(time.logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
    expect(child(schema, 'time_ns').element.type).toBe('INT64');
    for (const [name, fields] of [
      ['links', ['rule', 'confidence', 'event_id']],
      ['identity_chain', ['id', 'type', 'via', 'event_id', 'confidence']],
    ] as const) {
      const list = child(schema, name);
      expect(list.element.converted_type).toBe('LIST');
      const repeated = list.children[0]!;
      expect(repeated.element.repetition_type).toBe('REPEATED');
      const element = repeated.children[0]!;
      expect(element.children.map((c) => c.element.name)).toEqual([...fields]);
      for (const f of element.children) expect(f.element.converted_type).toBe('UTF8');
    }
    expect(child(schema, 'argv').element.converted_type).toBe('LIST');
    expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe('SNAPPY');
  });

  it('holds the same rows as the NDJSON timeline, in time order, nanoseconds exact', async () => {
    const buf = readFileSync(file);
    const data = await parquetReadObjects({ file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer });
    expect(data).toHaveLength(rows.length);
    data.forEach((d, i) => {
      const r = rows[i]!;
      expect(d.event_id).toBe(r.event_id);
      expect(d.time_ns).toBe(parseTimeNs(r.time));
      expect((d.time as Date).getTime()).toBe(Number(parseTimeNs(r.time)! / 1_000_000n));
      expect(d.links).toEqual(r.links.map((l) => ({ rule: l.rule, confidence: l.confidence, event_id: l.event_id })));
      expect(d.identity_chain).toEqual(r.identity_chain.map((c) => ({ id: c.id, type: c.type, via: c.via, event_id: c.event_id ?? null, confidence: c.confidence ?? null })));
      expect(d.bundle).toBe(demo);
      expect(d.attrs === null ? null : JSON.parse(d.attrs as string)).toEqual(r.attrs);
      expect(d.user_agent ?? null).toBe(r.user_agent);
    });
  });

  it('is queryable in DuckDB: unnest the identity chain to find every action behind a pod', async () => {
    const db = await Db.open();
    try {
      const reader = await db.conn.runAndReadAll(
        `SELECT action, credential_id FROM read_parquet($1) WHERE list_contains(list_transform(identity_chain, c -> c.id), 'ci/build-7f9c') AND src_ip = '203.0.113.66' ORDER BY time_ns`,
        [file],
      );
      expect(reader.getRowObjectsJson()).toEqual([
        { action: 's3:GetObject', credential_id: 'ASIAQNZGKIQY3DEPLOYX' },
        { action: 'sts:GetCallerIdentity', credential_id: 'ASIAQNZGKIQY3DEPLOYX' },
        { action: 'iam:CreateAccessKey', credential_id: 'ASIAQNZGKIQY3DEPLOYX' },
      ]);
      const t = await db.conn.runAndReadAll(`SELECT typeof(time) AS t, typeof(links) AS l FROM read_parquet($1) LIMIT 1`, [file]);
      expect(t.getRowObjectsJson()).toEqual([{ t: 'TIMESTAMP WITH TIME ZONE', l: 'STRUCT("rule" VARCHAR, confidence VARCHAR, event_id VARCHAR)[]' }]);
    } finally {
      db.close();
    }
  });

  it('filters and --limit apply; no temporary file is left behind; an empty selection still writes a valid file', async () => {
    const small = join(root, 'small.parquet');
    expect(cli(['reconstruct', demo, '--credential', 'ASIAQNZGKIQY3DEPLOYX', '--limit', '2', '--output', small]).status).toBe(0);
    const empty = join(root, 'empty.parquet');
    expect(cli(['reconstruct', demo, '--grep', 'nothing-matches-this', '--output', empty]).status).toBe(0);
    for (const [f, n] of [[small, 2], [empty, 0]] as const) {
      const buf = readFileSync(f);
      expect(Number(parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)).num_rows)).toBe(n);
    }
    expect(readdirSync(root).filter((f) => f.startsWith('.custody-export'))).toEqual([]);
  });
});
