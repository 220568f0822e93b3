import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { BundleWriter, type Entry } from '../bundle/index.js';
import { safeFileName } from '../bundle/paths.js';
import { EVENT_SCHEMA_VERSION } from '../model/columns.js';
import { formatTimeNs } from '../model/time.js';
import { UsageError } from '../util/errors.js';
import { Db } from '../util/duckdb.js';
import { decodeDocument, jsonFraming, readDocumentBytes, readLineBatches, readLineChunks, splitJsonValues, type BadPart } from './framing.js';
import { documentSkeleton } from '../util/jsonscan.js';
import { createRunner } from './pool.js';
import type { Task, TaskResult } from './processor.js';
import { describeFsError, expandInputs, type InputFile, type SkippedInput } from './inputs.js';
import { quarantineText, type FileContext, type QuarantineRecord } from './normalize.js';
import type { ParserOptions, SourceParser } from './source.js';
import { configuredParsers } from './sources/index.js';
import { QuarantineStage, stagedToParquet } from './staging.js';
import { FACTS_VERSION, factsPathFor, writeFacts } from '../reconstruct/facts.js';

export interface IngestOptions {
  bundle: string;
  inputs: readonly string[];
  /** Force this source for every input instead of detecting it per file. */
  source?: string;
  stdin?: Readable;
  onProgress?: (p: IngestProgress) => void;
  /** Options for parsers, e.g. { envoyFormat } from --envoy-format (see SourceParser.configure). */
  parserOptions?: ParserOptions;
}

export interface IngestProgress {
  input: string;
  fileIndex: number;
  fileCount: number;
  bytesRead: number;
}

export type FileStatus = 'ingested' | 'duplicate' | 'empty' | 'unrecognized';

export interface FileSummary {
  input: string;
  status: FileStatus;
  source: string | null;
  raw: string | null;
  sha256: string;
  size: number;
  accepted: number;
  quarantined: number;
  /** For duplicates: the raw file already holding these bytes. */
  same_as?: string;
}

export interface SourceSummary {
  source: string;
  title: string;
  files: number;
  accepted: number;
  quarantined: number;
}

export interface IngestSummary {
  bundle: string;
  run_id: string;
  sources: SourceSummary[];
  files: FileSummary[];
  skipped: SkippedInput[];
  /** Most frequent quarantine reasons, with counts. */
  reasons: { reason: string; count: number }[];
  written: string[];
  accepted: number;
  quarantined: number;
}

const UNKNOWN = 'unknown';

/** Inputs at least this large (in total) are parsed on worker threads. */
const PARALLEL_BYTES = 8 << 20;

interface SourceState {
  parser: SourceParser | null;
  files: number;
  quarantine: QuarantineStage | null;
  raws: string[];
  minTime: bigint | null;
  maxTime: bigint | null;
}

/**
 * `custody ingest`: copies every input byte for byte into raw/, normalizes its records into
 * events/<source>/part-NNNNNN.parquet, quarantines what cannot be parsed, and records all of it
 * in the manifest in one commit. Ingesting the same bytes twice adds nothing. Parsing runs on
 * worker threads for large inputs; results are applied in input order, so the outcome is the same.
 */
export async function ingest(opts: IngestOptions): Promise<IngestSummary> {
  const parsers = configuredParsers(opts.parserOptions);
  const forced = opts.source ? parsers.find((p) => p.name === opts.source) : undefined;
  if (opts.source && !forced) throw new UsageError(`unknown source ${JSON.stringify(opts.source)}`, `use one of: ${parsers.map((p) => p.name).join(', ')}`);
  if (opts.inputs.length === 0) throw new UsageError('no inputs named', 'name files, directories, or - for standard input');

  const { files, skipped } = await expandInputs(opts.inputs, opts.stdin);
  const bundle = await BundleWriter.open(opts.bundle, { create: true, command: 'ingest' });
  const states = new Map<string, SourceState>();
  const fileSummaries: FileSummary[] = [];
  const reasons = new Map<string, number>();
  const totalBytes = files.reduce((a, f) => a + (f.size ?? PARALLEL_BYTES), 0);
  const stagingTemplate = await bundle.tmpFor('events/staging-{worker}-{source}.ndjson');
  const runner = createRunner(stagingTemplate, { parallel: totalBytes >= PARALLEL_BYTES, parserOptions: opts.parserOptions });
  const owners = new Map<number, FileSummary>();
  const rawEntries = new Map<FileSummary, Entry>();
  let seq = 0;
  let db: Db | undefined;

  const stateFor = (name: string, parser: SourceParser | null): SourceState => {
    let s = states.get(name);
    if (!s) {
      s = { parser, files: 0, quarantine: null, raws: [], minTime: null, maxTime: null };
      states.set(name, s);
    }
    return s;
  };
  const addQuarantine = async (source: string, records: QuarantineRecord[]): Promise<void> => {
    if (records.length === 0) return;
    const state = stateFor(source, null);
    state.quarantine ??= new QuarantineStage(await bundle.tmpFor(`quarantine/${source}/staging.ndjson`));
    state.quarantine.add(records);
    for (const q of records) reasons.set(reasonKey(q.reason), (reasons.get(reasonKey(q.reason)) ?? 0) + 1);
  };
  const apply = async (results: TaskResult[]): Promise<void> => {
    for (const r of results) {
      const summary = owners.get(r.seq)!;
      owners.delete(r.seq);
      summary.accepted += r.accepted;
      summary.quarantined += r.quarantine.length;
      const state = stateFor(r.source, null);
      if (r.minTime !== null) {
        const lo = BigInt(r.minTime);
        const hi = BigInt(r.maxTime!);
        if (state.minTime === null || lo < state.minTime) state.minTime = lo;
        if (state.maxTime === null || hi > state.maxTime) state.maxTime = hi;
      }
      await addQuarantine(r.source, r.quarantine);
    }
  };
  const submit = async (summary: FileSummary, task: Task): Promise<void> => {
    owners.set(task.seq, summary);
    await runner.submit(task);
    await apply(runner.drain());
  };

  try {
    for (const [index, input] of files.entries()) {
      opts.onProgress?.({ input: input.display, fileIndex: index, fileCount: files.length, bytesRead: 0 });
      const copied = await copyIn(bundle, input, index).catch((err: unknown) => {
        skipped.push({ display: input.display, reason: describeFsError(err) });
        return null;
      });
      if (!copied) continue;
      const { tmp, sha256, size } = copied;
      const dup = bundle.findBySha(sha256, 'raw');
      if (dup) {
        await rm(tmp, { force: true });
        fileSummaries.push({ input: input.display, status: 'duplicate', source: dup.producer.source ?? null, raw: dup.path, sha256, size, accepted: 0, quarantined: 0, same_as: dup.path });
        continue;
      }

      const sniffed = await sniff(tmp, forced, parsers);
      const sourceName = sniffed.parser?.name ?? UNKNOWN;
      const rawRel = `raw/${sourceName}/${sha256.slice(0, 12)}-${safeFileName(input.name)}`;
      const rawEntry = await bundle.seal(tmp, rawRel, { kind: 'raw', rows: null, schemaVersion: null, timeRange: null, producer: { source: sourceName, input: input.display } }, { sha256, size });
      const state = stateFor(sourceName, sniffed.parser);
      state.parser ??= sniffed.parser;
      state.files++;
      state.raws.push(rawRel);
      const summary: FileSummary = { input: input.display, status: 'ingested', source: sourceName, raw: rawRel, sha256, size, accepted: 0, quarantined: 0 };
      fileSummaries.push(summary);
      rawEntries.set(summary, rawEntry);

      if (sniffed.empty) {
        summary.status = 'empty';
        continue;
      }
      if (!sniffed.parser) {
        summary.status = 'unrecognized';
        const ctx: FileContext = { parser: parsers[0]!, rawPath: rawRel, input: input.display };
        const q = quarantineText(ctx, null, `no parser recognizes this file (tried ${parsers.map((p) => p.name).join(', ')}); use --source to force one`, sniffed.head);
        q.truncated = true;
        summary.quarantined++;
        await addQuarantine(UNKNOWN, [q]);
        continue;
      }
      const base = { parser: sniffed.parser.name, rawPath: rawRel, input: input.display };
      if (sniffed.parser.format === 'json' && sniffed.framing === 'document') {
        const doc = sniffed.document ?? (await readDocumentBytes(bundle.abs(rawRel)));
        await submit(summary, { kind: 'document', seq: seq++, ...base, buf: doc.buf, bad: doc.bad });
      } else {
        for await (const chunk of readLineChunks(bundle.abs(rawRel))) {
          await submit(summary, { kind: 'lines', seq: seq++, ...base, firstLine: chunk.firstLine, buf: chunk.buf, bad: chunk.bad });
          opts.onProgress?.({ input: input.display, fileIndex: index, fileCount: files.length, bytesRead: chunk.bytesRead });
        }
      }
    }
    const finished = await runner.finish();
    await apply(finished.results);
    for (const [summary, entry] of rawEntries) entry.rows = summary.accepted + summary.quarantined;

    // Seal one events part and one quarantine file per source, then commit everything at once.
    const written: string[] = [];
    const stagedBySource = new Map<string, string[]>();
    for (const f of finished.staged) if (f.rows > 0) stagedBySource.set(f.source, [...(stagedBySource.get(f.source) ?? []), f.path]);
    for (const [name, state] of states) {
      const staged = stagedBySource.get(name);
      if (staged) {
        db ??= await Db.open();
        const rel = await bundle.nextNumbered(`events/${name}`, 'part-', '.parquet');
        const tmp = await bundle.tmpFor(rel);
        await stagedToParquet(db, staged, tmp);
        const rows = finished.staged.filter((f) => f.source === name).reduce((a, f) => a + f.rows, 0);
        await bundle.seal(tmp, rel, {
          kind: 'events',
          rows,
          schemaVersion: EVENT_SCHEMA_VERSION,
          timeRange: state.minTime !== null ? { start: formatTimeNs(state.minTime), end: formatTimeNs(state.maxTime!) } : null,
          producer: { source: name, derived_from: state.raws },
        });
        written.push(rel);
        // The identity graph's rows of this part, so reconstruct need not scan every row for them.
        const factsRel = factsPathFor(rel);
        const factsTmp = await bundle.tmpFor(factsRel);
        const facts = await writeFacts(db, bundle.abs(rel), factsTmp);
        await bundle.seal(factsTmp, factsRel, { kind: 'facts', rows: facts, schemaVersion: FACTS_VERSION, timeRange: null, producer: { source: name, derived_from: [rel] } });
        written.push(factsRel);
      }
      if (state.quarantine && state.quarantine.rows > 0) {
        state.quarantine.close();
        const rel = await bundle.nextNumbered(`quarantine/${name}`, 'q-', '.ndjson');
        await bundle.seal(state.quarantine.tmp, rel, { kind: 'quarantine', rows: state.quarantine.rows, schemaVersion: 1, timeRange: null, producer: { source: name, derived_from: state.raws } });
        written.push(rel);
      }
    }
    if (bundle.pendingCount > 0) await bundle.commit();

    const sources: SourceSummary[] = [...states.entries()]
      .filter(([, s]) => s.files > 0)
      .map(([name, s]) => {
        const mine = fileSummaries.filter((f) => f.source === name && f.status !== 'duplicate');
        return { source: name, title: s.parser?.title ?? 'unrecognized', files: s.files, accepted: mine.reduce((a, f) => a + f.accepted, 0), quarantined: mine.reduce((a, f) => a + f.quarantined, 0) };
      });
    return {
      bundle: opts.bundle,
      run_id: bundle.runId,
      sources,
      files: fileSummaries,
      skipped,
      reasons: [...reasons.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10).map(([reason, count]) => ({ reason, count })),
      written,
      accepted: sources.reduce((a, s) => a + s.accepted, 0),
      quarantined: sources.reduce((a, s) => a + s.quarantined, 0),
    };
  } finally {
    await runner.destroy().catch(() => undefined);
    db?.close();
    for (const s of states.values()) s.quarantine?.close();
    await removeStaging(stagingTemplate);
    await bundle.close();
  }
}

/** Removes staging files a failed run left (a successful run has already consumed them). */
async function removeStaging(template: string): Promise<void> {
  const dir = dirname(template);
  const [prefix, rest] = basename(template).split('{worker}') as [string, string];
  const suffix = rest.slice(rest.lastIndexOf('.tmp-'));
  try {
    for (const name of await readdir(dir)) if (name.startsWith(prefix) && name.endsWith(suffix)) await rm(join(dir, name), { force: true });
  } catch {
    // nothing staged
  }
}

/** Reasons grouped without their variable detail (positions in JSON errors). */
function reasonKey(reason: string): string {
  return reason.replace(/ (at|in JSON at) position \d+.*$/, '').replace(/\(line \d+ column \d+\)/, '').slice(0, 120);
}

/** Streams an input into a temporary file inside the bundle, hashing as it goes. */
async function copyIn(bundle: BundleWriter, input: InputFile, index: number): Promise<{ tmp: string; sha256: string; size: number }> {
  const tmp = await bundle.tmpFor(`raw/incoming-${index}`);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(input.open(), tap, createWriteStream(tmp, { mode: 0o444 }));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { tmp, sha256: hash.digest('hex'), size };
}

interface Sniffed {
  parser: SourceParser | null;
  framing: 'lines' | 'document';
  empty: boolean;
  /** The first bytes as text, for the quarantine note of an unrecognized file. */
  head: string;
  document?: { buf: Buffer; bad: BadPart[] };
}

/** Looks at the start of a raw file to pick its parser (unless forced) and its JSON framing. */
async function sniff(path: string, forced: SourceParser | undefined, parsers: readonly SourceParser[]): Promise<Sniffed> {
  let head: string[] = [];
  let headBad = 0;
  for await (const batch of readLineBatches(path, 256 * 1024)) {
    head = batch.texts.slice(0, 50);
    headBad = batch.bad.length;
    break;
  }
  const nonEmpty = head.filter((l) => l.trim().length > 0);
  const headText = head.join('\n').slice(0, 4096);
  if (nonEmpty.length === 0 && headBad === 0) return { parser: forced ?? null, framing: 'lines', empty: true, head: headText };

  const framing = jsonFraming(head);
  let jsonSample: unknown;
  let document: Sniffed['document'];
  if (framing === 'lines') {
    for (const l of nonEmpty) {
      try {
        jsonSample = JSON.parse(l);
        break;
      } catch {
        // a bad first line: try the next one
      }
    }
  } else if (/^\s*[[{]/.test(nonEmpty[0] ?? '')) {
    // Values span lines (pretty-printed JSON, one {"Records":[...]} document). Text that does
    // not start like JSON (Markdown, logs) is never scanned for embedded JSON. Detection looks at
    // a skeleton (the first record), so a big document is parsed once, by the worker.
    document = await readDocumentBytes(path);
    const text = decodeDocument(document.buf, document.bad).text;
    jsonSample = documentSkeleton(text);
    if (jsonSample === undefined) {
      for (const seg of splitJsonValues(text, 16)) {
        if (seg.error) continue;
        try {
          jsonSample = JSON.parse(seg.text);
          break;
        } catch {
          // keep looking
        }
      }
    }
  }
  if (forced) return { parser: forced, framing, empty: false, head: headText, document };
  for (const p of parsers) {
    const sample = p.format === 'json' ? jsonSample : nonEmpty[0];
    if (sample === undefined) continue;
    try {
      if (p.detect(sample)) return { parser: p, framing, empty: false, head: headText, document };
    } catch {
      // a detector must not throw; treat as no match
    }
  }
  return { parser: null, framing, empty: false, head: headText, document };
}
