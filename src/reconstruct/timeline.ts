import type { DuckDBValue } from '@duckdb/node-api';
import { relative, sep } from 'node:path';
import { COLUMNS } from '../model/columns.js';
import { formatTimeNs } from '../model/time.js';
import { Db } from '../util/duckdb.js';
import { whereOf, type TimelineFilter } from './filter.js';
import { DEFAULT_GRAPH_OPTIONS, IdentityGraph, type ChainElement, type GraphOptions, type Link, type RowFacts } from './graph.js';
import { buildCorrelations, correlatedLinks, linksByRow } from './correlate.js';
import { loadFacts } from './facts.js';
import { loadBundles, type LoadedBundle } from './load.js';
import { readRawRecord } from './raw.js';

/** One row of the linked timeline, as every output format and the UI receive it. */
export interface TimelineRow {
  [column: string]: unknown;
  event_id: string;
  time: string;
  source: string;
  source_ref: string;
  category: string;
  action: string;
  outcome: string;
  attrs: Record<string, unknown> | null;
  links: Link[];
  identity_chain: ChainElement[];
  /** The bundle (as named on the command line) holding the row's raw source. */
  bundle: string;
}

const TIME_COLUMNS = new Set<string>(COLUMNS.filter((c) => c.type === 'TIMESTAMP_NS').map((c) => c.name));

const SELECT = [...COLUMNS.map((c) => (c.type === 'TIMESTAMP_NS' ? `epoch_ns(${c.name}) AS ${c.name}` : c.name)), 'filename'].join(', ');

const ORDER = 'ORDER BY time, event_id';

/** Up to this many rows, `rows(…, limit)` picks them by (time, event_id) first, then reads them in full. */
const BOUNDED_HEAD_MAX = 10_000;

export interface TimelineOptions {
  graph?: GraphOptions;
  /** Pages this close to either end use a top-N query, deeper ones the position index (default 5000). */
  nearEnd?: number;
}

/**
 * The case timeline over one or more bundles: DuckDB views over their Parquet files, the
 * identity graph built from issuance rows, and paged, filtered, linked rows. Rows are never all
 * held in memory: the UI pages, and printers iterate in batches.
 */
export class Timeline {
  private constructor(
    private readonly db: Db,
    readonly bundles: LoadedBundle[],
    readonly warnings: string[],
    readonly graph: IdentityGraph,
    /** @internal */ readonly nearEnd: number,
  ) {}

  static async open(dirs: readonly string[], opts: TimelineOptions = {}): Promise<Timeline> {
    const db = await Db.open();
    let linking: Promise<void> | undefined;
    try {
      const { bundles, warnings } = await loadBundles(db, dirs);
      // The SQL linking rules run on a second connection while this thread reads the facts and
      // builds the identity graph (1M events: ~0.1-0.15 s of DuckDB work off the critical path).
      const side = await db.connect();
      linking = buildCorrelations({ conn: side }, opts.graph ?? DEFAULT_GRAPH_OPTIONS).finally(() => side.closeSync());
      linking.catch(() => {}); // awaited below, or before closing on an error: never unhandled
      const rows = (await loadFacts(db, bundles, warnings)).map(toFacts);
      const graph = new IdentityGraph(rows, opts.graph ?? DEFAULT_GRAPH_OPTIONS);
      await linking;
      await db.conn.run('CREATE TEMP TABLE actor_credentials (id VARCHAR); CREATE TEMP TABLE workload_credentials (id VARCHAR); CREATE TEMP TABLE workload_pods (id VARCHAR)');
      return new Timeline(db, bundles, warnings, graph, opts.nearEnd ?? NEAR_END);
    } catch (err) {
      await linking?.catch(() => {}); // its connection must be done before the database closes
      db.close();
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }

  /** Prepares a filter: resolves --actor/--workload through the identity graph into credential sets. */
  async query(filter: TimelineFilter): Promise<TimelineQuery> {
    await this.db.conn.run('DELETE FROM actor_credentials; DELETE FROM workload_credentials; DELETE FROM workload_pods');
    if (filter.actor) {
      const needle = filter.actor.toLowerCase();
      await this.fill('actor_credentials', this.graph.credentialsWhere((el) => el.id.toLowerCase().includes(needle)));
    }
    if (filter.workload) {
      const w = filter.workload;
      await this.fill('workload_credentials', this.graph.credentialsWhere((el) => workloadMatches(el, w)));
      await this.fill('workload_pods', this.graph.podUidsWhere((el) => workloadMatches(el, w)));
    }
    return new TimelineQuery(this, filter);
  }

  private async fill(table: 'actor_credentials' | 'workload_credentials' | 'workload_pods', ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const appender = await this.db.conn.createAppender(table);
    for (const id of ids) {
      appender.appendVarchar(id);
      appender.endRow();
    }
    appender.closeSync();
  }

  /** @internal */
  async select(where: string, params: DuckDBValue[], tail: string): Promise<TimelineRow[]> {
    const reader = await this.db.conn.runAndReadAll(`SELECT ${SELECT} FROM events ${where} ${tail}`, params);
    return this.withCorrelations(reader.getRowObjectsJS().map((r) => this.toRow(r)));
  }

  /** @internal */
  async *stream(where: string, params: DuckDBValue[], batch: number, limit?: number): AsyncGenerator<TimelineRow[]> {
    // The correlated links of every selected row are read before the stream opens: another query on
    // this connection while a streaming result is pending ends that stream after its first chunk.
    const extra = await this.correlationsWhere(where, params);
    // A limit goes into the SQL (a top-N, not a sort of every row); it is a number we computed, never text.
    const top = limit !== undefined && Number.isFinite(limit) ? ` LIMIT ${Math.max(0, Math.floor(limit))}` : '';
    const result = await this.db.conn.stream(`SELECT ${SELECT} FROM events ${where} ${ORDER}${top}`, params);
    let pending: TimelineRow[] = [];
    for await (const rows of result.yieldRowObjectJs()) {
      for (const r of rows) {
        const row = this.toRow(r);
        const more = extra.get(row.event_id);
        if (more) row.links = [...row.links, ...more];
        pending.push(row);
      }
      if (pending.length >= batch) {
        yield pending;
        pending = [];
      }
    }
    if (pending.length > 0) yield pending;
  }

  /** The SQL-computed links (rules 2, 4 and 6) of the rows a filter selects, by event id, in correlatedLinks' order. */
  private async correlationsWhere(where: string, params: DuckDBValue[]): Promise<Map<string, Link[]>> {
    const reader = await this.db.conn.runAndReadAll(
      `SELECT a, b, rule, confidence, material FROM correlated_links WHERE a IN (SELECT event_id FROM events ${where}) ORDER BY a, rule, b`,
      params,
    );
    return linksByRow(reader.getRows());
  }

  /** @internal */
  async exec(sql: string, params: DuckDBValue[]): Promise<void> {
    await this.db.conn.run(sql, params);
  }

  /** @internal */
  async scalar(sql: string, params: DuckDBValue[]): Promise<number> {
    const reader = await this.db.conn.runAndReadAll(sql, params);
    return Number(reader.getRows()[0]?.[0] ?? 0);
  }

  async byId(eventId: string): Promise<TimelineRow | undefined> {
    return (await this.select('WHERE event_id = ?', [eventId], 'LIMIT 1'))[0];
  }

  /** The raw record behind a row, from the bundle's raw/ file, as text. */
  async raw(row: TimelineRow): Promise<string> {
    const b = this.bundles.find((x) => x.dir === row.bundle) ?? this.bundles[0]!;
    return readRawRecord(b.abs, b.manifest, row.source_ref);
  }

  /** Adds the SQL-computed links (rules 2, 4 and 6) to a batch of rows. */
  private async withCorrelations(rows: TimelineRow[]): Promise<TimelineRow[]> {
    const extra = await correlatedLinks(this.db, rows.map((r) => r.event_id));
    for (const r of rows) {
      const more = extra.get(r.event_id);
      if (more) r.links = [...r.links, ...more];
    }
    return rows;
  }

  private toRow(r: Record<string, unknown>): TimelineRow {
    const out: Record<string, unknown> = {};
    for (const c of COLUMNS) {
      const v = r[c.name];
      if (v === null || v === undefined) out[c.name] = null;
      else if (TIME_COLUMNS.has(c.name)) out[c.name] = formatTimeNs(v as bigint);
      else if (c.name === 'attrs') out.attrs = parseAttrs(v as string);
      else if (typeof v === 'bigint') out[c.name] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      else out[c.name] = v;
    }
    const facts = toFacts(r);
    const { links, chain } = this.graph.resolve(facts);
    // A kernel row knows its pod by uid only; rule 1's audit evidence names it (the row's own columns stay as recorded in the bundle).
    const pod = this.graph.podOfProcess(facts);
    if (pod) {
      out.k8s_namespace ??= pod.k8s_namespace;
      out.k8s_pod ??= pod.k8s_pod;
      out.k8s_service_account ??= pod.k8s_service_account;
    }
    out.links = links;
    out.identity_chain = chain;
    out.bundle = this.bundleOf(r.filename as string);
    return out as TimelineRow;
  }

  private bundleOf(file: string): string {
    for (const b of this.bundles) {
      const rel = relative(b.abs, file);
      if (!rel.startsWith('..') && !rel.startsWith(sep)) return b.dir;
    }
    return this.bundles[0]?.dir ?? '';
  }
}

/** Pages this close to either end are served by a top-N query; deeper ones through a position index. */
const NEAR_END = 5_000;
let indexSeq = 0;

export class TimelineQuery {
  private readonly where;
  private total: Promise<number> | undefined;
  private index: Promise<string> | undefined;

  constructor(
    private readonly timeline: Timeline,
    readonly filter: TimelineFilter,
  ) {
    this.where = whereOf(filter);
  }

  count(): Promise<number> {
    this.total ??= this.timeline.scalar(`SELECT count(*) FROM events ${this.where.sql}`, this.where.params);
    return this.total;
  }

  /**
   * Rows [offset, offset + limit) in time order. Near the start or the end of the timeline this is
   * a top-N query (fast, small); in the middle of a large timeline a one-time position index
   * (time, event_id by position, built on first need) turns a page into a narrow time-range read.
   */
  async page(offset: number, limit: number): Promise<TimelineRow[]> {
    const lim = Math.max(0, Math.floor(limit));
    const off = Math.max(0, Math.floor(offset));
    const near = this.timeline.nearEnd;
    if (off < near) return this.pageOf(this.picked(`${ORDER} LIMIT ${lim} OFFSET ${off}`), lim);
    const n = await this.count();
    if (off >= n) return [];
    const fromEnd = n - off - lim;
    if (fromEnd < near) {
      const take = Math.min(lim, n - off);
      return this.pageOf(this.picked(`ORDER BY time DESC, event_id DESC LIMIT ${take} OFFSET ${Math.max(0, fromEnd)}`), take);
    }
    const table = await this.positionIndex();
    return this.pageOf({ sql: `(SELECT time, event_id FROM ${table} WHERE pos >= ${off} AND pos < ${off + lim})`, params: [] }, lim);
  }

  /**
   * Pages are read in two steps: a cheap query picks the page's (time, event_id) — a top-N over
   * those two columns near either end, the position index deeper in — then only the rows in that
   * time span with those ids are read in full. A top-N over every column decodes every column of
   * every row it considers (1M events: ~0.3-0.4 s → ~0.1-0.2 s near the ends).
   */
  private pageOf(page: { sql: string; params: DuckDBValue[] }, take: number): Promise<TimelineRow[]> {
    const w = this.within(page);
    return this.timeline.select(w.sql, w.params, `${ORDER} LIMIT ${take}`);
  }

  /** The filter's rows picked by `narrow` (ORDER/LIMIT/OFFSET text built from numbers we computed), as a (time, event_id) subquery. */
  private picked(narrow: string): { sql: string; params: DuckDBValue[] } {
    return { sql: `(SELECT time, event_id FROM events ${this.where.sql} ${narrow})`, params: this.where.params };
  }

  /** The filter narrowed to the rows of `page`, a (time, event_id) subquery. */
  private within(page: { sql: string; params: DuckDBValue[] }): { sql: string; params: DuckDBValue[] } {
    return {
      sql: `${this.where.sql ? `${this.where.sql} AND` : 'WHERE'} time BETWEEN (SELECT min(time) FROM ${page.sql}) AND (SELECT max(time) FROM ${page.sql})
        AND event_id IN (SELECT event_id FROM ${page.sql})`,
      // `?` placeholders: the filter's values once for the outer WHERE, then the page's once per copy of it.
      params: [...this.where.params, ...page.params, ...page.params, ...page.params],
    };
  }

  private positionIndex(): Promise<string> {
    this.index ??= (async () => {
      const table = `position_${++indexSeq}`;
      await this.timeline.exec(`CREATE TEMP TABLE ${table} AS SELECT row_number() OVER (${ORDER}) - 1 AS pos, time, event_id FROM events ${this.where.sql}`, this.where.params);
      return table;
    })();
    return this.index;
  }

  /** Every row in time order (or the first `limit`), in batches. */
  rows(batch = 2048, limit?: number): AsyncGenerator<TimelineRow[]> {
    // A short head of the timeline (`--limit`) is picked like a page near the start.
    if (limit !== undefined && Number.isFinite(limit) && limit <= BOUNDED_HEAD_MAX) {
      const w = this.within(this.picked(`${ORDER} LIMIT ${Math.max(0, Math.floor(limit))}`));
      return this.timeline.stream(w.sql, w.params, batch, limit);
    }
    return this.timeline.stream(this.where.sql, this.where.params, batch, limit);
  }
}

function parseAttrs(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { _unparsed: text };
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function s(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function toFacts(r: Record<string, unknown>): RowFacts {
  let audiences: string[] | null = null;
  let a: unknown;
  if (typeof r.audiences === 'string') a = safeParse(r.audiences);
  else if (typeof r.attrs === 'string' && r.attrs.includes('audiences')) a = parseAttrs(r.attrs)?.audiences;
  if (Array.isArray(a)) audiences = a.filter((x): x is string => typeof x === 'string');
  return {
    event_id: r.event_id as string,
    time: (r.time as bigint | null) ?? 0n,
    source: r.source as string,
    action: (r.action as string) ?? '',
    category: s(r.category),
    outcome: s(r.outcome),
    spiffe_id: s(r.spiffe_id),
    issued_credential_type: s(r.issued_credential_type),
    grants: grantsOf(r),
    actor_id: s(r.actor_id),
    actor_type: s(r.actor_type),
    credential_id: s(r.credential_id),
    session_issuer: s(r.session_issuer),
    k8s_namespace: s(r.k8s_namespace),
    k8s_pod: s(r.k8s_pod),
    k8s_pod_uid: s(r.k8s_pod_uid),
    k8s_service_account: s(r.k8s_service_account),
    k8s_node: s(r.k8s_node),
    issued_credential_id: s(r.issued_credential_id),
    issued_credential_expires: (r.issued_credential_expires as bigint | null) ?? null,
    issued_to: s(r.issued_to),
    target: s(r.target),
    audiences,
    process_key: s(r.process_key),
    container_id: s(r.container_id),
  };
}

/**
 * Principals a row creates or grants (rule 5): Kubernetes binding subjects and created service
 * accounts, IAM roles and users created or given policies, SPIRE registration entries.
 */
function grantsOf(r: Record<string, unknown>): string[] | null {
  const action = typeof r.action === 'string' ? r.action : '';
  const target = typeof r.target === 'string' ? r.target : '';
  if (r.source === 'k8s_audit') {
    if (typeof r.binding_subjects === 'string') {
      const subjects = safeParse(r.binding_subjects);
      const ns = target.split('/')[0] ?? '';
      if (!Array.isArray(subjects)) return null;
      return subjects.flatMap((x) => {
        const subj = x as { kind?: string; name?: string; namespace?: string };
        if (subj.kind === 'ServiceAccount' && subj.name) return [`system:serviceaccount:${subj.namespace ?? ns}:${subj.name}`];
        if (subj.kind === 'User' && subj.name) return [subj.name];
        return [];
      });
    }
    const m = /^([^/]+)\/serviceaccounts\/([^/]+)$/.exec(target);
    if (action === 'create serviceaccounts' && m) return [`system:serviceaccount:${m[1]}:${m[2]}`];
    return null;
  }
  if (r.source === 'cloudtrail' && action.startsWith('iam:') && target) {
    const kind = action === 'iam:CreateUser' ? 'user' : 'role';
    if (/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\//.test(target)) return [target];
    return typeof r.host === 'string' ? [`arn:aws:iam::${r.host}:${kind}/${target}`] : null;
  }
  if (r.source === 'spire' && /Entry/.test(action) && typeof r.spiffe_id === 'string') return [r.spiffe_id];
  return null;
}

/** Whether a chain element is the workload the user named (pod, ns/pod, service account, SPIFFE id). */
export function workloadMatches(el: ChainElement, w: string): boolean {
  if (el.id === w) return true;
  if (el.type === 'workload') return el.id.endsWith(`/${w}`);
  if (el.type === 'service_account') return el.id === `system:serviceaccount:${w.replace('/', ':')}`;
  return false;
}
