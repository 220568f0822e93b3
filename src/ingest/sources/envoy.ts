import type { Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { UsageError } from '../../util/errors.js';
import { compact, isObj, num, type Obj, type ParseResult, type ParserOptions, type SourceParser } from '../source.js';
import { compileJson, compileText, FormatError, jsonValue, matchJson, matchText, type JsonFormat, type TextFormat } from './envoy-format.js';

/**
 * Envoy and Istio access logs, one record per line:
 *  - Istio's default TEXT format (≥ 1.9, with RESPONSE_CODE_DETAILS and CONNECTION_TERMINATION_DETAILS),
 *    the shapes older Istio releases wrote (Mixer policy status, no route name), and Envoy's own
 *    default format;
 *  - Istio's JSON format (`accessLogEncoding: JSON`: start_time, method, path, ...);
 *  - Istio ambient ztunnel access logs (`... info access connection complete src.addr=...
 *    src.identity="spiffe://..."`, and the same as JSON);
 *  - any other Envoy format, given with `--envoy-format` (a format string or a JSON format dictionary).
 * Envoy logs '-' for unset values; custody leaves those columns null.
 */

/** Istio ≥ 1.9 (current default; UPSTREAM_CLUSTER_RAW since 1.24 renders as UPSTREAM_CLUSTER did). */
const ISTIO =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%';
const TAIL = '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"';
const HEAD = '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%';
const ADDRS = '%UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%';

/** Built-in text formats, most fields first (they never match each other's lines: field counts differ). */
const BUILTIN: readonly TextFormat[] = [
  compileText(ISTIO, 'istio'),
  // Istio's default with the caller's SPIFFE id added before the route name (the customization
  // istio/istio#35337 shows; needed to tie mesh calls to workload identities).
  compileText(ISTIO.replace('%REQUESTED_SERVER_NAME% %ROUTE_NAME%', '%REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %ROUTE_NAME%'), 'istio-peer-san'),
  // Istio with Mixer (≤ 1.7): policy status and transport failure reason after the flags.
  compileText(`${HEAD} "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${TAIL} ${ADDRS} %ROUTE_NAME%`, 'istio-mixer-utfr'),
  // Istio without Mixer, before response code details (1.6 – 1.8).
  compileText(`${HEAD} "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${TAIL} ${ADDRS} %ROUTE_NAME%`, 'istio-utfr'),
  // Istio 1.1 – 1.2: Mixer policy status, no route name.
  compileText(`${HEAD} "%DYNAMIC_METADATA(istio.mixer:status)%" ${TAIL} ${ADDRS}`, 'istio-mixer'),
  // Istio 1.0 (istio/istio#8901): Envoy's default plus cluster and addresses.
  compileText(`${HEAD} ${TAIL} ${ADDRS}`, 'istio-1.0'),
  // Envoy's default format string.
  compileText(`${HEAD} ${TAIL}`, 'envoy'),
];

/** Keys of Istio's JSON access log format (EnvoyJSONLogFormatIstio). */
const ISTIO_JSON_KEYS = [
  'start_time', 'route_name', 'method', 'path', 'protocol', 'response_code', 'response_flags', 'response_code_details',
  'connection_termination_details', 'bytes_received', 'bytes_sent', 'duration', 'upstream_service_time', 'x_forwarded_for',
  'user_agent', 'request_id', 'authority', 'upstream_host', 'upstream_cluster', 'upstream_local_address',
  'downstream_local_address', 'downstream_remote_address', 'requested_server_name', 'upstream_transport_failure_reason',
];
/** Other keys users commonly give the same values in their own JSON formats. */
const JSON_ALIASES: Record<string, string> = {
  downstream_peer: 'downstream_peer_uri_san',
  upstream_peer: 'upstream_peer_uri_san',
  x_request_id: 'request_id',
  istio_policy_status: 'istio_policy_status',
  upstream_cluster_raw: 'upstream_cluster',
  upstream_remote_address: 'upstream_host',
};

/** Fields the event columns and attrs name; anything else a format logs goes to attrs.fields. */
const KNOWN = new Set([
  ...ISTIO_JSON_KEYS,
  ...Object.values(JSON_ALIASES),
  'downstream_transport_failure_reason', 'downstream_local_ip', 'downstream_local_port', 'downstream_remote_ip', 'downstream_remote_port',
  'downstream_direct_remote_address', 'upstream_host_ip', 'upstream_host_port', 'downstream_peer_uri_san', 'downstream_local_uri_san',
  'upstream_peer_uri_san', 'upstream_local_uri_san', 'downstream_peer_subject', 'downstream_tls_version', 'local_reply_body',
  'hostname', 'connection_id', 'pod_name', 'pod_namespace',
]);

// ---- addresses and clusters ----

interface HostPort {
  ip?: string;
  port?: number;
}

const V4_RE = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/;
const V6_RE = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/;

/** `10.1.2.3:80`, `[fd00::1]:80`, `tcp://10.1.2.3:80`; pipes and internal listeners have no IP. */
export function hostPort(v: string | undefined): HostPort | undefined {
  if (!v) return undefined;
  const s = v.replace(/^(?:tcp|udp):\/\//, '');
  const m = V4_RE.exec(s) ?? V6_RE.exec(s);
  if (!m) return undefined;
  const port = m[2] !== undefined ? Number(m[2]) : undefined;
  return { ip: m[1], port: port !== undefined && port <= 65535 ? port : undefined };
}

function portOf(v: string | undefined): number | undefined {
  const n = num(v);
  return n !== undefined && Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined;
}

/** Istio names clusters `inbound|port|subset|host` and `outbound|port|subset|host` (a trailing ';' since 1.24 in JSON). */
function directionOf(cluster: string | undefined, sni: string | undefined): 'inbound' | 'outbound' | undefined {
  const c = cluster?.replace(/;$/, '');
  if (c) {
    if (/^inbound(?:-vip)?\|/.test(c) || c.startsWith('InboundPassthroughCluster')) return 'inbound';
    if (c.startsWith('outbound|') || c === 'PassthroughCluster' || c === 'BlackHoleCluster') return 'outbound';
  }
  // The client sidecar sets this SNI; seeing it means this proxy is the server side.
  if (sni?.startsWith('outbound_.')) return 'inbound';
  return undefined;
}

/** `outbound|9000||tcp-echo.ns.svc.cluster.local` → `tcp-echo.ns.svc.cluster.local:9000`. */
function serviceOf(cluster: string | undefined): string | undefined {
  const m = cluster ? /^(?:in|out)bound(?:-vip)?\|(\d*)\|[^|]*\|([^|;]+);?$/.exec(cluster) : null;
  if (!m) return undefined;
  return m[1] ? `${m[2]}:${m[1]}` : m[2];
}

// ---- outcome ----

/** Response flags (long names from Envoy's docs), for reasons a person can read. */
const FLAG_NAMES: Record<string, string> = {
  UH: 'no healthy upstream', UF: 'upstream connection failure', UO: 'upstream overflow (circuit breaking)', NR: 'no route or filter chain',
  URX: 'upstream retry limit exceeded', NC: 'upstream cluster not found', DT: 'max duration exceeded', DC: 'downstream connection termination',
  LH: 'local health check failed', UT: 'upstream request timeout', LR: 'connection local reset', UR: 'upstream remote reset',
  UC: 'upstream connection termination', DI: 'delay injected', FI: 'fault injected', RL: 'rate limited', UAEX: 'denied by external authorization',
  RLSE: 'rate limit service error', IH: 'invalid header', SI: 'stream idle timeout', DPE: 'downstream protocol error', UPE: 'upstream protocol error',
  UMSDR: 'upstream max stream duration reached', OM: 'overload manager', DF: 'DNS resolution failure', DO: 'drop overload', NFCF: 'no filter config found',
};
/** Flags that do not mean the request failed. */
const BENIGN_FLAGS = new Set(['DI']);

const RBAC_RE = /^rbac_access_denied(?:_matched_policy\[(.*)\])?$/;
const ISTIO_POLICY_RE = /^ns\[(.*)\]-policy\[(.*)\]-rule\[(.*)\]$/;

interface Decision {
  category: Category;
  outcome: Outcome;
  reason?: string;
  rbac?: Record<string, unknown>;
}

function decide(f: Map<string, string>, isTcp: boolean): Decision {
  const details = f.get('response_code_details');
  const term = f.get('connection_termination_details');
  const flags = (f.get('response_flags') ?? '').split(',').filter((x) => x && x !== '-');
  const code = num(f.get('response_code'));
  const rbac = RBAC_RE.exec(details ?? '') ?? RBAC_RE.exec(term ?? '');
  if (rbac || f.get('local_reply_body') === 'RBAC: access denied') {
    const policy = rbac?.[1];
    const ip = policy ? ISTIO_POLICY_RE.exec(policy) : null;
    return {
      category: 'enforcement',
      outcome: 'denied',
      reason: policy ?? 'RBAC: access denied',
      rbac: compact({ matched_policy: policy, namespace: ip?.[1], policy: ip?.[2], rule: ip?.[3] }),
    };
  }
  if (flags.includes('UAEX') || details?.startsWith('ext_authz_denied')) {
    return { category: 'enforcement', outcome: 'denied', reason: details ?? 'UAEX: denied by external authorization' };
  }
  const bad = flags.filter((x) => !BENIGN_FLAGS.has(x));
  const why = [
    bad.length ? bad.map((x) => (FLAG_NAMES[x] ? `${x} (${FLAG_NAMES[x]})` : x)).join(', ') : undefined,
    details && details !== 'via_upstream' ? details : undefined,
    term,
    f.get('upstream_transport_failure_reason'),
  ].filter((x): x is string => Boolean(x));
  const reason = why.length ? why.join('; ') : undefined;
  if (bad.length) return { category: 'network', outcome: 'failure', reason };
  if (isTcp) return { category: 'network', outcome: 'success', reason };
  if (code === undefined) return { category: 'network', outcome: 'unknown', reason };
  if (code === 401 || code === 403) return { category: 'network', outcome: 'denied', reason: reason ?? `HTTP ${code}` };
  if (code >= 100 && code < 400) return { category: 'network', outcome: 'success', reason };
  // 0: no response was sent (the client went away before one).
  return { category: 'network', outcome: 'failure', reason: reason ?? (code === 0 ? 'no response (0)' : `HTTP ${code}`) };
}

/** First spiffe:// URI of a SAN list (Envoy joins several with ','), else the whole value. */
function firstSpiffe(v: string | undefined): string | undefined {
  if (!v) return undefined;
  return v.split(',').map((s) => s.trim()).find((s) => s.startsWith('spiffe://')) ?? undefined;
}

function spiffePath(id: string): string {
  return id.replace(/^spiffe:\/\/[^/]*/, '') || id;
}

/** Epoch seconds / ms / µs / ns as text (a %START_TIME(%s.%3f)% under Istio's key), or RFC 3339. */
function looseTime(v: string): bigint | null {
  if (/^\d{9,19}(\.\d{1,9})?$/.test(v)) {
    const [whole, frac = ''] = v.split('.');
    const w = BigInt(whole!);
    const digits = whole!.length;
    const scale = digits <= 11 ? 1_000_000_000n : digits <= 14 ? 1_000_000n : digits <= 17 ? 1_000n : 1n;
    return w * scale + (scale === 1_000_000_000n ? BigInt(frac.padEnd(9, '0').slice(0, 9) || '0') : 0n);
  }
  return parseTimeNs(v);
}

/** One access log record (text or JSON, any format) → event. */
function accessEvent(format: string, f: Map<string, string>, time: bigint): EventDraft {
  const method = f.get('method');
  const path = f.get('path');
  const protocol = f.get('protocol');
  const isTcp = !method && !path && !protocol;
  const cluster = f.get('upstream_cluster');
  const sni = f.get('requested_server_name');
  const direction = directionOf(cluster, sni);
  const remote = hostPort(f.get('downstream_remote_address')) ?? (f.get('downstream_remote_ip') ? { ip: f.get('downstream_remote_ip'), port: portOf(f.get('downstream_remote_port')) } : undefined);
  const local = hostPort(f.get('downstream_local_address')) ?? (f.get('downstream_local_ip') ? { ip: f.get('downstream_local_ip'), port: portOf(f.get('downstream_local_port')) } : undefined);
  const upstream = hostPort(f.get('upstream_host')) ?? (f.get('upstream_host_ip') ? { ip: f.get('upstream_host_ip'), port: portOf(f.get('upstream_host_port')) } : undefined);
  // src → dst is one real connection, the downstream one (client → this proxy's listener; for an
  // outbound sidecar the app's socket to the original destination). Without downstream addresses,
  // the upstream host is the only destination logged.
  const dst = local?.ip ? local : upstream;
  const { category, outcome, reason, rbac } = decide(f, isTcp);
  const caller = firstSpiffe(f.get('downstream_peer_uri_san'));
  const peer = firstSpiffe(f.get('upstream_peer_uri_san'));
  const pathNoQuery = path?.split('?')[0];
  const authority = f.get('authority');
  const target = isTcp
    ? serviceOf(cluster) ?? sni ?? (dst?.ip ? `${dst.ip}${dst.port !== undefined ? `:${dst.port}` : ''}` : undefined)
    : authority || path
      ? `${authority ?? ''}${path ?? ''}`
      : undefined;
  const podName = f.get('pod_name');
  const podNamespace = f.get('pod_namespace');
  const fields: Record<string, string> = {};
  let extra = 0;
  for (const [k, v] of f) {
    if (KNOWN.has(k) || extra >= 64) continue;
    fields[k] = v.length > 1024 ? `${v.slice(0, 1024)}…` : v;
    extra++;
  }
  return {
    source_event_id: f.get('request_id') ?? null,
    time,
    host: f.get('hostname') ?? null,
    category,
    action: isTcp ? 'tcp' : `HTTP ${method ?? '-'} ${pathNoQuery ?? '-'}`,
    outcome,
    target: target ?? null,
    reason: reason ?? null,
    actor_id: caller ?? null,
    actor_type: caller ? 'workload' : null,
    actor_name: caller ? spiffePath(caller) : null,
    spiffe_id: caller ?? null,
    // The proxy's own pod is the caller when it logs an outbound request.
    k8s_pod: direction === 'outbound' ? podName ?? null : null,
    k8s_namespace: direction === 'outbound' ? podNamespace ?? null : null,
    src_ip: remote?.ip ?? null,
    src_port: remote?.port ?? null,
    dst_ip: dst?.ip ?? null,
    dst_port: dst?.port ?? null,
    protocol: protocol === 'HTTP/3' ? 'udp' : 'tcp',
    user_agent: f.get('user_agent') ?? null,
    attrs: compact({
      format,
      direction,
      method,
      path,
      http_protocol: protocol,
      response_code: num(f.get('response_code')),
      response_flags: f.get('response_flags'),
      response_code_details: f.get('response_code_details'),
      connection_termination_details: f.get('connection_termination_details'),
      upstream_transport_failure_reason: f.get('upstream_transport_failure_reason'),
      downstream_transport_failure_reason: f.get('downstream_transport_failure_reason'),
      rbac,
      bytes_received: num(f.get('bytes_received')),
      bytes_sent: num(f.get('bytes_sent')),
      duration_ms: num(f.get('duration')),
      upstream_service_time_ms: num(f.get('upstream_service_time')),
      authority,
      x_forwarded_for: f.get('x_forwarded_for'),
      upstream_host: f.get('upstream_host'),
      upstream_cluster: cluster,
      upstream_local_address: f.get('upstream_local_address'),
      downstream_local_address: f.get('downstream_local_address'),
      downstream_remote_address: f.get('downstream_remote_address'),
      downstream_direct_remote_address: f.get('downstream_direct_remote_address'),
      requested_server_name: sni,
      route_name: f.get('route_name'),
      downstream_peer_uri_san: f.get('downstream_peer_uri_san'),
      upstream_peer_uri_san: f.get('upstream_peer_uri_san'),
      dst_spiffe_id: peer,
      downstream_local_uri_san: f.get('downstream_local_uri_san'),
      upstream_local_uri_san: f.get('upstream_local_uri_san'),
      downstream_peer_subject: f.get('downstream_peer_subject'),
      downstream_tls_version: f.get('downstream_tls_version'),
      local_reply_body: f.get('local_reply_body'),
      istio_policy_status: f.get('istio_policy_status'),
      connection_id: f.get('connection_id'),
      proxy_pod: podName,
      proxy_namespace: podNamespace,
      fields: extra ? fields : undefined,
    }),
  };
}

// ---- ztunnel ----

const ZTUNNEL_TEXT_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)\s+(trace|debug|info|warn|error)\s+access\s+(.*)$/;
const KEY_RE = /([A-Za-z_][A-Za-z0-9_.]*)=/y;

/** `connection complete src.addr=1.2.3.4:5 src.workload="x" ...`: the message, then key=value (Rust Debug quoting). */
export function parseKeyValues(text: string): { message: string; kv: Map<string, string>; rest?: string } {
  const kv = new Map<string, string>();
  const first = /(?:^|\s)[A-Za-z_][A-Za-z0-9_.]*=/.exec(text);
  const message = (first ? text.slice(0, first.index) : text).trim();
  let i = first ? first.index : text.length;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    KEY_RE.lastIndex = i;
    const k = KEY_RE.exec(text);
    if (!k) return { message, kv, rest: text.slice(i) };
    i += k[0].length;
    let value = '';
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '\\' && i + 1 < text.length) {
          const n = text[i + 1]!;
          value += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n;
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) return { message, kv, rest: `${k[1]}="${value}` };
    } else {
      const start = i;
      while (i < text.length && !/\s/.test(text[i]!)) i++;
      value = text.slice(start, i);
    }
    if (!kv.has(k[1]!)) kv.set(k[1]!, value);
  }
  return { message, kv };
}

function durationMs(v: string | undefined): number | undefined {
  const m = v ? /^(\d+(?:\.\d+)?)(ns|µs|us|ms|s)$/.exec(v) : null;
  if (!m) return num(v);
  const scale: Record<string, number> = { ns: 1e-6, µs: 1e-3, us: 1e-3, ms: 1, s: 1000 };
  return Number(m[1]) * scale[m[2]!]!;
}

const ZTUNNEL_KNOWN = new Set(['src.addr', 'src.workload', 'src.namespace', 'src.identity', 'dst.addr', 'dst.hbone_addr', 'dst.service', 'dst.workload', 'dst.namespace', 'dst.identity', 'direction', 'bytes_sent', 'bytes_recv', 'duration', 'error']);

/** Connection denied by an AuthorizationPolicy, as ztunnel words it. */
const ZTUNNEL_POLICY_RE = /policy rejection|authorization policy|rbac/i;

function ztunnelEvent(time: bigint, level: string, message: string, kv: Map<string, string>, shape: 'text' | 'json'): EventDraft {
  const src = hostPort(kv.get('src.addr'));
  const hbone = hostPort(kv.get('dst.hbone_addr'));
  const dstAddr = hostPort(kv.get('dst.addr'));
  // dst.addr of an outbound connection is the peer's HBONE port (15008); hbone_addr is where the app was going.
  const dst = hbone ?? dstAddr;
  const error = kv.get('error');
  const denied = error !== undefined && ZTUNNEL_POLICY_RE.test(error);
  const caller = kv.get('src.identity');
  const service = kv.get('dst.service');
  const fields: Record<string, string> = {};
  let extra = 0;
  for (const [k, v] of kv) {
    if (ZTUNNEL_KNOWN.has(k) || extra >= 64) continue;
    fields[k] = v.length > 1024 ? `${v.slice(0, 1024)}…` : v;
    extra++;
  }
  let outcome: Outcome = 'unknown';
  if (denied) outcome = 'denied';
  else if (error !== undefined) outcome = 'failure';
  else if (message === 'connection complete') outcome = 'success';
  return {
    time,
    category: denied ? 'enforcement' : 'network',
    action: 'tcp',
    outcome,
    target: service ? `${service}${dst?.port !== undefined ? `:${dst.port}` : ''}` : kv.get('dst.workload') ?? (dst?.ip ? `${dst.ip}${dst.port !== undefined ? `:${dst.port}` : ''}` : null),
    reason: error ?? null,
    actor_id: caller ?? null,
    actor_type: caller ? 'workload' : null,
    actor_name: caller ? spiffePath(caller) : null,
    spiffe_id: caller ?? null,
    k8s_namespace: kv.get('src.namespace') ?? null,
    k8s_pod: kv.get('src.workload') ?? null,
    src_ip: src?.ip ?? null,
    src_port: src?.port ?? null,
    dst_ip: dst?.ip ?? null,
    dst_port: dst?.port ?? null,
    protocol: 'tcp',
    attrs: compact({
      format: shape === 'text' ? 'ztunnel' : 'ztunnel-json',
      level,
      message,
      direction: kv.get('direction'),
      dst_spiffe_id: kv.get('dst.identity'),
      dst_workload: kv.get('dst.workload'),
      dst_namespace: kv.get('dst.namespace'),
      dst_service: service,
      src_addr: kv.get('src.addr'),
      dst_addr: kv.get('dst.addr'),
      dst_hbone_addr: kv.get('dst.hbone_addr'),
      bytes_sent: num(kv.get('bytes_sent')),
      bytes_recv: num(kv.get('bytes_recv')),
      duration_ms: durationMs(kv.get('duration')),
      error,
      fields: Object.keys(fields).length ? fields : undefined,
    }),
  };
}

// ---- recognizing lines ----

/** Envoy's own log: `[2021-03-12 15:31:30.492][1][warning][runtime] [source/...] ...`. */
const ENVOY_APP_LOG_RE = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\]\[\d+\]\[(trace|debug|info|warning|error|critical)\]/;
/** Istio components (pilot-agent, ztunnel, istiod): `2024-05-04T09:59:05.028709Z\tinfo\tscope\tmessage`. */
const ISTIO_LOG_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\s+(?:trace|debug|info|warn|warning|error|fatal)\s/;
/** An access line in a format custody does not know: it starts with START_TIME and a quoted request line. */
const ACCESS_PREFIX_RE = /^\[\d{4}-\d{2}-\d{2}T[^\]]{5,40}\] "/;

function isIstioJson(o: Obj): boolean {
  if (typeof o.start_time !== 'string') return false;
  let n = 0;
  for (const k of ISTIO_JSON_KEYS) if (k in o) n++;
  return n >= 5;
}

function isZtunnelJson(o: Obj): boolean {
  return o.scope === 'access' && typeof o.message === 'string' && typeof o.time === 'string' && ('src.addr' in o || 'dst.addr' in o);
}

function parseObject(line: string): Obj | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

interface UserFormat {
  format: string;
  text?: TextFormat;
  json?: JsonFormat;
}

function compileUser(format: string): UserFormat {
  return format.trimStart().startsWith('{') ? { format, json: compileJson(format) } : { format, text: compileText(format, 'user') };
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

function fromFields(format: string, fields: Map<string, string>, parseTime: (s: string) => bigint | null): ParseResult {
  const start = fields.get('start_time');
  if (!start) return fail(`${format} access log line without a start time`);
  const time = parseTime(start);
  if (time === null) return fail(`start time is not a time: ${JSON.stringify(start.slice(0, 64))}`);
  return { ok: true, event: accessEvent(format, fields, time) };
}

function parseJsonLine(line: string, user: UserFormat | undefined): ParseResult {
  const o = parseObject(line);
  if (!o) return fail(line.length > 1 && /^\{/.test(line) ? 'invalid JSON' : 'not a JSON object');
  if (isZtunnelJson(o)) {
    const time = parseTimeNs(String(o.time));
    if (time === null) return fail(`ztunnel time is not a time: ${JSON.stringify(String(o.time).slice(0, 64))}`);
    const kv = new Map<string, string>();
    for (const [k, v] of Object.entries(o)) {
      if (k === 'time' || k === 'level' || k === 'scope' || k === 'message') continue;
      const s = jsonValue(v);
      if (s !== undefined) kv.set(k, s);
    }
    return { ok: true, event: ztunnelEvent(time, String(o.level ?? ''), String(o.message), kv, 'json') };
  }
  if (user?.json) {
    const fields = matchJson(user.json, o);
    if (fields.has('start_time')) return fromFields('user-json', fields, user.json.time.parse);
  }
  if (isIstioJson(o)) {
    const fields = new Map<string, string>();
    for (const [k, raw] of Object.entries(o)) {
      const key = JSON_ALIASES[k] ?? k;
      if (typeof raw === 'string' && (key === 'downstream_peer_uri_san' || key === 'upstream_peer_uri_san') && !raw.startsWith('spiffe://')) continue;
      const v = jsonValue(raw);
      if (v !== undefined && !fields.has(key)) fields.set(key, v);
    }
    return fromFields('istio-json', fields, looseTime);
  }
  return fail(user?.json ? 'JSON line without the keys of the --envoy-format format or of Istio\'s JSON access log' : 'JSON line that is not an Istio/Envoy access log (pass its format with --envoy-format)');
}

function parseLine(record: unknown, texts: readonly TextFormat[], user: UserFormat | undefined): ParseResult {
  if (typeof record !== 'string') return fail('not a text line');
  const line = record.replace(/\s+$/, '');
  if (line.startsWith('{')) return parseJsonLine(line, user);
  const z = ZTUNNEL_TEXT_RE.exec(line);
  if (z) {
    const time = parseTimeNs(z[1]!);
    if (time === null) return fail(`ztunnel time is not a time: ${JSON.stringify(z[1])}`);
    const { message, kv, rest } = parseKeyValues(z[3]!);
    if (rest !== undefined) return fail(`ztunnel access line with an unreadable field at ${JSON.stringify(rest.slice(0, 40))}`);
    return { ok: true, event: ztunnelEvent(time, z[2]!, message, kv, 'text') };
  }
  for (const f of texts) {
    const fields = matchText(f, line);
    if (fields) return fromFields(f.name, fields, f.time.parse);
  }
  if (ENVOY_APP_LOG_RE.test(line)) return fail("Envoy's own log line (not an access log)");
  if (ISTIO_LOG_RE.test(line)) return fail('Istio component log line (pilot-agent, proxy or ztunnel log), not an access log');
  if (ACCESS_PREFIX_RE.test(line) || (user?.text && line.length > 0)) {
    const quotes = line.split('"').length - 1;
    const expected = user?.text ? user.text.quotes : BUILTIN[0]!.quotes;
    const hint = quotes > expected ? ` (it has ${quotes} '"' where the format writes ${expected}: a header value such as User-Agent carries a '"' Envoy wrote unescaped)` : '';
    return fail(user?.text ? `line does not match the --envoy-format format${hint}` : `access log line in a format custody does not know${hint}; pass the proxy's format with --envoy-format`);
  }
  return fail('not an Envoy, Istio or ztunnel access log line');
}

function detectLine(sample: unknown, texts: readonly TextFormat[], user: UserFormat | undefined): boolean {
  if (typeof sample !== 'string') return false;
  const line = sample.replace(/\s+$/, '');
  if (line.startsWith('{')) {
    const o = parseObject(line);
    if (!o) return false;
    if (isZtunnelJson(o) || isIstioJson(o)) return true;
    return user?.json ? matchJson(user.json, o).has('start_time') : false;
  }
  if (ZTUNNEL_TEXT_RE.test(line) || ENVOY_APP_LOG_RE.test(line) || ACCESS_PREFIX_RE.test(line)) return true;
  return texts.some((f) => f.regex.test(line));
}

function build(user?: UserFormat): SourceParser {
  const texts = user?.text ? [user.text, ...BUILTIN] : BUILTIN;
  return {
    name: 'envoy',
    title: 'Envoy / Istio access logs',
    format: 'text',
    detect: (sample) => detectLine(sample, texts, user),
    parse: (record) => parseLine(record, texts, user),
    configure(options: ParserOptions): SourceParser {
      const format = options.envoyFormat;
      if (format === undefined || format === null) return user ? build() : this;
      if (typeof format !== 'string') throw new UsageError('--envoy-format takes a format string');
      try {
        return build(compileUser(format));
      } catch (err) {
        if (err instanceof FormatError) {
          throw new UsageError(`--envoy-format: ${err.message}`, `give the proxy's access log format as configured, e.g. '[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS%', or its JSON format dictionary`);
        }
        throw err;
      }
    },
  };
}

export const envoy: SourceParser = build();
