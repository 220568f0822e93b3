/**
 * Time in custody is nanoseconds since the Unix epoch, UTC, held as bigint.
 * These helpers convert between that and the ISO 8601 text logs and users write.
 */

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9})\d*)?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

/**
 * Parses an ISO 8601 / RFC 3339 timestamp to ns since the epoch.
 * A timestamp without a zone is read as UTC. Returns null when the text is not a timestamp
 * or names an impossible date (e.g. month 13), so callers can quarantine the record.
 */
export function parseTimeNs(text: string): bigint | null {
  const m = ISO_RE.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) return null;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (!Number.isFinite(ms)) return null;
  const check = new Date(ms);
  if (check.getUTCDate() !== day && !(second === 60)) return null; // 31 February and friends
  let offsetMin = 0;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const fracNs = frac ? BigInt(frac.padEnd(9, '0')) : 0n;
  return BigInt(ms - offsetMin * 60_000) * NS_PER_MS + fracNs;
}

/** Milliseconds since the epoch (a JSON number, e.g. Okta or OPA epoch fields) to ns. */
export function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}

/**
 * Formats ns since the epoch as ISO 8601 UTC. Sub-second digits are printed only as far as
 * they carry information: 3 (ms), 6 (µs) or 9 (ns) digits; none for whole seconds.
 */
export function formatTimeNs(ns: bigint): string {
  let sec = ns / NS_PER_S;
  let rem = ns % NS_PER_S;
  if (rem < 0n) {
    rem += NS_PER_S;
    sec -= 1n;
  }
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  if (rem === 0n) return `${base}Z`;
  let digits = rem.toString().padStart(9, '0');
  if (digits.endsWith('000000')) digits = digits.slice(0, 3);
  else if (digits.endsWith('000')) digits = digits.slice(0, 6);
  return `${base}.${digits}Z`;
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)$/;
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9 };

/** Parses a duration like `30s`, `5m`, `2h`, `1.5d` to ns; null when it is not one. */
export function parseDurationNs(text: string): bigint | null {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return null;
  return BigInt(Math.round(Number(m[1]) * UNIT_NS[m[2]!]!));
}
