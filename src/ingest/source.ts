import type { EventDraft } from '../model/event.js';

/** Where a record sits in its raw file. */
export interface RecordContext {
  /** 1-based line in the (decompressed) raw file where the record's JSON value or text starts. */
  line: number;
  /** JSON pointer of the record inside that value ('' when the value is the record). */
  pointer: string;
}

export type ParseResult = { ok: true; event: EventDraft } | { ok: false; reason: string };

/**
 * Options the user gives parsers on the command line (e.g. `--envoy-format`), passed unchanged
 * to every parser's `configure`. Each parser reads only the keys it knows and checks their types:
 * keep keys namespaced by source (`envoyFormat`, ...).
 */
export type ParserOptions = Readonly<Record<string, unknown>>;

/** A record split out of a top-level JSON value, with its JSON pointer. */
export interface SplitRecord {
  pointer: string;
  record: unknown;
}

/**
 * One parser module per source (DESIGN.md, "Layout": src/ingest). A parser never reads files:
 * the pipeline frames the raw bytes, parses JSON, and hands records here.
 */
export interface SourceParser {
  /** Stable source name; appears in bundle paths and in the `source` column. */
  readonly name: string;
  /** Human name for summaries and --help. */
  readonly title: string;
  /** JSON records, or text lines. */
  readonly format: 'json' | 'text';
  /**
   * Whether a sample belongs to this source: the first top-level JSON value of a file
   * (format json) or its first non-empty line (format text).
   */
  detect(sample: unknown): boolean;
  /**
   * Splits a top-level JSON value into records (a `{"Records":[...]}` delivery file, an exported
   * array). Return null when the value is itself one record.
   */
  split?(value: unknown): SplitRecord[] | null;
  /** Normalizes one record, or says why it cannot. Must not throw on any input. */
  parse(record: unknown, ctx: RecordContext): ParseResult;
  /**
   * A parser set up with the user's options (detect and parse use them), or this parser when
   * no option concerns it. Called before detection, and again in each worker thread with the same
   * options (so it must depend on nothing else). Throws UsageError when an option it reads is
   * invalid (a user error, not evidence); the main thread's call reports it before any work starts.
   */
  configure?(options: ParserOptions): SourceParser;
}

// ---- helpers for reading untrusted JSON: every accessor checks the type it returns ----

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}

/** A non-empty string, or undefined. Numbers and booleans are not strings. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** A string or a finite number as text (ids that vendors write either way). */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return undefined;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Strings of an array (non-strings dropped). */
export function strs(v: unknown): string[] {
  return arr(v).filter((x): x is string => typeof x === 'string');
}

/** Value at a dotted path of plain keys (no array indices). */
export function at(v: unknown, ...keys: string[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

/** Drops undefined and null values, so attrs stay compact. */
export function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') out[k] = v;
  return out;
}
