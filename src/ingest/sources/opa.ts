import type { ActorType, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, at, compact, isObj, num, obj, str, strs, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';

/**
 * Open Policy Agent decision logs (https://www.openpolicyagent.org/docs/management-decision-logs):
 *  - the decision-log service upload body: a JSON array of decision events,
 *  - console decision logs (`"msg":"Decision Log"`, e.g. opa-envoy-plugin), one per line,
 *  - one decision event per line from any exporter.
 * A decision is a `policy` row: `allowed` or `denied` (what DESIGN.md rule 6 compares with what
 * ran), `unknown` when the result is undefined, erased or not a decision. For Envoy ext_authz inputs
 * the row carries the requested method and path, the peer addresses and the caller's SPIFFE id.
 *
 * OPA's own server log lines that share a console stream with decisions (start-up, plugin status)
 * are recognized and quarantined as "not a decision", so nothing in the file disappears.
 */

const IP_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;
/** Plugins of OPA and opa-envoy-plugin that write console logs. */
const OPA_PLUGINS = new Set(['bundle', 'decision_logs', 'discovery', 'status', 'envoy_ext_authz_grpc']);
/** A template placeholder left in a value (e.g. "{{ current_version }}" in OPA's docs). */
const TEMPLATE_RE = /\{\{.*\}\}/;
/** Headers copied to attrs: identifiers only, never credentials. */
const HEADER_ATTRS = ['x-request-id', 'x-b3-traceid', 'traceparent'] as const;

function isDecision(v: unknown): boolean {
  if (!isObj(v)) return false;
  if (v.type === 'openpolicyagent.org/decision_logs' || v.msg === 'Decision Log') return true;
  return typeof v.decision_id === 'string' && (typeof v.path === 'string' || typeof v.query === 'string') && ('input' in v || 'result' in v || typeof v.timestamp === 'string');
}

/** OPA / opa-envoy-plugin server log lines (logrus JSON) that are not decisions. */
function isOpaServerLog(v: unknown): v is Obj {
  if (!isObj(v) || typeof v.msg !== 'string' || typeof v.level !== 'string' || typeof v.time !== 'string') return false;
  return (typeof v.plugin === 'string' && OPA_PLUGINS.has(v.plugin)) || Array.isArray(v.addrs) || 'diagnostic-addrs' in v || (typeof v.query === 'string' && 'dial-timeout' in v);
}

interface Decision {
  outcome: Outcome;
  reason?: string;
  resultType: string;
  httpStatus?: number;
}

/** The decision a result encodes: a boolean, "true"/"false", or an object with allowed/allow/decision. */
export function decisionOf(result: unknown, present: boolean): Decision {
  if (!present) return { outcome: 'unknown', reason: 'result is undefined (no decision was returned)', resultType: 'undefined' };
  if (typeof result === 'boolean') return { outcome: result ? 'allowed' : 'denied', resultType: 'boolean' };
  if (result === 'true' || result === 'false') return { outcome: result === 'true' ? 'allowed' : 'denied', resultType: 'string' };
  if (isObj(result)) {
    const httpStatus = num(result.http_status);
    const reason = str(result.reason) ?? str(result.msg) ?? (typeof result.body === 'string' ? result.body.slice(0, 256) : undefined);
    for (const key of ['allowed', 'allow'] as const) {
      if (typeof result[key] === 'boolean') return { outcome: result[key] ? 'allowed' : 'denied', reason, resultType: `object.${key}`, httpStatus };
    }
    const d = result.decision;
    if (typeof d === 'boolean') return { outcome: d ? 'allowed' : 'denied', reason, resultType: 'object.decision', httpStatus };
    if (typeof d === 'string' && /^(allow|allowed|permit)$/i.test(d)) return { outcome: 'allowed', reason, resultType: 'object.decision', httpStatus };
    if (typeof d === 'string' && /^(deny|denied|forbid)$/i.test(d)) return { outcome: 'denied', reason, resultType: 'object.decision', httpStatus };
    return { outcome: 'unknown', reason: 'result object has no allowed/allow/decision field', resultType: 'object', httpStatus };
  }
  const kind = Array.isArray(result) ? 'array' : result === null ? 'null' : typeof result;
  return { outcome: 'unknown', reason: `result is ${kind === 'array' ? 'an array (query result sets)' : `a ${kind}`}, not a decision`, resultType: kind };
}

interface Address {
  ip?: string;
  port?: number;
  raw?: string;
}

/** ext_authz peer address, v3 (`address.socketAddress`) or v2 (`address.Address.SocketAddress`). */
function addressOf(peer: Obj | undefined): Address {
  const v3 = obj(at(peer, 'address', 'socketAddress'));
  const v2 = obj(at(peer, 'address', 'Address', 'SocketAddress'));
  const sa = v3 ?? v2;
  if (!sa) return {};
  const raw = str(sa.address);
  const port = num(sa.portValue) ?? num(at(sa, 'PortSpecifier', 'PortValue'));
  return { ip: raw && IP_RE.test(raw) ? raw : undefined, raw: raw && !IP_RE.test(raw) ? raw : undefined, port };
}

function header(headers: Obj | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const v = headers[name];
  if (typeof v === 'string') return str(v);
  return str(arr(v)[0]);
}

interface Caller {
  id?: string;
  type?: ActorType;
  spiffe?: string;
}

/** The caller a generic (non-Envoy) input names. */
function genericCaller(input: Obj): Caller {
  for (const key of ['principal', 'user', 'subject', 'sub', 'identity', 'caller']) {
    const v = input[key];
    const id = str(v) ?? str(obj(v)?.id) ?? str(obj(v)?.name) ?? str(obj(v)?.sub);
    if (id) return id.startsWith('spiffe://') ? { id, type: 'workload', spiffe: id } : { id, type: 'unknown' };
  }
  return {};
}

function pathText(v: unknown): string | undefined {
  const s = str(v);
  if (s) return s;
  const parts = strs(v);
  return parts.length ? `/${parts.join('/')}` : undefined;
}

export const opa: SourceParser = {
  name: 'opa',
  title: 'OPA decision logs',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && isDecision(sample[0]);
    return isDecision(sample) || isOpaServerLog(sample);
  },

  split(value): SplitRecord[] | null {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const rec = record;
    if (!isDecision(rec)) {
      if (typeof rec.msg === 'string' && typeof rec.level === 'string') return { ok: false, reason: `OPA server log line, not a decision: ${JSON.stringify(rec.msg.slice(0, 80))}` };
      return { ok: false, reason: 'not an OPA decision log event: no decision_id with path or query' };
    }
    const timeText = str(rec.timestamp) ?? str(rec.time);
    if (!timeText) return { ok: false, reason: 'OPA decision without timestamp' };
    const time = parseTimeNs(timeText);
    if (time === null) return { ok: false, reason: `timestamp is not a time: ${JSON.stringify(timeText.slice(0, 64))}` };

    const rawPath = str(rec.path);
    const policyPath = rawPath?.replace(/^\/+/, '');
    const query = str(rec.query);
    const action = policyPath ? `opa:data.${policyPath.replace(/\//g, '.')}` : 'opa:query';
    const decision = decisionOf(rec.result, 'result' in rec && rec.result !== undefined);
    const input = obj(rec.input);
    const erased = strs(rec.erased);
    const masked = strs(rec.masked);

    // Envoy ext_authz CheckRequest (opa-envoy-plugin), or a generic input.
    const attributes = obj(input?.attributes);
    const http = obj(at(attributes, 'request', 'http'));
    const headers = obj(http?.headers);
    const source = obj(attributes?.source);
    const destination = obj(attributes?.destination);
    const src = addressOf(source);
    const dst = addressOf(destination);
    let method: string | undefined;
    let reqPath: string | undefined;
    let host: string | undefined;
    let caller: Caller = {};
    if (attributes) {
      method = str(http?.method) ?? header(headers, ':method');
      reqPath = str(http?.path) ?? header(headers, ':path');
      host = str(http?.host) ?? header(headers, ':authority');
      const principal = str(source?.principal);
      if (principal) caller = principal.startsWith('spiffe://') ? { id: principal, type: 'workload', spiffe: principal } : { id: principal, type: 'unknown' };
    } else if (input) {
      method = str(input.method) ?? str(input.verb) ?? str(input.action) ?? str(input.operation);
      reqPath = pathText(input.path) ?? str(input.resource) ?? str(obj(input.resource)?.id) ?? str(input.uri);
      caller = genericCaller(input);
    }
    const target = method && reqPath ? `${method} ${reqPath}` : (reqPath ?? null);

    const bundles = obj(rec.bundles);
    const revisions = bundles
      ? Object.fromEntries(
          Object.entries(bundles)
            .map(([k, v]) => [k, str(obj(v)?.revision)] as const)
            .filter((e): e is readonly [string, string] => e[1] !== undefined),
        )
      : undefined;
    const labels = obj(rec.labels);
    const labelsOut = labels ? Object.fromEntries(Object.entries(labels).filter(([, v]) => typeof v === 'string')) : undefined;
    const unrendered = labelsOut ? Object.entries(labelsOut).filter(([, v]) => TEMPLATE_RE.test(v as string)).map(([k]) => `labels.${k}`) : [];
    const headerAttrs = headers
      ? compact(Object.fromEntries(HEADER_ATTRS.map((h) => [h.replace(/^:/, '').replace(/-/g, '_'), header(headers, h)])))
      : undefined;

    const event: EventDraft = {
      source_event_id: str(rec.decision_id) ?? null,
      time,
      category: 'policy',
      action,
      outcome: decision.outcome,
      target,
      reason: decision.reason ?? null,
      actor_id: caller.id ?? null,
      actor_type: caller.type ?? null,
      actor_name: caller.id ?? null,
      spiffe_id: caller.spiffe ?? null,
      src_ip: src.ip ?? null,
      src_port: src.port ?? null,
      dst_ip: dst.ip ?? null,
      dst_port: dst.port ?? null,
      protocol: str(http?.protocol)?.toLowerCase() ?? null,
      user_agent: header(headers, 'user-agent') ?? null,
      attrs: compact({
        decision_id: str(rec.decision_id),
        policy_path: policyPath,
        query,
        result_type: decision.resultType,
        http_status: decision.httpStatus,
        method,
        request_path: reqPath,
        host,
        request_http_id: text(http?.id),
        src_address: src.raw,
        dst_address: dst.raw,
        dst_principal: str(destination?.principal),
        headers: headerAttrs && Object.keys(headerAttrs).length ? headerAttrs : undefined,
        ext_authz: str(at(input, 'version', 'ext_authz')),
        bundles: revisions && Object.keys(revisions).length ? revisions : undefined,
        labels: labelsOut && Object.keys(labelsOut).length ? labelsOut : undefined,
        unrendered_template: unrendered.length ? unrendered : undefined,
        requested_by: str(rec.requested_by),
        req_id: num(rec.req_id),
        trace_id: str(rec.trace_id),
        span_id: str(rec.span_id),
        erased: erased.length ? erased : undefined,
        masked: masked.length ? masked : undefined,
        log_type: str(rec.type),
      }),
    };
    return { ok: true, event };
  },
};
