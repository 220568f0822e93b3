/**
 * The identity graph's facts: the few rows of a bundle that issue, grant or tie credentials and
 * workloads (DESIGN.md "Linking"), each as one JSON object with the columns the graph reads.
 *
 * Finding them means scanning every row of every events part, which on a 1M-event bundle was
 * about half of the time to the first timeline page. So `ingest` writes them next to each events
 * part it seals, as a derived file of the bundle (`facts/<source>/part-NNNNNN.ndjson`, kind
 * `facts`, `producer.derived_from` naming the part, hashed into the chain like every file), and
 * `reconstruct` reads those files. A part without one (recorder segments, bundles written before
 * this, a facts file of another FACTS_VERSION, or one that does not read back whole) has its facts
 * queried from its rows, with the same SQL: the result is the same either way.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry } from '../bundle/index.js';
import { sqlPath, type Db } from '../util/duckdb.js';
import type { LoadedBundle } from './load.js';

/** Version of what a facts file holds (its columns and FACT_WHERE); bump on any change to either. */
export const FACTS_VERSION = 1;

/** The columns the identity graph needs from issuance rows (not the whole row: there can be many). */
const FACT_COLUMNS = ['event_id', 'time', 'source', 'action', 'category', 'outcome', 'actor_id', 'actor_type', 'credential_id', 'session_issuer', 'spiffe_id', 'k8s_namespace', 'k8s_pod', 'k8s_pod_uid', 'k8s_service_account', 'k8s_node', 'issued_credential_id', 'issued_credential_type', 'issued_credential_expires', 'issued_to', 'target', 'host'];
const FACT_TIMES = new Set(['time', 'issued_credential_expires']);

/**
 * Each fact column as [name, SQL expression]; times as decimal ns strings. Only Kubernetes audit
 * rows carry what the graph reads from attrs (token audiences, binding subjects): attrs is the
 * widest column, so other rows' queries never name it.
 */
function factExprs(withAttrs: boolean): [string, string][] {
  const fromAttrs = (key: string) => (withAttrs ? `json_extract(attrs, '$.${key}')::VARCHAR` : 'CAST(NULL AS VARCHAR)');
  return [
    ...FACT_COLUMNS.map((c): [string, string] => [c, FACT_TIMES.has(c) ? `CAST(epoch_ns(${c}) AS VARCHAR)` : c]),
    ['audiences', fromAttrs('audiences')],
    ['binding_subjects', fromAttrs('binding_subjects')],
  ];
}

/** Kubernetes and IAM actions that create or grant a principal (rule 5). */
const GRANT_ACTIONS = [
  'create rolebindings', 'update rolebindings', 'patch rolebindings', 'create clusterrolebindings', 'update clusterrolebindings', 'patch clusterrolebindings',
  'create serviceaccounts', 'iam:CreateRole', 'iam:UpdateAssumeRolePolicy', 'iam:AttachRolePolicy', 'iam:PutRolePolicy', 'iam:CreateUser',
];

/**
 * Rows the identity graph needs: issuance, SPIRE workload ties, grants. A small share of a bundle.
 * (For each pod the kernel saw, the first audit row naming it is added by KERNEL_POD_FACTS.)
 */
const FACT_WHERE = `issued_credential_id IS NOT NULL OR issued_to IS NOT NULL
  OR (source = 'spire' AND spiffe_id IS NOT NULL AND (k8s_service_account IS NOT NULL OR k8s_pod_uid IS NOT NULL OR k8s_pod IS NOT NULL))
  OR action IN (${GRANT_ACTIONS.map((a) => `'${a}'`).join(', ')})
  OR (source = 'spire' AND action LIKE '%Entry%')`;

/** The facts of `from` (a table expression), Kubernetes rows with their attrs fields, as one SELECT. */
function factsSelect(from: string, shape: (exprs: [string, string][]) => string): string {
  return `SELECT ${shape(factExprs(false))} FROM ${from} WHERE (${FACT_WHERE}) AND source <> 'k8s_audit'
    UNION ALL SELECT ${shape(factExprs(true))} FROM ${from} WHERE (${FACT_WHERE}) AND source = 'k8s_audit'`;
}

const asColumns = (exprs: [string, string][]) => exprs.map(([n, e]) => `${e} AS ${n}`).join(', ');
/** One JSON text per row: DuckDB builds it, and one JSON.parse per row is much cheaper than converting every value to JavaScript. */
const asJson = (exprs: [string, string][]) => `CAST(json_object(${exprs.map(([n, e]) => `'${n}', ${e}`).join(', ')}) AS VARCHAR)`;

/**
 * The first audit row naming each pod the kernel saw (rule 1), over the `events` view: these join
 * kernel rows with audit rows across parts and bundles, so they are always queried (cheap: two
 * narrow scans).
 */
const KERNEL_POD_FACTS = `SELECT ${asJson(factExprs(true))} FROM (SELECT * FROM events
  WHERE source = 'k8s_audit' AND k8s_pod IS NOT NULL AND k8s_namespace IS NOT NULL AND k8s_service_account IS NOT NULL
    AND k8s_pod_uid IN (SELECT k8s_pod_uid FROM events WHERE source = 'kernel' AND k8s_pod_uid IS NOT NULL)
  QUALIFY row_number() OVER (PARTITION BY k8s_pod_uid ORDER BY time, event_id) = 1)`;

/** The bundle path of an events part's facts file. */
export function factsPathFor(eventsPath: string): string {
  return eventsPath.replace(/^events\//, 'facts/').replace(/\.parquet$/, '.ndjson');
}

/** Writes the facts of one sealed events part (absolute path) as NDJSON to `out`; returns their count. */
export async function writeFacts(db: Db, partAbs: string, out: string): Promise<number> {
  // Both paths are custody's own (a sealed part, a temporary name in the bundle), quoted as literals.
  const r = await db.conn.runAndReadAll(`COPY (${factsSelect(`read_parquet(${sqlPath(partAbs)})`, asColumns)}) TO ${sqlPath(out)} (FORMAT json)`);
  return Number(r.getRowsJS()[0]?.[0] ?? 0);
}

/** A fact object with its ns times as bigint, as the graph's toFacts reads it. */
export type FactRecord = Record<string, unknown>;

function reviveTimes(r: FactRecord): FactRecord {
  for (const c of FACT_TIMES) if (typeof r[c] === 'string') r[c] = BigInt(r[c] as string);
  return r;
}

/**
 * Every fact of the loaded bundles: from the parts' facts files where they read back whole,
 * queried from the rows for the other parts, plus the kernel pods' audit rows; one per event id.
 * A facts file that does not match its manifest entry is reported in `warnings` and queried around.
 */
export async function loadFacts(db: Db, bundles: readonly LoadedBundle[], warnings: string[]): Promise<FactRecord[]> {
  const out = new Map<string, FactRecord>();
  const add = (r: FactRecord) => {
    if (typeof r.event_id === 'string' && !out.has(r.event_id)) out.set(r.event_id, r);
  };
  const uncovered: string[] = [];
  for (const b of bundles) {
    const byPart = new Map<string, Entry>();
    for (const e of b.manifest.entries) {
      const from = e.producer.derived_from;
      if (e.kind === 'facts' && e.schema_version === FACTS_VERSION && from?.length === 1) byPart.set(join(b.abs, from[0]!), e);
    }
    for (const part of b.parts) {
      const entry = byPart.get(part);
      const records = entry ? await readFactsFile(join(b.abs, entry.path), entry, warnings, join(b.dir, entry.path)) : null;
      if (records) for (const r of records) add(r);
      else uncovered.push(part);
    }
  }
  if (uncovered.length > 0) {
    const from = `read_parquet([${uncovered.map(sqlPath).join(', ')}], union_by_name = true)`;
    const r = await db.conn.runAndReadAll(factsSelect(from, asJson));
    for (const text of r.getColumnsJS()[0] ?? []) add(reviveTimes(JSON.parse(text as string) as FactRecord));
  }
  const kernelPods = await db.conn.runAndReadAll(KERNEL_POD_FACTS);
  for (const text of kernelPods.getColumnsJS()[0] ?? []) add(reviveTimes(JSON.parse(text as string) as FactRecord));
  return [...out.values()];
}

/** A facts file's records, or null (with a warning) when it is missing, of another size, or not whole NDJSON objects. */
async function readFactsFile(file: string, entry: Entry, warnings: string[], shown: string): Promise<FactRecord[] | null> {
  try {
    const st = await stat(file);
    if (st.size !== entry.size) {
      warnings.push(`${shown}: size ${st.size}, manifest says ${entry.size}; facts read from the events instead (run custody verify)`);
      return null;
    }
    const text = await readFile(file, 'utf8');
    const records: FactRecord[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as unknown;
      if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new Error('a line is not a JSON object');
      records.push(reviveTimes(r as FactRecord)); // a time that is no integer throws: the file is not used
    }
    if (entry.rows !== null && records.length !== entry.rows) throw new Error(`${records.length} records, manifest says ${entry.rows}`);
    return records;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not readable (${(err as Error).message.split('\n')[0]!.slice(0, 200)})`;
    warnings.push(`${shown}: ${why}; facts read from the events instead (run custody verify)`);
    return null;
  }
}
