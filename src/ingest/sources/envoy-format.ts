import { parseTimeNs } from '../../model/time.js';
import { isObj } from '../source.js';

/**
 * Envoy access log formats, read back (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage):
 * a format string (`[%START_TIME%] "%REQ(:METHOD)% ..."`) compiles into an anchored line matcher,
 * a format dictionary (`json_format` / Istio `accessLogEncoding: JSON` with a custom format) into
 * a key → operator map. Either way a line yields the value of each command operator, under the
 * field name Istio's JSON format gives it (`start_time`, `method`, `downstream_remote_address`, ...)
 * or, for operators with no such name, under the operator itself (`REQ(X-B3-TRACEID)`).
 */

/** A format the user wrote cannot be used as written. The command turns this into a usage error. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

export interface Operator {
  /** As written, e.g. `%REQ(User-Agent):64%`. */
  text: string;
  /** Canonical name: REQUEST_HEADER → REQ, RESPONSE_HEADER → RESP, RESPONSE_TRAILER → TRAILER. */
  name: string;
  /** Argument inside the parentheses; header names upper-cased. */
  arg?: string;
  /** `name(arg)` or `name`: what the operator is known by in attrs. */
  key: string;
}

export type FormatPart = { literal: string } | { op: Operator };

const ALIASES: Record<string, string> = { REQUEST_HEADER: 'REQ', RESPONSE_HEADER: 'RESP', RESPONSE_TRAILER: 'TRAILER' };
const HEADER_OPS = new Set(['REQ', 'RESP', 'TRAILER', 'REQ_WITHOUT_QUERY']);

/** `%NAME%`, `%NAME(ARG)%`, `%NAME(ARG):LEN%`, as Envoy's parser accepts them (ARG has no ')'). */
const OPERATOR_RE = /%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::(\d+))?%/y;

/** Splits a format string into literals and command operators. Throws FormatError on a stray '%'. */
export function tokenize(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      literal += c;
      i++;
      continue;
    }
    OPERATOR_RE.lastIndex = i;
    const m = OPERATOR_RE.exec(format);
    if (!m) {
      throw new FormatError(`at character ${i + 1}: ${JSON.stringify(format.slice(i, i + 24))} is not an Envoy command operator (%NAME%, %NAME(ARG)% or %NAME(ARG):LENGTH%)`);
    }
    if (literal) parts.push({ literal });
    literal = '';
    const name = ALIASES[m[1]!] ?? m[1]!;
    let arg = m[2];
    if (arg !== undefined && HEADER_OPS.has(name)) arg = arg.toUpperCase();
    parts.push({ op: { text: m[0], name, arg, key: arg === undefined ? name : `${name}(${arg})` } });
    i += m[0].length;
  }
  if (literal) parts.push({ literal });
  return parts;
}

// ---- field names: Istio's JSON access log keys, so text, JSON and custom formats share one vocabulary ----

const SIMPLE_FIELDS: Record<string, string> = {
  START_TIME: 'start_time',
  PROTOCOL: 'protocol',
  RESPONSE_CODE: 'response_code',
  RESPONSE_FLAGS: 'response_flags',
  RESPONSE_CODE_DETAILS: 'response_code_details',
  CONNECTION_TERMINATION_DETAILS: 'connection_termination_details',
  UPSTREAM_TRANSPORT_FAILURE_REASON: 'upstream_transport_failure_reason',
  DOWNSTREAM_TRANSPORT_FAILURE_REASON: 'downstream_transport_failure_reason',
  BYTES_RECEIVED: 'bytes_received',
  BYTES_SENT: 'bytes_sent',
  DURATION: 'duration',
  UPSTREAM_HOST: 'upstream_host',
  UPSTREAM_REMOTE_ADDRESS: 'upstream_host',
  UPSTREAM_CLUSTER: 'upstream_cluster',
  UPSTREAM_CLUSTER_RAW: 'upstream_cluster',
  UPSTREAM_LOCAL_ADDRESS: 'upstream_local_address',
  DOWNSTREAM_LOCAL_ADDRESS: 'downstream_local_address',
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: 'downstream_local_ip',
  DOWNSTREAM_LOCAL_PORT: 'downstream_local_port',
  DOWNSTREAM_REMOTE_ADDRESS: 'downstream_remote_address',
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: 'downstream_remote_ip',
  DOWNSTREAM_REMOTE_PORT: 'downstream_remote_port',
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: 'downstream_direct_remote_address',
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: 'upstream_host_ip',
  UPSTREAM_REMOTE_PORT: 'upstream_host_port',
  REQUESTED_SERVER_NAME: 'requested_server_name',
  ROUTE_NAME: 'route_name',
  DOWNSTREAM_PEER_URI_SAN: 'downstream_peer_uri_san',
  DOWNSTREAM_LOCAL_URI_SAN: 'downstream_local_uri_san',
  UPSTREAM_PEER_URI_SAN: 'upstream_peer_uri_san',
  UPSTREAM_LOCAL_URI_SAN: 'upstream_local_uri_san',
  DOWNSTREAM_PEER_SUBJECT: 'downstream_peer_subject',
  DOWNSTREAM_TLS_VERSION: 'downstream_tls_version',
  LOCAL_REPLY_BODY: 'local_reply_body',
  HOSTNAME: 'hostname',
  CONNECTION_ID: 'connection_id',
  PATH: 'path',
  'DYNAMIC_METADATA(istio.mixer:status)': 'istio_policy_status',
  'ENVIRONMENT(POD_NAME)': 'pod_name',
  'ENVIRONMENT(POD_NAMESPACE)': 'pod_namespace',
};

/** Request headers by (any of) their names: `%REQ(X?Y)%` logs X, or Y when X is absent. */
const HEADER_FIELDS: [string, string][] = [
  [':METHOD', 'method'],
  [':PATH', 'path'],
  ['X-ENVOY-ORIGINAL-PATH', 'path'],
  [':AUTHORITY', 'authority'],
  ['HOST', 'authority'],
  ['USER-AGENT', 'user_agent'],
  ['X-REQUEST-ID', 'request_id'],
  ['X-FORWARDED-FOR', 'x_forwarded_for'],
];

/** The field an operator's value goes to: an Istio JSON key, or the operator's own key. */
export function fieldOf(op: Operator): string {
  // START_TIME(fmt) and PATH(WQ:ORIG) are still the start time and the path.
  const simple = SIMPLE_FIELDS[op.key] ?? (op.arg === undefined || op.name === 'START_TIME' || op.name === 'PATH' ? SIMPLE_FIELDS[op.name] : undefined);
  if (simple) return simple;
  if ((op.name === 'REQ' || op.name === 'REQ_WITHOUT_QUERY') && op.arg) {
    const names = op.arg.split('?');
    for (const [h, f] of HEADER_FIELDS) if (names.includes(h)) return f;
  }
  if (op.name === 'RESP' && op.arg === 'X-ENVOY-UPSTREAM-SERVICE-TIME') return 'upstream_service_time';
  return op.key;
}

// ---- START_TIME formats (C++ put_time specifiers plus Envoy's %s and %f / %Nf) ----

export interface TimeFormat {
  /** Regex source matching the rendered time, with non-capturing groups only. */
  pattern: string;
  /** ns since the epoch, or null when the text is not such a time. */
  parse(text: string): bigint | null;
}

/** START_TIME without an argument: RFC 3339 UTC with milliseconds (`%Y-%m-%dT%H:%M:%E3SZ`). */
export const DEFAULT_TIME: TimeFormat = {
  pattern: '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:?\\d{2})',
  parse: (text) => parseTimeNs(text),
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
type TimePart = 'Y' | 'y' | 'm' | 'b' | 'd' | 'j' | 'H' | 'I' | 'p' | 'M' | 'S' | 'frac' | 's' | 'z' | 'skip';

const COMPOSITE: Record<string, string> = { T: '%H:%M:%S', F: '%Y-%m-%d', D: '%m/%d/%y', R: '%H:%M', r: '%I:%M:%S %p' };

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Compiles a START_TIME(...) format. Envoy renders START_TIME in UTC; %z / %Ez offsets are honoured
 * when present. Throws FormatError on specifiers whose output cannot be read back (%c, %x, %U...).
 */
export function compileTime(format: string | undefined): TimeFormat {
  if (format === undefined || format === '') return DEFAULT_TIME;
  let fmt = format;
  for (const [k, v] of Object.entries(COMPOSITE)) fmt = fmt.split(`%${k}`).join(v);
  const parts: TimePart[] = [];
  let inline = '';
  let capture = '';
  const add = (part: TimePart, re: string): void => {
    parts.push(part);
    inline += `(?:${re})`;
    capture += `(${re})`;
  };
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      inline += escapeRe(c);
      capture += escapeRe(c);
      continue;
    }
    const rest = fmt.slice(i + 1);
    let m: RegExpExecArray | null;
    if ((m = /^E(\d|\*)S/.exec(rest))) {
      add('S', '\\d{2}');
      add('frac', m[1] === '*' ? '(?:\\.\\d+)?' : `\\.\\d{${m[1]}}`);
      i += m[0].length;
      continue;
    }
    if ((m = /^([1-9])?f/.exec(rest))) {
      add('frac', `\\d{${m[1] ?? 9}}`);
      i += m[0].length;
      continue;
    }
    if ((m = /^Ez/.exec(rest))) {
      add('z', '[+-]\\d{2}:\\d{2}|Z');
      i += 2;
      continue;
    }
    const spec = rest[0];
    i += 1;
    switch (spec) {
      case 'Y': add('Y', '\\d{4}'); break;
      case 'y': add('y', '\\d{2}'); break;
      case 'm': add('m', '\\d{2}'); break;
      case 'b': case 'h': add('b', '[A-Za-z]{3}'); break;
      case 'B': add('b', '[A-Za-z]+'); break;
      case 'd': add('d', '\\d{2}'); break;
      case 'e': add('d', '[ \\d]\\d'); break;
      case 'j': add('j', '\\d{3}'); break;
      case 'H': add('H', '\\d{2}'); break;
      case 'I': add('I', '\\d{2}'); break;
      case 'p': add('p', 'AM|PM|am|pm'); break;
      case 'M': add('M', '\\d{2}'); break;
      case 'S': add('S', '\\d{2}'); break;
      case 's': add('s', '\\d+'); break;
      case 'z': add('z', '[+-]\\d{4}'); break;
      case 'Z': add('skip', '[A-Za-z]+'); break;
      case 'a': add('skip', '[A-Za-z]{3}'); break;
      case 'A': add('skip', '[A-Za-z]+'); break;
      case 'n': inline += '\\n'; capture += '\\n'; break;
      case 't': inline += '\\t'; capture += '\\t'; break;
      case '%': inline += '%'; capture += '%'; break;
      default:
        throw new FormatError(`START_TIME(${format}): %${spec ?? ''} cannot be read back into a time; use %Y-%m-%dT%H:%M:%E3SZ, %s.%3f or the default %START_TIME%`);
    }
  }
  const has = (p: TimePart): boolean => parts.includes(p);
  if (!has('s') && !(has('Y') || has('y'))) {
    throw new FormatError(`START_TIME(${format}) has no year (%Y) or epoch seconds (%s): custody cannot place its lines in time`);
  }
  if (!has('s') && !has('j') && !(has('m') || has('b'))) throw new FormatError(`START_TIME(${format}) has no month (%m or %b)`);
  const re = new RegExp(`^${capture}$`);
  return {
    pattern: inline,
    parse(text: string): bigint | null {
      const m = re.exec(text);
      if (!m) return null;
      const v: Partial<Record<TimePart, string>> = {};
      parts.forEach((p, k) => {
        v[p] ??= m[k + 1]!;
      });
      const fracNs = v.frac ? BigInt(v.frac.replace('.', '').padEnd(9, '0').slice(0, 9) || '0') : 0n;
      if (v.s !== undefined) return BigInt(v.s) * 1_000_000_000n + fracNs;
      const year = v.Y !== undefined ? Number(v.Y) : 1900 + Number(v.y) + (Number(v.y) < 69 ? 100 : 0);
      let month = v.m !== undefined ? Number(v.m) - 1 : v.b !== undefined ? MONTHS.indexOf(v.b.slice(0, 3).toLowerCase()) : 0;
      let day = v.d !== undefined ? Number(v.d.trim()) : 1;
      if (v.j !== undefined) {
        const d = new Date(Date.UTC(year, 0, Number(v.j)));
        month = d.getUTCMonth();
        day = d.getUTCDate();
      }
      let hour = v.H !== undefined ? Number(v.H) : v.I !== undefined ? Number(v.I) % 12 : 0;
      if (v.p && /pm/i.test(v.p) && v.H === undefined) hour += 12;
      const minute = v.M !== undefined ? Number(v.M) : 0;
      const second = v.S !== undefined ? Number(v.S) : 0;
      if (month < 0 || month > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
      let offsetMin = 0;
      if (v.z && v.z !== 'Z') {
        const digits = v.z.slice(1).replace(':', '');
        offsetMin = (v.z[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
      }
      const ms = Date.UTC(year, month, day, hour, minute, second);
      if (!Number.isFinite(ms) || new Date(ms).getUTCDate() !== day) return null;
      return BigInt(ms - offsetMin * 60_000) * 1_000_000n + fracNs;
    },
  };
}

// ---- text formats ----

export interface TextFormat {
  /** Which format: `istio` (Istio ≥ 1.9 default), `envoy` (Envoy's default), `user` (--envoy-format), ... */
  name: string;
  format: string;
  regex: RegExp;
  /** ops[i] is capture group i + 1. */
  ops: Operator[];
  fields: string[];
  time: TimeFormat;
  /** Number of '"' the format writes around values: a line with more carries an unescaped quote in a value. */
  quotes: number;
}

const NUMERIC = new Set([
  'RESPONSE_CODE', 'BYTES_RECEIVED', 'BYTES_SENT', 'DURATION', 'REQUEST_DURATION', 'REQUEST_TX_DURATION', 'RESPONSE_DURATION',
  'RESPONSE_TX_DURATION', 'UPSTREAM_REQUEST_ATTEMPT_COUNT', 'UPSTREAM_WIRE_BYTES_SENT', 'UPSTREAM_WIRE_BYTES_RECEIVED',
  'UPSTREAM_HEADER_BYTES_SENT', 'UPSTREAM_HEADER_BYTES_RECEIVED', 'DOWNSTREAM_WIRE_BYTES_SENT', 'DOWNSTREAM_WIRE_BYTES_RECEIVED',
  'DOWNSTREAM_HEADER_BYTES_SENT', 'DOWNSTREAM_HEADER_BYTES_RECEIVED', 'REQUEST_HEADERS_BYTES', 'RESPONSE_HEADERS_BYTES',
  'RESPONSE_TRAILERS_BYTES', 'CONNECTION_ID', 'GRPC_STATUS_NUMBER', 'DOWNSTREAM_REMOTE_PORT', 'DOWNSTREAM_LOCAL_PORT',
  'DOWNSTREAM_DIRECT_REMOTE_PORT', 'UPSTREAM_LOCAL_PORT', 'UPSTREAM_REMOTE_PORT',
]);

/**
 * Compiles an Envoy format string into an anchored matcher. Values are matched strictly: numbers
 * as digits or '-', values between quotes without a '"', other values without whitespace. Envoy
 * writes header values unescaped, so a '"' inside User-Agent makes a line ambiguous: such a line
 * does not match (and is quarantined) rather than being split in a place an attacker chose.
 */
export function compileText(format: string, name: string): TextFormat {
  const trimmed = format.replace(/(?:\\n|\s)+$/, '');
  if (!trimmed) throw new FormatError('the format is empty');
  const parts = tokenize(trimmed);
  const ops: Operator[] = [];
  let time: TimeFormat | undefined;
  let src = '^';
  let quotes = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if ('literal' in p) {
      src += escapeRe(p.literal);
      quotes += p.literal.split('"').length - 1;
      continue;
    }
    const prev = parts[i - 1];
    const next = parts[i + 1];
    const quoted = prev !== undefined && 'literal' in prev && prev.literal.endsWith('"') && next !== undefined && 'literal' in next && next.literal.startsWith('"');
    let pattern: string;
    if (p.op.name === 'START_TIME') {
      const t = compileTime(p.op.arg);
      time ??= t;
      pattern = t.pattern;
    } else if (NUMERIC.has(p.op.name)) pattern = '-|\\d+';
    else if (p.op.name === 'RESPONSE_FLAGS') pattern = '-|[A-Z]+(?:,[A-Z]+)*';
    else if (quoted) pattern = '[^"]*';
    else pattern = '\\S+';
    if (next !== undefined && !('literal' in next) && pattern === '\\S+') {
      throw new FormatError(`${p.op.text}${next.op.text}: two operators with nothing between them cannot be told apart; put a separator between them`);
    }
    src += `(${pattern})`;
    ops.push(p.op);
  }
  if (!time) throw new FormatError('the format has no %START_TIME%: custody needs the time of each line');
  return { name, format: trimmed, regex: new RegExp(`${src}$`), ops, fields: ops.map(fieldOf), time, quotes };
}

/** The values of a line matched by a text format: field → value, '-' (unset) left out. */
export function matchText(f: TextFormat, line: string): Map<string, string> | null {
  const m = f.regex.exec(line);
  if (!m) return null;
  const out = new Map<string, string>();
  for (let i = 0; i < f.ops.length; i++) {
    const v = m[i + 1];
    const field = f.fields[i]!;
    if (v === undefined || v === '-' || v === '' || out.has(field)) continue;
    out.set(field, v);
  }
  return out;
}

// ---- format dictionaries (json_format / typed_json_format) ----

export interface JsonFormat {
  /** Key path (nested keys joined with '.') → the operator its value renders. */
  keys: [string[], Operator][];
  /** Key path of START_TIME. */
  timeKey: string[];
  time: TimeFormat;
}

/** Compiles a format dictionary given as JSON text. Throws FormatError. */
export function compileJson(text: string): JsonFormat {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(`the JSON format is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObj(value)) throw new FormatError('a JSON format must be an object of key → "%OPERATOR%"');
  const keys: [string[], Operator][] = [];
  const walk = (o: Record<string, unknown>, path: string[]): void => {
    for (const [k, v] of Object.entries(o)) {
      if (isObj(v)) walk(v, [...path, k]);
      else if (typeof v === 'string') {
        const parts = tokenize(v);
        if (parts.length === 1 && 'op' in parts[0]!) keys.push([[...path, k], parts[0].op]);
      }
    }
  };
  walk(value, []);
  const t = keys.find(([, op]) => op.name === 'START_TIME');
  if (!t) throw new FormatError('the JSON format has no "%START_TIME%" value: custody needs the time of each line');
  return { keys, timeKey: t[0], time: compileTime(t[1].arg) };
}

/** A JSON value as Envoy renders it: strings, or numbers and null in typed JSON; '-' and null are unset. */
export function jsonValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '-' || v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

function atPath(o: unknown, path: string[]): unknown {
  let cur = o;
  for (const k of path) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** The values of a JSON line written with a format dictionary: field → value. */
export function matchJson(f: JsonFormat, record: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, op] of f.keys) {
    const v = jsonValue(atPath(record, path));
    const field = fieldOf(op);
    if (v !== undefined && !out.has(field)) out.set(field, v);
  }
  return out;
}
