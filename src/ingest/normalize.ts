import { sha256Hex } from '../util/hash.js';
import { COLUMN_NAMES } from '../model/columns.js';
import type { EventDraft, NormalizedEvent } from '../model/event.js';
import type { BadPart } from './framing.js';
import type { SourceParser } from './source.js';

/**
 * Turns framed records into staged rows: normalized events as NDJSON lines for DuckDB, and
 * quarantine records for everything that could not be normalized. Pure and synchronous, so it
 * runs the same in the main thread and in worker threads.
 */

/** Longest string kept in a normalized column; raw/ always holds the full record. */
export const MAX_FIELD_CHARS = 64 * 1024;
/** Largest attrs JSON kept; larger attrs are replaced by a note. */
export const MAX_ATTRS_CHARS = 256 * 1024;
/** Bytes of a bad record kept inline in the quarantine file (raw/ has them all). */
export const QUARANTINE_KEEP_BYTES = 64 * 1024;

export interface QuarantineRecord {
  /** Bundle path of the raw file. */
  file: string;
  /** The input as the user named it. */
  input: string;
  line: number | null;
  pointer?: string;
  reason: string;
  size: number;
  sha256?: string;
  /** The record as UTF-8 text, up to QUARANTINE_KEEP_BYTES. */
  text?: string;
  /** The record bytes as base64 when they are not UTF-8. */
  base64?: string;
  truncated?: boolean;
}

export interface BatchOutput {
  /** One JSON line per accepted event, in the staging format. */
  rows: string[];
  quarantine: QuarantineRecord[];
  accepted: number;
  minTime: bigint | null;
  maxTime: bigint | null;
}

export function emptyOutput(): BatchOutput {
  return { rows: [], quarantine: [], accepted: 0, minTime: null, maxTime: null };
}

export interface FileContext {
  parser: SourceParser;
  /** Bundle path of the raw file, e.g. raw/cloudtrail/ab12…-file.json. */
  rawPath: string;
  input: string;
}

export function eventId(source: string, sourceRef: string): string {
  return sha256Hex(`${source}:${sourceRef}`).slice(0, 32);
}

export function sourceRef(rawPath: string, line: number, pointer: string): string {
  return pointer ? `${rawPath}:${line}#${pointer}` : `${rawPath}:${line}`;
}

function cleanString(s: string): string {
  const w = s.isWellFormed() ? s : s.toWellFormed();
  return w.length > MAX_FIELD_CHARS ? `${w.slice(0, MAX_FIELD_CHARS)}…[truncated ${w.length - MAX_FIELD_CHARS} chars]` : w;
}

const STAGED = COLUMN_NAMES;

/**
 * The staging line for one event: every non-null column, bigint times as decimal strings,
 * attrs as a JSON string. Strings are made well-formed (lone surrogates → U+FFFD) and capped.
 * Hand-built (column names are plain identifiers): this is the ingest hot path.
 */
export function stageEvent(ev: NormalizedEvent): string {
  const e = ev as unknown as Record<string, unknown>;
  let out = '';
  for (const name of STAGED) {
    const v = e[name];
    if (v === null || v === undefined) continue;
    let json: string;
    if (typeof v === 'string') json = JSON.stringify(cleanString(v));
    else if (typeof v === 'bigint') json = `"${v}"`;
    else if (typeof v === 'number') json = Number.isFinite(v) ? String(v) : 'null';
    else if (name === 'attrs') {
      const text = JSON.stringify(v);
      json = JSON.stringify(text.length > MAX_ATTRS_CHARS ? JSON.stringify({ _truncated: true, _chars: text.length }) : text.isWellFormed() ? text : text.toWellFormed());
    } else if (Array.isArray(v)) json = JSON.stringify(v.map((x) => (typeof x === 'string' ? cleanString(x) : String(x))));
    else json = JSON.stringify(v);
    out += `${out ? ',' : '{'}"${name}":${json}`;
  }
  return `${out}}`;
}

function keepBytes(q: QuarantineRecord, text: string): QuarantineRecord {
  const buf = Buffer.from(text, 'utf8');
  q.size = buf.length;
  q.sha256 = sha256Hex(buf);
  if (buf.length > QUARANTINE_KEEP_BYTES) {
    q.text = buf.subarray(0, QUARANTINE_KEEP_BYTES).toString('utf8').toWellFormed();
    q.truncated = true;
  } else q.text = text.toWellFormed();
  return q;
}

export function quarantineText(ctx: FileContext, line: number | null, reason: string, text: string, pointer?: string): QuarantineRecord {
  return keepBytes({ file: ctx.rawPath, input: ctx.input, line, ...(pointer ? { pointer } : {}), reason, size: 0 }, text);
}

export function quarantineBad(ctx: FileContext, bad: BadPart): QuarantineRecord {
  const q: QuarantineRecord = { file: ctx.rawPath, input: ctx.input, line: bad.line, reason: bad.reason, size: bad.size };
  if (bad.bytes) {
    q.sha256 = bad.size === bad.bytes.length ? sha256Hex(bad.bytes) : undefined;
    q.base64 = bad.bytes.toString('base64');
    q.truncated = bad.bytes.length < bad.size;
  }
  return q;
}

function accept(out: BatchOutput, ctx: FileContext, draft: EventDraft, line: number, pointer: string): void {
  const ref = sourceRef(ctx.rawPath, line, pointer);
  const ev: NormalizedEvent = { event_id: eventId(ctx.parser.name, ref), source: ctx.parser.name, source_ref: ref, ...draft };
  out.rows.push(stageEvent(ev));
  out.accepted++;
  if (out.minTime === null || ev.time < out.minTime) out.minTime = ev.time;
  if (out.maxTime === null || ev.time > out.maxTime) out.maxTime = ev.time;
}

/** The instants a TIMESTAMP_NS column holds (signed 64-bit ns: years 1677 to 2262). */
const MIN_NS = -(2n ** 63n) + 1n;
const MAX_NS = 2n ** 63n - 1n;

function inRange(ns: bigint): boolean {
  return ns >= MIN_NS && ns <= MAX_NS;
}

/**
 * Times the event model cannot hold would fail the whole Parquet part: an event time out of range
 * quarantines the record, an expiry out of range (a key "valid until 9999") is dropped.
 */
function checkTimes(draft: EventDraft): string | undefined {
  if (!inRange(draft.time)) return `time is out of range (${draft.time} ns since the epoch)`;
  if (draft.credential_expires != null && !inRange(draft.credential_expires)) draft.credential_expires = null;
  if (draft.issued_credential_expires != null && !inRange(draft.issued_credential_expires)) draft.issued_credential_expires = null;
  return undefined;
}

function parseRecord(out: BatchOutput, ctx: FileContext, record: unknown, line: number, pointer: string, original?: string): void {
  let result: ReturnType<SourceParser['parse']>;
  try {
    result = ctx.parser.parse(record, { line, pointer });
  } catch (err) {
    result = { ok: false as const, reason: `parser error: ${(err as Error).message}` };
  }
  if (result.ok) {
    const bad = checkTimes(result.event);
    if (bad) result = { ok: false, reason: bad };
  }
  if (result.ok) accept(out, ctx, result.event, line, pointer);
  else {
    const text = original ?? (typeof record === 'string' ? record : (JSON.stringify(record) ?? String(record)));
    out.quarantine.push(quarantineText(ctx, line, result.reason, text, pointer));
  }
}

/** One top-level JSON value (a line, or a document segment) → records → rows or quarantine. */
export function processJsonText(out: BatchOutput, ctx: FileContext, text: string, line: number): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    out.quarantine.push(quarantineText(ctx, line, `invalid JSON: ${(err as Error).message}`, text));
    return;
  }
  processJsonValue(out, ctx, value, line, text);
}

export function processJsonValue(out: BatchOutput, ctx: FileContext, value: unknown, line: number, text?: string): void {
  let records;
  try {
    records = ctx.parser.split?.(value) ?? null;
  } catch (err) {
    records = null;
    out.quarantine.push(quarantineText(ctx, line, `parser error: ${(err as Error).message}`, text ?? JSON.stringify(value)));
    return;
  }
  if (records === null) parseRecord(out, ctx, value, line, '', text);
  else for (const r of records) parseRecord(out, ctx, r.record, line, r.pointer);
}

/** A batch of text lines of a JSON Lines file. */
export function processJsonLines(ctx: FileContext, firstLine: number, texts: readonly string[], bad: readonly BadPart[]): BatchOutput {
  const out = emptyOutput();
  for (const b of bad) out.quarantine.push(quarantineBad(ctx, b));
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i]!;
    if (t.length === 0 || t.trim().length === 0) continue;
    processJsonText(out, ctx, t, firstLine + i);
  }
  return out;
}

/** A batch of text lines of a text-format source: one record per line. */
export function processTextLines(ctx: FileContext, firstLine: number, texts: readonly string[], bad: readonly BadPart[]): BatchOutput {
  const out = emptyOutput();
  for (const b of bad) out.quarantine.push(quarantineBad(ctx, b));
  for (let i = 0; i < texts.length; i++) {
    const t = texts[i]!;
    if (t.trim().length === 0) continue;
    parseRecord(out, ctx, t, firstLine + i, '', t);
  }
  return out;
}
