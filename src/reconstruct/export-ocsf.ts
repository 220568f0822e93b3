import { COLUMNS } from '../model/columns.js';
import { parseTimeNs } from '../model/time.js';
import { TOOL_VERSION } from '../util/version.js';
import { rowMessage } from './export-timesketch.js';
import type { TimelineRow } from './timeline.js';

/**
 * A timeline row as an OCSF 1.5.0 event (schema.ocsf.io/1.5.0). The row's category picks the class:
 *   process → Process Activity (1007)      file → File System Activity (1001)
 *   network → Network Activity (4001)      auth, credential → Authentication (3002)
 *   api, policy, enforcement → API Activity (6003)
 *   gap (recorder losses) → Base Event (0): OCSF has no class for "evidence was lost".
 * Actor, session and credential go where OCSF defines them: actor.user (uid, name, type_id),
 * actor.session (credential_uid = the access key / token id presented, issuer, expiration_time,
 * uid_alt = the role-session ARN), and for an issuance (Authentication) the issued credential in
 * `session` with `user` the principal that received it. custody's links, identity chain and every
 * model column without an OCSF home are kept in `unmapped`.
 * Only attributes defined for the class (or the `host` profile, declared in metadata.profiles)
 * are written; test/export/ocsf.test.ts validates that against the published definitions.
 */

export const OCSF_VERSION = '1.5.0';

type Obj = Record<string, unknown>;

interface ClassDef {
  uid: number;
  name: string;
  category_uid: number;
  category_name: string;
}

const CLASSES = {
  process: { uid: 1007, name: 'Process Activity', category_uid: 1, category_name: 'System Activity' },
  file: { uid: 1001, name: 'File System Activity', category_uid: 1, category_name: 'System Activity' },
  network: { uid: 4001, name: 'Network Activity', category_uid: 4, category_name: 'Network Activity' },
  auth: { uid: 3002, name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management' },
  api: { uid: 6003, name: 'API Activity', category_uid: 6, category_name: 'Application Activity' },
} as const satisfies Record<string, ClassDef>;

const PROCESS_ACTIVITY: Record<string, [number, string]> = {
  exec: [1, 'Launch'], execve: [1, 'Launch'], execveat: [1, 'Launch'], fork: [1, 'Launch'], clone: [1, 'Launch'],
  exit: [2, 'Terminate'], kill: [2, 'Terminate'],
  setuid: [5, 'Set User ID'], setresuid: [5, 'Set User ID'], setreuid: [5, 'Set User ID'],
};
const FILE_ACTIVITY: Record<string, [number, string]> = {
  create: [1, 'Create'], creat: [1, 'Create'], read: [2, 'Read'], write: [3, 'Update'], update: [3, 'Update'],
  delete: [4, 'Delete'], unlink: [4, 'Delete'], unlinkat: [4, 'Delete'], rename: [5, 'Rename'],
  chmod: [6, 'Set Attributes'], chown: [6, 'Set Attributes'], mount: [12, 'Mount'], umount: [13, 'Unmount'],
  open: [14, 'Open'], openat: [14, 'Open'],
};
const NETWORK_ACTIVITY: Record<string, [number, string]> = {
  connect: [1, 'Open'], accept: [1, 'Open'], open: [1, 'Open'], close: [2, 'Close'], reset: [3, 'Reset'], rst: [3, 'Reset'],
  listen: [7, 'Listen'], traffic: [6, 'Traffic'],
};
const API_VERBS: [RegExp, number, string][] = [
  [/^(get|list|watch|describe|head|lookup|search|query|scan|select|batchget|read|view|download)/i, 2, 'Read'],
  [/^(create|put|post|run|start|add|attach|issue|generate|register|upload|import|copy|invoke)/i, 1, 'Create'],
  [/^(update|patch|modify|set|change|replace|enable|disable|tag|untag|associate|rotate|reset|restore|apply)/i, 3, 'Update'],
  [/^(delete|remove|detach|terminate|destroy|revoke|deregister|deletecollection|purge|stop)/i, 4, 'Delete'],
];

const s = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);
const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && /^\d+$/.test(v) && Number(v) <= Number.MAX_SAFE_INTEGER ? Number(v) : null);

/** Drops null, undefined and empty objects, so only attributes with a value are written. */
function compact(o: Obj): Obj | undefined {
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as Obj).length === 0) continue;
    out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function ms(iso: unknown): number | null {
  const t = typeof iso === 'string' ? parseTimeNs(iso) : null;
  return t === null ? null : Number(t / 1_000_000n);
}

function basename(p: string): string {
  const parts = p.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? p;
}

/** The verb of an action: `exec`, `get secrets` → get, `s3:GetObject` → GetObject. */
function verbOf(action: string): string {
  const afterColon = action.includes(':') && !action.includes(' ') ? action.slice(action.lastIndexOf(':') + 1) : action;
  return afterColon.split(/[\s/]/)[0] ?? '';
}

/** OCSF user.type_id (1.5.0): 0 Unknown, 1 User, 2 Admin, 3 System, 99 Other (type carries custody's actor_type). */
function userOf(id: string | null, name: string | null, actorType: string | null): Obj | undefined {
  if (!id && !name) return undefined;
  const [typeId, type] = actorType === 'human' ? [1, 'User'] : actorType === 'agent' ? [3, 'System'] : actorType && actorType !== 'unknown' ? [99, actorType] : [0, 'Unknown'];
  return compact({ uid: id, name: name ?? id, type_id: typeId, type });
}

function sessionOf(row: TimelineRow): Obj | undefined {
  return compact({
    credential_uid: s(row.credential_id),
    issuer: s(row.credential_issuer) ?? s(row.session_issuer),
    expiration_time: ms(row.credential_expires),
    uid_alt: row.actor_type === 'role_session' ? s(row.actor_id) : null,
  });
}

function processOf(row: TimelineRow): Obj | undefined {
  const exe = s(row.exe);
  const argv = Array.isArray(row.argv) ? (row.argv as unknown[]).filter((a): a is string => typeof a === 'string') : null;
  return compact({
    pid: n(row.pid),
    uid: s(row.process_key),
    name: s(row.comm) ?? (exe ? basename(exe) : null),
    path: exe,
    cmd_line: argv && argv.length > 0 ? argv.join(' ') : null,
    file: exe ? { name: basename(exe), path: exe, type_id: 1, type: 'Regular File' } : null,
    parent_process: compact({ pid: n(row.ppid), uid: s(row.parent_key) }),
    user: n(row.uid) !== null ? { uid: String(n(row.uid)) } : null,
  });
}

function endpoint(addr: unknown, port: unknown, hostname?: string | null): Obj | undefined {
  const a = s(addr);
  const isIp = a !== null && /^[0-9a-f:.]+$/i.test(a) && (a.includes('.') || a.includes(':'));
  return compact({ ip: isIp ? a : null, svc_name: a && !isIp ? a : null, port: n(port), hostname: hostname ?? null });
}

/** The host name in a target like `https://host:443/path`, `host:port/path` or `host`; null for addresses, paths and SPIFFE ids. */
function hostOf(target: string): string | null {
  let t = target.trim();
  if (/^spiffe:/i.test(t) || t.startsWith('/') || t.startsWith('[')) return null;
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]+)/i.exec(t);
  if (url) t = url[1]!.replace(/^[^@]*@/, '');
  const host = t.split('/')[0]!.split(':')[0]!;
  if (!/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$/i.test(host) || /^[\d.]+$/.test(host)) return null;
  return host.toLowerCase();
}

function deviceOf(row: TimelineRow): Obj {
  return compact({ hostname: s(row.host), type_id: 0, type: 'Unknown' })!;
}

function statusOf(row: TimelineRow): Obj {
  const [id, name] = row.outcome === 'success' || row.outcome === 'allowed' ? [1, 'Success'] : row.outcome === 'failure' || row.outcome === 'denied' ? [2, 'Failure'] : [0, 'Unknown'];
  const code = n(row.attrs?.response_code);
  return compact({ status_id: id, status: name, status_code: code !== null ? String(code) : null, status_detail: s(row.reason) })!;
}

/** Model columns given an OCSF home below; the rest go to `unmapped`. */
const MAPPED = new Set(['time', 'action', 'outcome', 'reason', 'actor_id', 'actor_name', 'credential_id', 'credential_expires', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'user_agent', 'pid', 'ppid', 'parent_key', 'process_key', 'exe', 'argv', 'comm', 'uid', 'event_id', 'attrs']);

function unmappedOf(row: TimelineRow): Obj {
  const out: Obj = {};
  for (const c of COLUMNS) {
    if (MAPPED.has(c.name)) continue;
    const v = row[c.name];
    if (v !== null && v !== undefined) out[c.name] = v;
  }
  if (row.attrs) out.attrs = row.attrs;
  out.links = row.links;
  out.identity_chain = row.identity_chain;
  out.bundle = row.bundle;
  return out;
}

function serviceName(row: TimelineRow): string {
  const a = row.action;
  if (row.source === 'k8s_audit') return 'kubernetes';
  if (/^[a-z0-9-]+:[A-Za-z]/.test(a)) return a.slice(0, a.indexOf(':'));
  return row.source;
}

export function toOcsf(row: TimelineRow): Obj {
  const ns = parseTimeNs(row.time) ?? 0n;
  const verb = verbOf(row.action).toLowerCase();
  const actorUser = userOf(s(row.actor_id), s(row.actor_name), s(row.actor_type));
  const session = sessionOf(row);
  const process = processOf(row);
  let cls: ClassDef | null;
  let activity: [number, string];
  let profiles: string[] | undefined;
  const specific: Obj = {};

  switch (row.category) {
    case 'process':
      cls = CLASSES.process;
      activity = PROCESS_ACTIVITY[verb] ?? [99, 'Other'];
      specific.actor = compact({ user: actorUser, session, process: process ? compact({ pid: n(row.ppid), uid: s(row.parent_key) }) : null });
      specific.device = deviceOf(row);
      specific.process = process ?? {};
      if (n(row.attrs?.exit_code) !== null) specific.exit_code = n(row.attrs?.exit_code);
      break;
    case 'file': {
      cls = CLASSES.file;
      activity = FILE_ACTIVITY[verb] ?? [99, 'Other'];
      const path = s(row.target);
      specific.actor = compact({ user: actorUser, session, process }) ?? {};
      specific.device = deviceOf(row);
      specific.file = compact({ name: path ? basename(path) : '', path, type_id: 0, type: 'Unknown' });
      break;
    }
    case 'network': {
      cls = CLASSES.network;
      activity = row.outcome === 'denied' ? [5, 'Refuse'] : row.outcome === 'failure' ? [4, 'Fail'] : (NETWORK_ACTIVITY[verb] ?? [99, 'Other']);
      const target = s(row.target);
      const host = target ? hostOf(target) : null;
      specific.src_endpoint = endpoint(row.src_ip, row.src_port);
      specific.dst_endpoint = endpoint(row.dst_ip, row.dst_port, host);
      const actor = compact({ user: actorUser, session, process });
      if (actor) specific.actor = actor;
      if (s(row.host)) specific.device = deviceOf(row);
      if (actor || specific.device) profiles = ['host'];
      break;
    }
    case 'auth':
    case 'credential': {
      cls = CLASSES.auth;
      const issued = s(row.issued_credential_id);
      activity = row.category === 'auth' ? (/login|logon|signin|authenticate/i.test(row.action) ? [1, 'Logon'] : /logout|logoff|signout/i.test(row.action) ? [2, 'Logoff'] : [99, 'Other']) : [99, 'Credential Issuance'];
      if (issued || s(row.issued_to)) {
        // An issuance: `user` received the credential; actor is whoever asked for it.
        specific.user = userOf(s(row.issued_to), s(row.issued_to), row.source === 'k8s_audit' ? 'service_account' : 'role_session') ?? actorUser ?? {};
        specific.session = compact({ credential_uid: issued, created_time: Number(ns / 1_000_000n), expiration_time: ms(row.issued_credential_expires), uid_alt: s(row.issued_to), issuer: s(row.target) ?? s(row.credential_issuer) });
        specific.actor = compact({ user: actorUser, session });
      } else {
        specific.user = actorUser ?? {};
        specific.session = session;
      }
      specific.service = { name: serviceName(row) };
      specific.src_endpoint = endpoint(row.src_ip, row.src_port);
      specific.http_request = compact({ user_agent: s(row.user_agent) });
      break;
    }
    case 'gap':
      cls = null;
      activity = [99, 'Other'];
      break;
    default: {
      cls = CLASSES.api;
      const v = API_VERBS.find(([re]) => re.test(verb));
      activity = v ? [v[1], v[2]] : [99, 'Other'];
      const code = n(row.attrs?.response_code);
      specific.actor = compact({ user: actorUser, session }) ?? {};
      specific.api = compact({
        operation: row.action,
        service: { name: serviceName(row) },
        request: s(row.source_event_id) ? { uid: s(row.source_event_id) } : null,
        response: compact({ code, error: row.outcome === 'denied' || row.outcome === 'failure' ? (s(row.reason)?.split(':')[0] ?? null) : null, message: s(row.reason) }),
      });
      specific.src_endpoint = endpoint(row.src_ip, row.src_port) ?? { name: 'unknown' };
      if (s(row.dst_ip)) specific.dst_endpoint = endpoint(row.dst_ip, row.dst_port);
      specific.http_request = compact({ user_agent: s(row.user_agent) });
      if (s(row.target)) specific.resources = [{ uid: s(row.target) }];
    }
  }

  const classUid = cls?.uid ?? 0;
  const event: Obj = {
    class_uid: classUid,
    ...(cls ? { class_name: cls.name, category_uid: cls.category_uid, category_name: cls.category_name } : { category_uid: 0 }),
    activity_id: activity[0],
    activity_name: activity[1],
    type_uid: classUid * 100 + activity[0],
    ...(cls ? { type_name: `${cls.name}: ${activity[1]}` } : {}),
    severity_id: 1,
    severity: 'Informational',
    time: Number(ns / 1_000_000n),
    message: rowMessage(row),
    ...statusOf(row),
    metadata: compact({
      version: OCSF_VERSION,
      product: { name: 'custody', vendor_name: 'custody', version: TOOL_VERSION },
      uid: row.event_id,
      event_code: row.action,
      log_name: row.source,
      profiles,
    }),
  };
  for (const [k, v] of Object.entries(specific)) if (v !== undefined && v !== null) event[k] = v;
  event.unmapped = unmappedOf(row);
  return event;
}
