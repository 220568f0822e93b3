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

/** A kernel row's process as people name it: `comm[pid]` (the process key is in the detail view). */
function processName(row: TimelineRow): string | null {
  if (row.source !== 'kernel' || typeof row.pid !== 'number') return null;
  const exe = typeof row.exe === 'string' ? row.exe.slice(row.exe.lastIndexOf('/') + 1) : '';
  return `${typeof row.comm === 'string' && row.comm ? row.comm : exe || 'pid'}[${row.pid}]`;
}

/** An argument as a shell would need it to read back the same word. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

function endpoint(ip: unknown, port: unknown): string | null {
  if (typeof ip !== 'string') return null;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return typeof port === 'number' ? `${host}:${port}` : host;
}

/**
 * What a kernel row acted on, where the row's own target does not say it: an exec's program and
 * arguments (argv[0] shown only when it is not the program's name: a process can claim any name),
 * a connection's destination, other socket rows' both ends.
 */
function kernelTarget(row: TimelineRow): string | null {
  if (row.source !== 'kernel') return null;
  if (row.action === 'exec') {
    const exe = typeof row.exe === 'string' ? row.exe : null;
    const argv = Array.isArray(row.argv) ? row.argv.map(String) : [];
    if (!exe && argv.length === 0) return null;
    const argv0 = argv[0];
    const named = argv0 === undefined || !exe || argv0 === exe || argv0 === exe.slice(exe.lastIndexOf('/') + 1);
    return [exe ?? shellWord(argv0 ?? ''), ...(named ? [] : [`[argv0 ${shellWord(argv0)}]`]), ...argv.slice(1).map(shellWord)].join(' ');
  }
  if (typeof row.target === 'string') return null;
  if (row.category === 'network') {
    const src = endpoint(row.src_ip, row.src_port);
    const dst = endpoint(row.dst_ip, row.dst_port);
    if (row.action === 'connect') return dst;
    return src && dst ? `${src} → ${dst}` : (dst ?? src);
  }
  return null;
}

export function rowCells(row: TimelineRow): RowCells {
  const actor = processName(row) ?? (typeof row.actor_id === 'string' ? shortId(row.actor_id) : '-');
  const cred = typeof row.credential_id === 'string' ? row.credential_id : '';
  const target = kernelTarget(row) ?? (typeof row.target === 'string' ? row.target : '');
  return {
    time: displayTime(row.time),
    source: row.source,
    outcome: row.outcome,
    actor: escapeText(actor),
    credential: escapeText(cred),
    who: escapeText(cred ? `${actor} → ${cred}` : actor),
    action: escapeText(row.action),
    target: escapeText(target),
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
