import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/** Non-blank lines of a JSON Lines sample: its record count, counted independently of custody. */
export function lineCount(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

/** The JSON values of a JSON Lines sample, one per non-blank line. */
export function jsonLines(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
}

/** Every quarantine record written into a bundle. */
export function quarantined(bundle: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const root = join(bundle, 'quarantine');
  let sources: string[];
  try {
    sources = readdirSync(root);
  } catch {
    return out;
  }
  for (const src of sources) {
    for (const f of readdirSync(join(root, src))) {
      for (const l of readFileSync(join(root, src, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l) as Record<string, unknown>);
    }
  }
  return out;
}

export interface OtelLogRecord {
  /** timeUnixNano as written. */
  timeUnixNano: string;
  /** Resource and record attributes, scalar values only (stringValue, intValue, boolValue). */
  attributes: Record<string, string | boolean>;
}

function scalar(v: unknown): string | boolean | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.stringValue === 'string') return o.stringValue;
  if (typeof o.intValue === 'string' || typeof o.intValue === 'number') return String(o.intValue);
  if (typeof o.boolValue === 'boolean') return o.boolValue;
  return undefined;
}

function attrs(list: unknown, into: Record<string, string | boolean>): void {
  if (!Array.isArray(list)) return;
  for (const a of list as { key?: string; value?: unknown }[]) {
    const v = scalar(a.value);
    if (a.key && v !== undefined) into[a.key] = v;
  }
}

/**
 * The log records of an OpenTelemetry Collector `*_expected.yaml` (OTLP logs as YAML): another
 * tool's reading of the same sample, used as an independent oracle for field values.
 */
export function otelExpected(path: string): OtelLogRecord[] {
  const doc = parseYaml(readFileSync(path, 'utf8')) as { resourceLogs?: unknown[] };
  const out: OtelLogRecord[] = [];
  for (const rl of (doc.resourceLogs ?? []) as { resource?: { attributes?: unknown }; scopeLogs?: { logRecords?: unknown[] }[] }[]) {
    const resource: Record<string, string | boolean> = {};
    attrs(rl.resource?.attributes, resource);
    for (const sl of rl.scopeLogs ?? []) {
      for (const lr of (sl.logRecords ?? []) as { timeUnixNano?: string; attributes?: unknown }[]) {
        const a = { ...resource };
        attrs(lr.attributes, a);
        out.push({ timeUnixNano: String(lr.timeUnixNano), attributes: a });
      }
    }
  }
  return out;
}

/** ISO 8601 UTC text of an OTLP timeUnixNano, as custody prints times. */
export function isoOfNanos(nanos: string): string {
  const ns = BigInt(nanos);
  const sec = ns / 1_000_000_000n;
  let frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  if (/^0+$/.test(frac)) return `${base}Z`;
  if (frac.endsWith('000000')) frac = frac.slice(0, 3);
  else if (frac.endsWith('000')) frac = frac.slice(0, 6);
  return `${base}.${frac}Z`;
}
