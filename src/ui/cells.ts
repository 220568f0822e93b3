import type { ChainElement, TimelineRow } from '../reconstruct/index.js';
import { escapeText } from '../util/escape.js';

/** The short texts a timeline row shows, all escaped for the terminal. Shared by the table printer and the Ink UI. */
export interface RowCells {
  time: string;
  source: string;
  outcome: string;
  actor: string;
  credential: string;
  who: string;
  action: string;
  target: string;
  behind: string;
}

function shortId(id: string): string {
  const assumed = /:assumed-role\/(.+)$/.exec(id);
  if (assumed) return assumed[1]!;
  const arn = /^arn:aws[a-z-]*:[a-z0-9-]*::\d*:(.+)$/.exec(id);
  if (arn) return arn[1]!;
  const sa = /^system:serviceaccount:(.+)$/.exec(id);
  if (sa) return `sa:${sa[1]}`;
  return id;
}

/** The principal furthest back that the evidence reaches: a workload, else a service account, else the last hop. */
export function behind(chain: readonly ChainElement[]): string {
  if (chain.length <= 1) return '';
  const pod = chain.find((c) => c.type === 'workload');
  const sa = chain.find((c) => c.type === 'service_account');
  const parts: string[] = [];
  if (pod) parts.push(`pod ${pod.id}`);
  if (sa) parts.push(shortId(sa.id));
  if (parts.length === 0) {
    const last = chain[chain.length - 1]!;
    if (last.via !== 'session-issuer') parts.push(shortId(last.id));
  }
  return parts.join(' · ');
}

export function rowCells(row: TimelineRow): RowCells {
  const actor = typeof row.actor_id === 'string' ? shortId(row.actor_id) : '-';
  const cred = typeof row.credential_id === 'string' ? row.credential_id : '';
  return {
    time: displayTime(row.time),
    source: row.source,
    outcome: row.outcome,
    actor: escapeText(actor),
    credential: escapeText(cred),
    who: escapeText(cred ? `${actor} → ${cred}` : actor),
    action: escapeText(row.action),
    target: escapeText(typeof row.target === 'string' ? row.target : ''),
    behind: escapeText(behind(row.identity_chain)),
  };
}

/** Cuts text to a display width, marking the cut. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text.padEnd(width);
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

/** ISO time as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), always 23 characters. */
export function displayTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(iso);
  if (!m) return iso;
  return `${m[1]} ${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}`;
}
