#!/usr/bin/env node
// Ingest benchmark (issue 2): custody ingest of N CloudTrail records, in both shapes, against
// DuckDB's own read_json of the same input measured in the same run.
//   node bench/ingest.mjs [records=1000000] [--work=/tmp/custody-bench] [--keep]
// Prints records/s, the ratio custody / DuckDB (goal ≥ 0.5) and custody's peak RSS.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { measure, machine, REPO, table } from './lib.mjs';

const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const work = (process.argv.find((a) => a.startsWith('--work=')) ?? '--work=/tmp/custody-bench').slice(7);
const data = join(work, `ct-${n}`);
if (!existsSync(join(data, 'cloudtrail.jsonl'))) {
  process.stderr.write(`generating ${n} CloudTrail records into ${data}…\n`);
  measure([process.execPath, join(REPO, 'bench/gen-cloudtrail.mjs'), data, String(n), '--s3-per-file=1000']);
}

const duckdbScript = (sql) => `import { DuckDBInstance } from '@duckdb/node-api';
const i = await DuckDBInstance.create(':memory:', { temp_directory: '${work}/duckdb-tmp' });
const c = await i.connect();
const t0 = performance.now();
await c.run(${JSON.stringify(sql)});
const r = await c.runAndReadAll('SELECT count(*) FROM t');
console.log(JSON.stringify({ ms: performance.now() - t0, rows: Number(r.getRows()[0][0]) }));`;

function duckdb(sql) {
  const m = measure([process.execPath, '--input-type=module', '-e', duckdbScript(sql)], { cwd: REPO });
  const out = JSON.parse(m.stdout);
  return { seconds: out.ms / 1000, rows: out.rows, rssMb: m.rssMb };
}

const shapes = [
  { name: 'JSON Lines (1 file)', input: join(data, 'cloudtrail.jsonl'), sql: `CREATE TABLE t AS SELECT * FROM read_json('${join(data, 'cloudtrail.jsonl')}', format = 'newline_delimited')` },
  { name: 'S3 delivery (.json.gz, 1000 rec/file)', input: join(data, 'AWSLogs'), sql: `CREATE TABLE t AS SELECT unnest(Records) AS r FROM read_json('${join(data, 'AWSLogs')}/**/*.json.gz', maximum_object_size = 268435456)` },
];

const rows = [['shape', 'records', 'DuckDB read_json s', 'custody ingest s', 'custody rec/s', 'ratio', 'custody peak RSS MB']];
const results = [];
for (const s of shapes) {
  const base = duckdb(s.sql);
  const bundle = join(work, `bundle-${n}-${s.name.startsWith('JSON') ? 'jsonl' : 's3'}`);
  rmSync(bundle, { recursive: true, force: true });
  const c = measure([process.execPath, join(REPO, 'bin/run.js'), 'ingest', bundle, s.input, '--json']);
  const summary = JSON.parse(c.stdout);
  if (summary.accepted !== n || base.rows !== n) throw new Error(`record counts differ: custody ${summary.accepted}, duckdb ${base.rows}, expected ${n}`);
  const ratio = base.seconds / c.seconds;
  results.push({ shape: s.name, n, duckdb: base.seconds, custody: c.seconds, ratio, rss: c.rssMb, bundle });
  rows.push([s.name, n, base.seconds.toFixed(2), c.seconds.toFixed(2), Math.round(n / c.seconds), ratio.toFixed(2), c.rssMb]);
}
console.log(`machine: ${machine()}`);
console.log(table(rows));
console.log(`ratio = custody records/s ÷ DuckDB read_json records/s on the same input, same run (goal ≥ 0.5).`);
console.log(`bundle for the reconstruct benchmark: ${results[0].bundle}`);
if (!process.argv.includes('--keep')) rmSync(results[1].bundle, { recursive: true, force: true });
