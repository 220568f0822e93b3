import type { BadPart } from './framing.js';
import { decodeDocument, splitJsonValues, splitLines } from './framing.js';
import { emptyOutput, processJsonLines, processJsonText, processTextLines, quarantineBad, quarantineText, type FileContext, type QuarantineRecord } from './normalize.js';
import type { ParserOptions, SourceParser } from './source.js';
import { configuredParsers } from './sources/index.js';
import { NdjsonFile } from './staging.js';

/**
 * The CPU-heavy half of ingest — decoding, JSON parsing, normalizing and serializing rows — as
 * tasks that run the same in the main thread or in a worker thread. A processor appends the rows
 * it makes to its own staging file per source; only counts, time bounds and quarantine records go
 * back to the caller.
 */

interface TaskBase {
  seq: number;
  parser: string;
  rawPath: string;
  input: string;
}

export type Task =
  | (TaskBase & { kind: 'lines'; firstLine: number; buf: Uint8Array; bad: BadPart[] })
  | (TaskBase & { kind: 'document'; buf: Uint8Array; bad: BadPart[] });

export interface TaskResult {
  seq: number;
  source: string;
  accepted: number;
  /** ns since epoch as decimal strings (bigint does not cross threads as-is everywhere). */
  minTime: string | null;
  maxTime: string | null;
  quarantine: QuarantineRecord[];
}

export interface StagedFile {
  source: string;
  path: string;
  rows: number;
}

export class Processor {
  private files = new Map<string, NdjsonFile>();
  private readonly parsers: readonly SourceParser[];

  /**
   * `stagingPath(source)` names this processor's staging file for a source. `parserOptions` are
   * the user's parser options (plain data: they cross to worker threads), applied as the main
   * thread applied them for detection.
   */
  constructor(
    private readonly stagingPath: (source: string) => string,
    parserOptions: ParserOptions = {},
  ) {
    this.parsers = configuredParsers(parserOptions);
  }

  run(task: Task): TaskResult {
    const parser = this.parsers.find((p) => p.name === task.parser);
    if (!parser) throw new Error(`internal: no parser ${task.parser}`);
    const ctx: FileContext = { parser, rawPath: task.rawPath, input: task.input };
    const buf = Buffer.from(task.buf.buffer, task.buf.byteOffset, task.buf.byteLength);
    const bad = task.bad.map((b) => (b.bytes ? { ...b, bytes: Buffer.from(b.bytes) } : b));
    let out;
    if (task.kind === 'lines') {
      const batch = splitLines({ firstLine: task.firstLine, buf, bad });
      out = (parser.format === 'json' ? processJsonLines : processTextLines)(ctx, batch.firstLine, batch.texts, batch.bad);
    } else {
      out = emptyOutput();
      const doc = decodeDocument(buf, bad);
      for (const b of doc.bad) out.quarantine.push(quarantineBad(ctx, b));
      for (const seg of splitJsonValues(doc.text)) {
        if (seg.error) out.quarantine.push(quarantineText(ctx, seg.line, seg.error, seg.text));
        else processJsonText(out, ctx, seg.text, seg.line);
      }
    }
    if (out.rows.length > 0) {
      let f = this.files.get(parser.name);
      if (!f) {
        f = new NdjsonFile(this.stagingPath(parser.name));
        this.files.set(parser.name, f);
      }
      for (const r of out.rows) f.add(r);
    }
    return {
      seq: task.seq,
      source: parser.name,
      accepted: out.accepted,
      minTime: out.minTime === null ? null : out.minTime.toString(),
      maxTime: out.maxTime === null ? null : out.maxTime.toString(),
      quarantine: out.quarantine,
    };
  }

  /** Closes the staging files and says what they hold. */
  close(): StagedFile[] {
    const staged: StagedFile[] = [];
    for (const [source, f] of this.files) {
      f.close();
      staged.push({ source, path: f.path, rows: f.lines });
    }
    this.files.clear();
    return staged;
  }
}
