#!/usr/bin/env node
// Per-source ingest benchmark (issue 4): for each source, a file of N records made by repeating
// real public sample records (test/fixtures), ingested by custody next to DuckDB's raw scan of the
// same file in the same run (JSON: read_ndjson_objects, every line parsed as a JSON value with no schema to infer; text: read_csv of
// every line). Prints records/s for both and their ratio.
//   node bench/sources.mjs [records=200000] [--work=/tmp/custody-bench] [--only=okta,vault]
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measure, machine, REPO, table } from './lib.mjs';

const n = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 200_000);
const work = (process.argv.find((a) => a.startsWith('--work=')) ?? '--work=/tmp/custody-bench').slice(7);
const only = (process.argv.find((a) => a.startsWith('--only=')) ?? '').slice(7).split(',').filter(Boolean);
const S = join(REPO, 'test/fixtures/samples');
const F = join(REPO, 'test/fixtures');

/** source → [format, sample files whose lines are records] */
const SOURCES = {
  cloudtrail: ['json', [join(S, 'aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json')]],
  k8s_audit: ['json', [join(S, 'k8s_audit/audit2rbac_demo_v1beta1_original_2017.log')]],
  gcp_audit: ['json', [join(S, 'gcp_audit/plaso_gcp_logging.jsonl')]],
  azure_activity: ['json', [join(S, 'azure_activity/panther_Azure_MonitorActivity_rule_tests.jsonl')]],
  entra_id: ['json', [join(S, 'entra_id/panther_Azure_Audit_rule_tests.jsonl')]],
  gworkspace: ['json', [join(S, 'google_workspace/panther_GSuite_ActivityEvent_rule_tests.jsonl')]],
  okta: ['json', [join(S, 'okta/panther_test_scenarios_Okta_SystemLog.jsonl')]],
  vault: ['json', [join(F, 'sources/vault/vault_k8s_auth_flow.jsonl'), join(F, 'sources/vault/vault_docs_audit_log_examples.jsonl')]],
  opa: ['json', [join(F, 'sources/opa/opa_envoy_istio_console.log')]],
  spire: ['text', [join(F, 'sources/spire/spire_server_api_and_svids.log')]],
  envoy: ['text', [join(F, 'mesh/istio_pr27903_response_code_details.log'), join(S, 'service_mesh/istio_docs_sidecar_default_text_format.log')]],
  tetragon: ['json', [join(S, 'tetragon/tetragon_docs_security_observability_book.combined.jsonl')]],
  falco: ['json', [join(S, 'falco/falco_website_doc_alerts.jsonl')]],
};

const duckdbScript = (sql) => `import { DuckDBInstance } from '@duckdb/node-api';
const i = await DuckDBInstance.create(':memory:');
const c = await i.connect();
const t0 = performance.now();
const r = await c.runAndReadAll(${JSON.stringify(sql)});
console.log(JSON.stringify({ ms: performance.now() - t0, rows: Number(r.getRows()[0][0]) }));`;

mkdirSync(work, { recursive: true });
const rows = [['source', 'records', 'MB', 'custody s', 'custody rec/s', 'DuckDB raw scan s', 'DuckDB rec/s', 'ratio', 'accepted', 'quarantined']];
for (const [source, [format, files]] of Object.entries(SOURCES)) {
  if (only.length && !only.includes(source)) continue;
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()));
  const out = [];
  for (let i = 0; out.length < n; i++) out.push(lines[i % lines.length]);
  const file = join(work, `${source}-${n}.${format === 'json' ? 'jsonl' : 'log'}`);
  writeFileSync(file, `${out.join('\n')}\n`);
  const mb = Buffer.byteLength(out.join('\n')) / 2 ** 20;
  const sql =
    format === 'json'
      ? `SELECT count(json) FROM read_ndjson_objects('${file}', maximum_object_size = 67108864)`
      : `SELECT count(line) FROM read_csv('${file}', columns = {'line': 'VARCHAR'}, delim = '\\x01', quote = '', escape = '', header = false)`;
  const base = JSON.parse(measure([process.execPath, '--input-type=module', '-e', duckdbScript(sql)], { cwd: REPO }).stdout);
  const bundle = join(work, `bundle-${source}`);
  rmSync(bundle, { recursive: true, force: true });
  const c = measure([process.execPath, join(REPO, 'bin/run.js'), 'ingest', bundle, file, '--source', source, '--json']);
  const s = JSON.parse(c.stdout);
  rmSync(bundle, { recursive: true, force: true });
  rmSync(file, { force: true });
  const baseS = base.ms / 1000;
  rows.push([source, n, mb.toFixed(0), c.seconds.toFixed(2), Math.round(n / c.seconds), baseS.toFixed(2), Math.round(n / baseS), (baseS / c.seconds).toFixed(2), s.accepted, s.quarantined]);
  process.stderr.write(`${source} done\n`);
}
console.log(`machine: ${machine()}`);
console.log(table(rows));
console.log('custody s: the whole `custody ingest` command (process start, raw copy + sha256, parse, Parquet, manifest); ratio = DuckDB s ÷ custody s.');
