import type { DuckDBValue } from '@duckdb/node-api';
import { parseDurationNs, parseTimeNs } from '../model/time.js';
import { UsageError } from '../util/errors.js';

/** What the user narrows the timeline to. Every value becomes a bound parameter. */
export interface TimelineFilter {
  since?: bigint;
  until?: bigint;
  /** Substring of the actor, or of any principal behind the credential it used. */
  actor?: string;
  /** A credential id: rows that presented it or issued it. */
  credential?: string;
  /** Pod (name, ns/name or uid), service account (ns/sa or system:serviceaccount:ns:sa), container id or SPIFFE id. */
  workload?: string;
  sources?: string[];
  /** Only these categories (process, network, file, ..., gap). */
  categories?: string[];
  /** Case-insensitive substring over the row's text columns. */
  grep?: string;
}

/** `--since/--until`: an ISO 8601 time (UTC when no zone), or a duration back from now (`2h`, `30m`). */
export function parseTimeBound(flag: string, value: string, now = Date.now()): bigint {
  const t = parseTimeNs(value);
  if (t !== null) return t;
  const d = parseDurationNs(value.replace(/^-/, ''));
  if (d !== null) return BigInt(now) * 1_000_000n - d;
  throw new UsageError(`--${flag} ${JSON.stringify(value)} is not a time`, 'use ISO 8601 (2024-05-01T12:00:00Z) or a duration back from now (2h, 30m, 7d)');
}

/** Columns --grep searches. */
export const GREP_COLUMNS = ['action', 'target', 'reason', 'actor_id', 'actor_name', 'credential_id', 'src_ip', 'dst_ip', 'user_agent', 'k8s_namespace', 'k8s_pod', 'k8s_service_account', 'exe', 'comm', 'source_event_id', 'issued_credential_id', 'issued_to', 'spiffe_id'];

export interface WhereClause {
  sql: string;
  params: DuckDBValue[];
}

/**
 * The WHERE clause for a filter. `principalCredentials` are credential ids whose holder chain
 * matched --actor or --workload (resolved by the identity graph); they are held in temp tables
 * `actor_credentials` / `workload_credentials` that the caller fills, with `workload_pods`: uids
 * of pods whose audit evidence matched --workload (kernel rows carry only the uid).
 */
export function whereOf(f: TimelineFilter): WhereClause {
  const parts: string[] = [];
  const params: DuckDBValue[] = [];
  if (f.since !== undefined) {
    parts.push('time >= make_timestamp_ns(CAST(? AS BIGINT))');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push('time <= make_timestamp_ns(CAST(? AS BIGINT))');
    params.push(f.until);
  }
  if (f.sources && f.sources.length > 0) {
    parts.push(`source IN (${f.sources.map(() => '?').join(', ')})`);
    params.push(...f.sources);
  }
  if (f.categories && f.categories.length > 0) {
    parts.push(`category IN (${f.categories.map(() => '?').join(', ')})`);
    params.push(...f.categories);
  }
  if (f.credential) {
    parts.push('(credential_id = ? OR issued_credential_id = ?)');
    params.push(f.credential, f.credential);
  }
  if (f.actor) {
    parts.push('(contains(lower(coalesce(actor_id, \'\')), lower(?)) OR contains(lower(coalesce(actor_name, \'\')), lower(?)) OR credential_id IN (SELECT id FROM actor_credentials) OR issued_credential_id IN (SELECT id FROM actor_credentials))');
    params.push(f.actor, f.actor);
  }
  if (f.workload) {
    parts.push(`(? IN (k8s_pod, k8s_namespace || '/' || k8s_pod, k8s_pod_uid, k8s_namespace || '/' || k8s_service_account,
      'system:serviceaccount:' || k8s_namespace || ':' || k8s_service_account, container_id, spiffe_id)
      OR credential_id IN (SELECT id FROM workload_credentials) OR issued_credential_id IN (SELECT id FROM workload_credentials)
      OR k8s_pod_uid IN (SELECT id FROM workload_pods))`);
    params.push(f.workload);
  }
  if (f.grep) {
    parts.push(`contains(lower(concat_ws(' ', ${GREP_COLUMNS.join(', ')}, array_to_string(argv, ' '))), lower(?))`);
    params.push(f.grep);
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}
