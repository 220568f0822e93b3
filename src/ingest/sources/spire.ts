import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { compact, isObj, num, type ParseResult, type SourceParser } from '../source.js';

/**
 * SPIRE server and agent logs (https://github.com/spiffe/spire), one line at a time, in the
 * formats SPIRE writes them:
 *  - logrus text: `time="…" level=info msg="…" key=value key="quoted \"value\"" …`
 *  - logrus JSON (`log_format = "json"`): `{"level":"info","msg":"…","time":"…",…}`
 *  - either of them behind a journald/syslog prefix (`Apr 30 07:54:53 host spire-agent[1366]: …`).
 * Field names are SPIRE's telemetry names (pkg/common/telemetry/names.go): spiffe_id, serial_num,
 * expiration/expires_at, agent_id, node_attestor_type/attestor, selectors, caller_id, caller_uid,
 * caller_path, entry_id, method, status ….
 *
 * Identity events become rows: SVID signing (issuance; `issued_credential_id` is the certificate
 * serial, or `<spiffe_id>@<expiry>` when the line has no serial), SVID creation and rotation on the
 * agent, node and workload attestation (selectors → k8s_* columns), registration-entry changes and
 * every server API audit line (who called: caller SPIFFE id, or local uid and binary). Start-up lines
 * that document configuration (agent/server start, plugins loaded) are kept as `lifecycle`/`plugin`
 * rows; warnings and errors are kept as `log.<level>` rows. Other internal lines (listeners opened,
 * notifier events, "no pre-existing SVID") are not identity events and are quarantined with that
 * reason, as are logrus terminal-format lines (`INFO[0000] …`), which carry no wall-clock time.
 */

type Fields = Record<string, string>;

const IP_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;
const SYSLOG_RE = /^(?:([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}|\d{4}-\d{2}-\d{2}T\S+)\s+(\S+)\s+)?.*?\b(spire-(?:server|agent))(?:\[\d+\])?:\s+(?=time=|level=|\{)/;
const TTY_RE = /^(PANI|FATA|ERRO|WARN|INFO|DEBU|TRAC)\[\d+\]\s/;
const LOGRUS_START_RE = /^(time|level|msg)=/;

/** Messages only SPIRE writes, for detecting a file whose first line carries no other marker. */
const SPIRE_MSG_RE = /SVID|node attestation|attested to have selectors|^Current umask \d+ is too permissive|registration entr|trust bundle/i;
/** SPIRE's plugin types (`Plugin loaded` lines name one). */
const SPIRE_PLUGIN_TYPES = new Set(['NodeAttestor', 'WorkloadAttestor', 'KeyManager', 'DataStore', 'UpstreamAuthority', 'Notifier', 'NodeResolver', 'SVIDStore', 'BundlePublisher', 'CredentialComposer']);

const SERVER_SUBSYSTEMS = new Set(['ca', 'ca_manager', 'node_api', 'api', 'datastore', 'registration_api', 'bundle_client', 'server_ca', 'authorized_entryfetcher', 'entry_cache', 'jwt_key', 'x509_ca']);
const AGENT_SUBSYSTEMS = new Set(['manager', 'cache_manager', 'attestor', 'workload_attestor', 'workload_api', 'svid_store_cache', 'sds_api', 'svid_store', 'delegated_identity']);
const COLUMN_FIELDS = new Set(['time', 'level', 'msg']);
/** Fields that name a workload or agent identity (a trust_domain_id alone does not). */
const IDENTITY_FIELDS = ['spiffe_id', 'agent_id', 'caller_id', 'parent_id'];
const MAX_ATTR_VALUE = 1024;
const AGENT_PLUGIN_TYPES = new Set(['WorkloadAttestor', 'SVIDStore']);
const SERVER_PLUGIN_TYPES = new Set(['NodeResolver', 'DataStore', 'UpstreamAuthority', 'Notifier', 'BundlePublisher', 'CredentialComposer', 'UpstreamCA']);

// ---- line formats ----

const GO_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" };

/** Reads a Go %q-quoted string starting at s[i] === '"'; returns the value and the index after it. */
function readQuoted(s: string, i: number): { value: string; next: number } | null {
  let out = '';
  let j = i + 1;
  while (j < s.length) {
    const c = s[j]!;
    if (c === '"') return { value: out, next: j + 1 };
    if (c !== '\\') {
      out += c;
      j++;
      continue;
    }
    const e = s[j + 1];
    if (e === undefined) return null;
    if (e in GO_ESCAPES) {
      out += GO_ESCAPES[e];
      j += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = s.slice(j + 2, j + 2 + len);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) return null;
      const code = parseInt(hex, 16);
      out += e === 'x' ? String.fromCharCode(code) : code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
      j += 2 + len;
    } else if (/[0-7]/.test(e)) {
      const oct = s.slice(j + 1, j + 4);
      if (!/^[0-7]{3}$/.test(oct)) return null;
      out += String.fromCharCode(parseInt(oct, 8));
      j += 4;
    } else return null;
  }
  return null;
}

/** logrus TextFormatter output → fields, or null when the line is not in that format. */
export function parseLogrusText(line: string): Fields | null {
  const fields: Fields = {};
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && line[i] === ' ') i++;
    if (i >= n) break;
    const eq = line.indexOf('=', i);
    if (eq <= i) return null;
    const key = line.slice(i, eq);
    if (/\s|"/.test(key)) return null;
    i = eq + 1;
    if (line[i] === '"') {
      const q = readQuoted(line, i);
      if (!q) return null;
      fields[key] = q.value;
      i = q.next;
      if (i < n && line[i] !== ' ') return null;
    } else {
      let j = i;
      while (j < n && line[j] !== ' ') j++;
      fields[key] = line.slice(i, j);
      i = j;
    }
  }
  return Object.keys(fields).length > 0 ? fields : null;
}

function parseJsonLine(line: string): Fields | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObj(v)) return null;
  const fields: Fields = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === 'string') fields[k] = x;
    else if (typeof x === 'number' || typeof x === 'boolean') fields[k] = String(x);
    else if (x !== null && x !== undefined) fields[k] = JSON.stringify(x);
  }
  return fields;
}

interface Line {
  fields: Fields | null;
  format: 'text' | 'json' | 'tty' | 'other';
  program?: 'spire-server' | 'spire-agent';
  host?: string;
}

function readLine(raw: string): Line {
  let line = raw.trim();
  let program: Line['program'];
  let host: string | undefined;
  const sys = SYSLOG_RE.exec(line);
  if (sys) {
    host = sys[1] ? sys[2] : undefined;
    program = sys[3] as Line['program'];
    line = line.slice(sys[0].length);
  }
  if (line.startsWith('{')) return { fields: parseJsonLine(line), format: 'json', program, host };
  if (LOGRUS_START_RE.test(line)) return { fields: parseLogrusText(line), format: 'text', program, host };
  if (TTY_RE.test(line)) return { fields: null, format: 'tty', program, host };
  return { fields: null, format: 'other', program, host };
}

function spireMarked(f: Fields): boolean {
  if ('subsystem_name' in f) return true;
  if (Object.values(f).some((v) => v.includes('spiffe://'))) return true;
  const msg = f.msg ?? '';
  if (/^Starting (agent|server)\b/i.test(msg)) return 'data_dir' in f || msg.includes('data directory');
  if (/^(Plugin loaded|Configured plugin)/.test(msg)) return f.plugin_type !== undefined && SPIRE_PLUGIN_TYPES.has(f.plugin_type);
  return SPIRE_MSG_RE.test(msg);
}

// ---- fields → columns ----

interface Selectors {
  list: string[];
  namespace?: string;
  serviceAccount?: string;
  podUid?: string;
  podName?: string;
  node?: string;
  containerId?: string;
  uid?: number;
}

/**
 * Selectors as SPIRE logs them: the agent's proto text (`[type:"k8s" value:"ns:default" …]`) or
 * the server's comma list (`k8s:ns:default,k8s:sa:default`).
 */
export function parseSelectors(text: string | undefined): Selectors {
  const out: Selectors = { list: [] };
  if (!text) return out;
  const proto = [...text.matchAll(/type:"((?:[^"\\]|\\.)*)"\s+value:"((?:[^"\\]|\\.)*)"/g)];
  if (proto.length > 0) out.list = proto.map((m) => `${m[1]!.replace(/\\(.)/g, '$1')}:${m[2]!.replace(/\\(.)/g, '$1')}`);
  else out.list = text.replace(/^\[|\]$/g, '').split(',').map((s) => s.trim()).filter((s) => /^[^:\s]+:.+/.test(s));
  for (const s of out.list) {
    const m = /^([^:]+):([^:]+):(.*)$/.exec(s);
    if (!m) continue;
    const [, type, key, value] = m;
    if (type === 'k8s') {
      if (key === 'ns') out.namespace ??= value;
      else if (key === 'sa') out.serviceAccount ??= value;
      else if (key === 'pod-uid') out.podUid ??= value;
      else if (key === 'pod-name') out.podName ??= value;
      else if (key === 'node-name') out.node ??= value;
      else if (key === 'container-id') out.containerId ??= value;
    } else if (type === 'unix' && key === 'uid' && /^\d+$/.test(value!)) out.uid ??= Number(value);
    else if (type === 'docker' && key === 'id') out.containerId ??= value;
  }
  return out;
}

/** "10.0.2.15:41048", "[::1]:40690" → ip and port. */
function hostPort(v: string | undefined): { ip?: string; port?: number } {
  if (!v) return {};
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (m && IP_RE.test(m[1]!)) return { ip: m[1], port: Number(m[2]) };
  return IP_RE.test(v) ? { ip: v } : {};
}

type Component = 'spire-server' | 'spire-agent' | 'spire';

const SERVER_MSGS = /^(Signed (X509|JWT) SVID|Signing CSR for Agent SVID|(Agent|Node) attestation request completed|API accessed|Audit log|Starting server|Rotating server SVID)/;
const AGENT_MSGS = /^(Creating X509-SVID|Renewing X509-SVID|Renewing stale entries|PID attested to have selectors|Failed to collect all selectors|Node attestation was successful|Starting agent|Fetched (X\.509|JWT) SVID|No identity issued|Entry (created|updated|deleted)$|SVID is not found|No pre-existing agent SVID)/;

function componentOf(f: Fields, program: Line['program']): Component {
  if (program) return program;
  const msg = f.msg ?? '';
  if (SERVER_MSGS.test(msg)) return 'spire-server';
  if (AGENT_MSGS.test(msg)) return 'spire-agent';
  const sub = f.subsystem_name;
  if (sub && SERVER_SUBSYSTEMS.has(sub)) return 'spire-server';
  if (sub && AGENT_SUBSYSTEMS.has(sub)) return 'spire-agent';
  if (f.plugin_type && AGENT_PLUGIN_TYPES.has(f.plugin_type)) return 'spire-agent';
  if (f.plugin_type && SERVER_PLUGIN_TYPES.has(f.plugin_type)) return 'spire-server';
  return 'spire';
}

interface Classified {
  action: string;
  category: Category;
  outcome: Outcome;
  reason?: string;
  issue?: 'x509' | 'jwt';
  actorFromCaller?: boolean;
}

/** Which identity event a line is, or why it is not one. */
function classify(f: Fields): Classified | { skip: string } {
  const msg = f.msg ?? '';
  const level = (f.level ?? '').toLowerCase();
  const err = f.error ?? f.err;
  if (msg === 'Signed X509 SVID') return { action: 'svid.x509.sign', category: 'credential', outcome: 'success', issue: 'x509' };
  if (msg === 'Signed JWT SVID') return { action: 'svid.jwt.sign', category: 'credential', outcome: 'success', issue: 'jwt' };
  if (msg === 'Signing CSR for Agent SVID') return { action: 'svid.agent.csr', category: 'credential', outcome: 'unknown' };
  if (msg === 'Rotating server SVID') return { action: 'svid.server.rotate', category: 'credential', outcome: 'unknown' };
  if (msg === 'Creating X509-SVID') return { action: 'svid.x509.create', category: 'credential', outcome: 'unknown' };
  if (msg === 'Renewing X509-SVID') return { action: 'svid.x509.renew', category: 'credential', outcome: 'unknown' };
  if (/^Fetched (X\.509|JWT) SVID/.test(msg)) return { action: msg.includes('JWT') ? 'workload.svid.fetch_jwt' : 'workload.svid.fetch_x509', category: 'credential', outcome: 'success' };
  if (msg === 'No identity issued') return { action: 'workload.svid.fetch', category: 'auth', outcome: 'denied', reason: 'no identity issued: no registration entry matches the workload' };
  if (/^(Node|Agent) attestation request completed/.test(msg)) return { action: 'node.attest', category: 'auth', outcome: 'success' };
  if (msg === 'Node attestation was successful') return { action: 'node.attest', category: 'auth', outcome: 'success' };
  if (/attestation (failed|error)|^Failed to attest|could not attest/i.test(msg)) return { action: 'node.attest', category: 'auth', outcome: 'failure', reason: err ?? msg };
  if (msg === 'PID attested to have selectors') return { action: 'workload.attest', category: 'auth', outcome: 'success' };
  if (/^Failed to collect all selectors/.test(msg)) return { action: 'workload.attest', category: 'auth', outcome: 'failure', reason: err ?? msg };
  if (/^Entry (created|updated|deleted)$/.test(msg)) return { action: `entry.cache.${msg.split(' ')[1]}`, category: 'api', outcome: 'success' };
  if ((msg === 'API accessed' || msg === 'Audit log') && f.type === 'audit') {
    const ok = f.status !== 'error';
    const code = f.status_code;
    const outcome: Outcome = ok ? 'success' : code === 'PermissionDenied' || code === 'Unauthenticated' ? 'denied' : 'failure';
    const method = f.method ?? 'unknown';
    return { action: `api.${method}`, category: /SVID|Attest/i.test(method) ? 'credential' : 'api', outcome, reason: ok ? undefined : [code, f.status_message].filter(Boolean).join(': '), actorFromCaller: true };
  }
  if (/^Starting (agent|server)\b/.test(msg)) return { action: 'lifecycle.start', category: 'api', outcome: 'success' };
  if (/^(Plugin loaded|Configured plugin)/.test(msg)) return { action: msg.startsWith('Configured') ? 'plugin.configure' : 'plugin.load', category: 'api', outcome: 'success' };
  if (['error', 'fatal', 'panic', 'warning', 'warn'].includes(level)) {
    return { action: `log.${level === 'warn' ? 'warning' : level}`, category: 'api', outcome: level === 'warning' || level === 'warn' ? 'unknown' : 'failure', reason: err ?? msg };
  }
  if (IDENTITY_FIELDS.some((k) => f[k]?.startsWith('spiffe://'))) return { action: 'log', category: 'api', outcome: 'unknown' };
  return { skip: `SPIRE log line is not an identity event (start-up, listener or internal state): ${JSON.stringify(msg.slice(0, 80))}` };
}


export const spire: SourceParser = {
  name: 'spire',
  title: 'SPIRE server/agent logs',
  format: 'text',

  detect(sample) {
    if (typeof sample !== 'string') return false;
    const l = readLine(sample);
    if (l.format === 'tty') return /\ssubsystem_name=|spiffe:\/\//.test(sample);
    if (!l.fields) return false;
    const f = l.fields;
    if (typeof f.msg !== 'string' || typeof f.level !== 'string' || typeof f.time !== 'string') return false;
    return l.program !== undefined || spireMarked(f);
  },

  parse(record): ParseResult {
    if (typeof record !== 'string') return { ok: false, reason: 'not a text line' };
    const l = readLine(record);
    if (l.format === 'tty') return { ok: false, reason: 'logrus terminal format (INFO[0000] …): no wall-clock time, only seconds since start' };
    if (!l.fields) {
      return { ok: false, reason: l.format === 'other' ? 'not a SPIRE log line (expected logrus key=value text or JSON)' : `malformed ${l.format === 'json' ? 'JSON' : 'logrus key=value'} line` };
    }
    const f = l.fields;
    if (f.msg === undefined) return { ok: false, reason: 'log line without msg' };
    if (!f.time) return { ok: false, reason: 'log line without time' };
    const time = parseTimeNs(f.time);
    if (time === null) return { ok: false, reason: `time is not a timestamp: ${JSON.stringify(f.time.slice(0, 64))}` };
    const c = classify(f);
    if ('skip' in c) return { ok: false, reason: c.skip };

    const component = componentOf(f, l.program);
    const spiffeId = f.spiffe_id ?? f.agent_id;
    const sel = parseSelectors(f.selectors ?? f.discovered_selectors ?? f.previously_attested_selectors);
    const expiryText = f.expiration ?? f.expires_at;
    const expires = expiryText ? parseTimeNs(expiryText) : null;
    const serial = f.serial_num ?? f.serial_number ?? f.serial;

    // Who acted.
    let actorId: string | undefined;
    let actorType: ActorType | undefined;
    let uid: number | undefined;
    let exe: string | undefined;
    if (c.actorFromCaller || (c.issue && (f.caller_id || f.caller_uid !== undefined))) {
      if (f.caller_id) {
        actorId = f.caller_id;
        actorType = f.caller_id.includes('/spire/agent/') ? 'agent' : 'workload';
      } else if (f.caller_uid !== undefined) {
        uid = num(f.caller_uid);
        exe = f.caller_path;
        actorId = `uid:${f.caller_uid}${f.caller_path ? ` (${f.caller_path})` : ''}`;
        // The spire-server CLI on the admin socket is an operator; other local callers
        // (spire-controller-manager, scripts) cannot be told apart from the log line.
        actorType = /(^|\/)spire-server$/.test(f.caller_path ?? '') ? 'human' : 'unknown';
      } else if (f.caller_addr) {
        actorId = f.caller_addr;
        actorType = 'unknown';
      }
    } else if (c.action === 'node.attest') {
      actorId = f.agent_id ?? f.spiffe_id;
      actorType = 'agent';
    } else if (c.action === 'workload.attest' || c.action.startsWith('workload.svid')) {
      actorId = sel.namespace && sel.podName ? `${sel.namespace}/${sel.podName}` : f.pid ? `pid:${f.pid}` : f.spiffe_id;
      actorType = 'workload';
    }

    let issued: Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'> = {};
    let credentialBasis: string | undefined;
    if (c.issue && spiffeId) {
      let id: string | null = null;
      if (c.issue === 'x509' && serial) {
        id = serial;
        credentialBasis = 'serial';
      } else if (expiryText) {
        id = `${spiffeId}@${expiryText}`;
        credentialBasis = 'spiffe_id+expiry';
      }
      issued = { issued_credential_id: id, issued_credential_type: c.issue === 'x509' ? 'x509_svid' : 'jwt_svid', issued_credential_expires: expires, issued_to: spiffeId };
    } else if ((c.action === 'svid.x509.create' || c.action === 'svid.x509.renew') && spiffeId) {
      issued = { issued_credential_type: 'x509_svid', issued_to: spiffeId };
    }

    const src = hostPort(f.caller_addr ?? f.address);
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(f)) {
      if (COLUMN_FIELDS.has(k) || k === 'subsystem_name') continue;
      rest[k] = v.length > MAX_ATTR_VALUE ? `${v.slice(0, MAX_ATTR_VALUE)}…` : v;
    }
    const target = c.action.startsWith('plugin.') && f.plugin_name ? `${f.plugin_type ?? 'plugin'}/${f.plugin_name}` : (spiffeId ?? f.entry_id ?? f.entry);

    const event: EventDraft = {
      source_event_id: f.request_id ?? null,
      time,
      host: l.host ?? null,
      category: c.category,
      action: `${component}:${c.action}`,
      outcome: c.outcome,
      target: target ?? null,
      reason: c.reason ?? null,
      actor_id: actorId ?? null,
      actor_type: actorType ?? null,
      actor_name: actorId ?? null,
      spiffe_id: spiffeId ?? null,
      k8s_namespace: sel.namespace ?? null,
      k8s_service_account: sel.serviceAccount ?? null,
      k8s_pod: sel.podName ?? null,
      k8s_pod_uid: sel.podUid ?? null,
      k8s_node: sel.node ?? null,
      container_id: sel.containerId ?? null,
      src_ip: src.ip ?? null,
      src_port: src.port ?? null,
      pid: num(f.pid) ?? null,
      uid: uid ?? sel.uid ?? null,
      exe: exe ?? null,
      ...issued,
      attrs: compact({
        component,
        level: f.level,
        msg: f.msg,
        subsystem: f.subsystem_name,
        log_format: l.format,
        credential_id_basis: credentialBasis,
        selectors: sel.list.length ? sel.list : undefined,
        fields: Object.keys(rest).length ? rest : undefined,
      }),
    };
    return { ok: true, event };
  },
};
