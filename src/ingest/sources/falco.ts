import type { ActorType, Category } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { compact, isObj, num, obj, str, strs, text, type Obj, type ParseResult, type SourceParser } from '../source.js';

/**
 * Falco alerts as Falco writes them with `json_output: true` (stdout, file or program output, one
 * JSON object per line: output, priority, rule, time, output_fields, source, tags, hostname, uuid).
 *
 * An alert is a detection, not an action: its outcome is `unknown`, its reason the alert text,
 * and the action it saw is described by output_fields (process, file, connection, or the
 * Kubernetes audit request for k8s_audit alerts). proc.cmdline is kept whole in attrs: Falco joins
 * arguments with spaces and does not quote them, so they cannot be split back into argv.
 *
 * Falco's text output (`json_output: false`, `<time>: <Priority> <output>`) is recognized and
 * quarantined line by line: it carries neither the rule name nor the fields, and by default its
 * time has no date (HH:MM:SS.ns), so it cannot be placed on a timeline or linked.
 */

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Info', 'Debug'];
const TEXT_RE = new RegExp(`^(\\d{4}-\\d{2}-\\d{2}T\\S+|\\d{2}:\\d{2}:\\d{2}\\.\\d{6,9}): (${PRIORITIES.join('|')}) `);
const TEXT_DATED_RE = /^\d{4}-\d{2}-\d{2}T/;

function isAlert(v: unknown): v is Obj {
  return isObj(v) && typeof v.rule === 'string' && typeof v.priority === 'string' && typeof v.output === 'string' && (isObj(v.output_fields) || typeof v.time === 'string');
}

function parseObject(line: string): Obj | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `172.17.0.9:43812->10.96.0.1:443` (fd.name of a connected socket): client → server. */
const CONN_RE = /^(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]+):(\d{1,5})->(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]+):(\d{1,5})$/;

const SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;

function k8sActorType(user: string): ActorType {
  if (SA_RE.test(user)) return 'service_account';
  if (user === 'system:anonymous') return 'unknown';
  if (user === 'system:admin') return 'human';
  if (user.startsWith('system:')) return 'agent';
  return 'human';
}

/** Falco logs `<NA>` (and null) for fields it could not fill, and `host` as the container of host processes. */
function field(f: Obj | undefined, key: string): string | undefined {
  const v = text(f?.[key]);
  return v === undefined || v === '<NA>' || v === 'N/A' ? undefined : v;
}

function port(v: string | undefined): number | undefined {
  const n = num(v);
  return n !== undefined && Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/** Short attrs copy of the fields not mapped to columns (values cut at 1 KiB). */
function otherFields(f: Obj | undefined, used: Set<string>): Record<string, unknown> | undefined {
  if (!f) return undefined;
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(f)) {
    if (used.has(k) || n >= 64) continue;
    if (typeof v === 'string') out[k] = v.length > 1024 ? `${v.slice(0, 1024)}…` : v;
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
    else continue;
    n++;
  }
  return n ? out : undefined;
}

const USED = new Set([
  'proc.pid', 'proc.ppid', 'proc.exepath', 'proc.exe', 'proc.cmdline', 'proc.name', 'user.uid', 'user.name', 'container.id', 'container.full_id',
  'k8s.ns.name', 'k8s.pod.name', 'k8s.pod.uid', 'fd.name', 'fd.sip', 'fd.sport', 'fd.cip', 'fd.cport', 'fd.l4proto', 'fd.type', 'evt.type',
  'ka.user.name', 'ka.verb', 'ka.target.namespace', 'ka.target.resource', 'ka.target.subresource', 'ka.target.name', 'ka.uri', 'ka.response.code',
  'ka.sourceips', 'ka.useragent', 'ka.auth.decision', 'ka.auth.reason', 'evt.time', 'evt.time.iso8601', 'fs.path.name', 'fs.path.target',
]);

function parseAlert(a: Obj): ParseResult {
  const rule = str(a.rule)!;
  const timeText = str(a.time);
  if (!timeText) return { ok: false, reason: 'Falco alert without a time' };
  const time = parseTimeNs(timeText);
  if (time === null) return { ok: false, reason: `time is not a timestamp: ${JSON.stringify(timeText.slice(0, 64))}` };
  const f = obj(a.output_fields);
  const source = str(a.source);
  const isK8s = source === 'k8s_audit' || source === 'k8saudit' || (source === undefined && f !== undefined && Object.keys(f).some((k) => k.startsWith('ka.')));
  const isSyscall = source === 'syscall' || (source === undefined && !isK8s);

  const fdName = field(f, 'fd.name');
  const conn = fdName ? CONN_RE.exec(fdName) : null;
  const fdType = field(f, 'fd.type');
  const sip = field(f, 'fd.sip');
  const cip = field(f, 'fd.cip');
  let category: Category = 'api';
  let target: string | undefined;
  let src: { ip?: string; port?: number } | undefined;
  let dst: { ip?: string; port?: number } | undefined;
  if (isSyscall) {
    if (conn || sip || cip || fdType === 'ipv4' || fdType === 'ipv6') {
      category = 'network';
      // fd.cip/cport are the client end, fd.sip/sport the server end of the connection.
      src = { ip: cip ?? conn?.[1], port: port(field(f, 'fd.cport')) ?? port(conn?.[2]) };
      dst = { ip: sip ?? conn?.[3], port: port(field(f, 'fd.sport')) ?? port(conn?.[4]) };
      target = dst.ip ? `${dst.ip}${dst.port !== undefined ? `:${dst.port}` : ''}` : fdName;
    } else if ((fdName && fdName.startsWith('/')) || field(f, 'fs.path.name')) {
      category = 'file';
      target = field(f, 'fs.path.name') ?? fdName;
    } else {
      category = 'process';
      target = field(f, 'proc.exepath') ?? field(f, 'proc.name');
    }
  }

  let actorId: string | undefined;
  let k8sNamespace = field(f, 'k8s.ns.name');
  let k8sSa: string | undefined;
  if (isK8s) {
    actorId = field(f, 'ka.user.name');
    const sa = actorId ? SA_RE.exec(actorId) : null;
    if (sa) {
      k8sNamespace = sa[1];
      k8sSa = sa[2];
    }
    const ns = field(f, 'ka.target.namespace');
    const resource = field(f, 'ka.target.resource');
    target = resource ? [ns, resource, field(f, 'ka.target.name'), field(f, 'ka.target.subresource')].filter(Boolean).join('/') : field(f, 'ka.uri');
  }

  const cmdline = field(f, 'proc.cmdline');
  const containerFull = field(f, 'container.full_id');
  const containerShort = field(f, 'container.id');
  const container = containerFull ?? (containerShort !== 'host' ? containerShort : undefined);
  const sourceIps = field(f, 'ka.sourceips');
  const tags = strs(a.tags);
  const event: EventDraft = {
    source_event_id: str(a.uuid) ?? null,
    time,
    host: str(a.hostname) ?? null,
    category,
    action: `falco:${rule}`,
    outcome: 'unknown',
    target: target ?? null,
    reason: str(a.output) ?? null,
    actor_id: actorId ?? null,
    actor_type: actorId ? k8sActorType(actorId) : null,
    actor_name: actorId ?? null,
    k8s_namespace: k8sNamespace ?? null,
    k8s_pod: field(f, 'k8s.pod.name') ?? null,
    k8s_pod_uid: field(f, 'k8s.pod.uid') ?? null,
    k8s_service_account: k8sSa ?? null,
    k8s_node: actorId?.startsWith('system:node:') ? actorId.slice('system:node:'.length) : null,
    container_id: container ?? null,
    src_ip: src?.ip ?? (isK8s && sourceIps ? sourceIps.replace(/^\[|\]$/g, '').split(',')[0]!.trim() || null : null),
    src_port: src?.port ?? null,
    dst_ip: dst?.ip ?? null,
    dst_port: dst?.port ?? null,
    protocol: field(f, 'fd.l4proto') ?? (category === 'network' ? 'tcp' : null),
    user_agent: field(f, 'ka.useragent') ?? null,
    pid: num(f?.['proc.pid']) ?? null,
    ppid: num(f?.['proc.ppid']) ?? null,
    uid: num(f?.['user.uid']) ?? null,
    exe: field(f, 'proc.exepath') ?? null,
    // proc.cmdline joins the arguments with spaces, unquoted: `sh -c "a; b"` and `sh -c a; b` log
    // the same. Splitting it would make up argument boundaries, so argv stays null (attrs.cmdline).
    argv: null,
    comm: field(f, 'proc.name') ?? null,
    attrs: compact({
      rule,
      priority: str(a.priority),
      source,
      tags: tags.length ? tags : undefined,
      cmdline,
      user_name: field(f, 'user.name'),
      evt_type: field(f, 'evt.type'),
      fd_name: fdName,
      container_id_truncated: !containerFull && container && container.length < 64 ? true : undefined,
      verb: field(f, 'ka.verb'),
      request_uri: field(f, 'ka.uri'),
      response_code: num(f?.['ka.response.code']),
      decision: field(f, 'ka.auth.decision'),
      authz_reason: field(f, 'ka.auth.reason'),
      source_ips: sourceIps,
      fields: otherFields(f, USED),
    }),
  };
  return { ok: true, event };
}

export const falco: SourceParser = {
  name: 'falco',
  title: 'Falco alerts',
  // JSON alerts are one per line; text-format alerts are recognized too (and quarantined), so lines.
  format: 'text',

  detect(sample) {
    if (typeof sample !== 'string') return false;
    const line = sample.trim();
    if (line.startsWith('{')) return isAlert(parseObject(line));
    return TEXT_RE.test(line);
  },

  parse(record): ParseResult {
    if (typeof record !== 'string') return { ok: false, reason: 'not a text line' };
    const line = record.trim();
    if (line.startsWith('{')) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch (err) {
        return { ok: false, reason: `invalid JSON: ${(err as Error).message}` };
      }
      if (!isAlert(v)) return { ok: false, reason: 'not a Falco alert: no rule, priority and output' };
      return parseAlert(v);
    }
    if (TEXT_RE.test(line)) {
      return {
        ok: false,
        reason: TEXT_DATED_RE.test(line)
          ? 'Falco text output: no rule name, source or fields to normalize; run Falco with json_output: true'
          : 'Falco text output: no date (HH:MM:SS only), rule name or fields; run Falco with json_output: true',
      };
    }
    return { ok: false, reason: 'not a Falco alert' };
  },
};
