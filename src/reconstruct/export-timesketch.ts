import { COLUMNS } from '../model/columns.js';
import { parseTimeNs } from '../model/time.js';
import type { TimelineRow } from './timeline.js';

/**
 * Timesketch's JSONL import (timesketch.org, "Import from JSON/CSV"; timesketch/lib/utils.py
 * `read_and_validate_jsonl`): one JSON object per line with the mandatory `message`, `datetime`
 * (ISO 8601) and `timestamp_desc`; `timestamp` (microseconds since the epoch) is derived from
 * `datetime` when absent, so custody writes it exactly; every other key becomes an event attribute.
 * Keys Timesketch scrubs (`_id`, `_type`, `_index`, `_source`, `__ts_timeline_id`) and the
 * special `tag` list are never written.
 *
 * Attributes: the model's columns (`time` keeps full nanoseconds; `attrs` stays the JSON text
 * the model stores, so source-specific fields cannot collide in the OpenSearch mapping), plus
 * custody's `links`, `identity_chain` and `bundle`.
 */

/** One line describing the row: what, outcome, who, with which credential, from where, and the workload behind it. */
export function rowMessage(row: TimelineRow): string {
  const parts: string[] = [];
  const s = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
  parts.push([row.action, s(row.target)].filter(Boolean).join(' '));
  parts.push(`(${row.outcome})`);
  const actor = s(row.actor_id) ?? s(row.exe) ?? s(row.comm);
  if (actor) parts.push(`by ${actor}`);
  if (s(row.credential_id)) parts.push(`with ${s(row.credential_id)}`);
  if (s(row.src_ip)) parts.push(`from ${s(row.src_ip)}`);
  if (s(row.dst_ip)) parts.push(`to ${s(row.dst_ip)}${typeof row.dst_port === 'number' ? `:${row.dst_port}` : ''}`);
  const pod = row.identity_chain.find((c) => c.type === 'workload');
  if (pod) parts.push(`[workload ${pod.id}]`);
  return parts.join(' ');
}

/** Timesketch's `datetime`: ISO 8601 with microseconds and an explicit UTC offset, as Timesketch itself normalizes it. */
export function timesketchDatetime(ns: bigint): string {
  const us = ns / 1000n;
  const sec = us / 1_000_000n;
  const frac = (us % 1_000_000n + 1_000_000n) % 1_000_000n;
  const base = new Date(Number(sec - (us < 0n && frac !== 0n ? 1n : 0n)) * 1000).toISOString().slice(0, 19);
  return `${base}.${frac.toString().padStart(6, '0')}+00:00`;
}

export function toTimesketch(row: TimelineRow): Record<string, unknown> {
  const ns = parseTimeNs(row.time) ?? 0n;
  const out: Record<string, unknown> = {
    message: rowMessage(row),
    datetime: timesketchDatetime(ns),
    timestamp: Number(ns / 1000n),
    timestamp_desc: 'Event Time',
    data_type: `custody:${row.source}:${row.category}`,
  };
  for (const c of COLUMNS) {
    const v = row[c.name];
    out[c.name] = c.name === 'attrs' ? (v === null || v === undefined ? null : JSON.stringify(v)) : (v ?? null);
  }
  out.links = row.links;
  out.identity_chain = row.identity_chain;
  out.bundle = row.bundle;
  return out;
}
