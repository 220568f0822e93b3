import { parseTimeNs } from '../../model/time.js';

/**
 * Small helpers shared by the GCP, Azure, Entra ID and Google Workspace parsers. Regular
 * expressions are compiled once, here; nothing allocates per call beyond its result.
 */

const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_RE = /^(?=(?:[^:]*:){2})[0-9A-Fa-f:.]{2,45}(?:%[0-9A-Za-z_.-]{1,32})?$/;
const IPV4_PORT_RE = /^((?:\d{1,3}\.){3}\d{1,3}):(\d{1,5})$/;
const IPV6_PORT_RE = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/;
const EPOCH_SECONDS_RE = /^\d{1,12}(\.\d+)?$/;

/** The text when it is an IPv4 or IPv6 address, else undefined (vendors write "private", "gce-internal-ip", ...). */
export function ipOnly(v: string | undefined): string | undefined {
  if (!v) return undefined;
  return IPV4_RE.test(v) || IPV6_RE.test(v) ? v : undefined;
}

/** An address as Azure writes it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:5678` or a bare IPv6 address. */
export function ipAndPort(v: string | undefined): { ip?: string; port?: number } {
  if (!v) return {};
  const direct = ipOnly(v);
  if (direct) return { ip: direct };
  const m = IPV4_PORT_RE.exec(v) ?? IPV6_PORT_RE.exec(v);
  if (!m) return {};
  const ip = ipOnly(m[1]);
  const port = Number(m[2]);
  return ip ? { ip, port: port <= 65535 ? port : undefined } : {};
}

/** Smallest and largest instants a TIMESTAMP_NS column (signed 64-bit ns) holds. */
const MIN_NS = -(2n ** 63n) + 1n;
const MAX_NS = 2n ** 63n - 1n;

export function inNsRange(ns: bigint): boolean {
  return ns >= MIN_NS && ns <= MAX_NS;
}

/**
 * An event time: ns since the epoch, or why not. Times outside what the event model can hold
 * (years before 1678 or after 2262) are refused rather than left to fail the whole Parquet part.
 */
export function eventTime(text: string, field: string): { ns: bigint } | { error: string } {
  const ns = parseTimeNs(text);
  if (ns === null) return { error: `${field} is not a timestamp: ${JSON.stringify(text.slice(0, 64))}` };
  if (!inNsRange(ns)) return { error: `${field} is out of range: ${JSON.stringify(text.slice(0, 64))}` };
  return { ns };
}

/** An optional time (expiry and the like): null when absent, unparsable or out of range. */
export function optionalTime(text: string | undefined): bigint | null {
  if (!text) return null;
  const ns = parseTimeNs(text);
  return ns !== null && inNsRange(ns) ? ns : null;
}

/** Epoch seconds (number or decimal string, as JWT claims and protobuf Timestamps carry them) to ns. */
export function epochSecondsNs(v: unknown): bigint | null {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && EPOCH_SECONDS_RE.test(v)) n = Number(v);
  if (n === undefined || !Number.isFinite(n)) return null;
  const ns = BigInt(Math.round(n * 1000)) * 1_000_000n;
  return inNsRange(ns) ? ns : null;
}

/** Parses a JSON string column (Log Analytics exports write nested objects as strings); undefined when not JSON. */
export function jsonColumn(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trimStart();
  if (!(t.startsWith('{') || t.startsWith('['))) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}
