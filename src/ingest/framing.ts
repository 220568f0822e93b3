import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { isGzip } from '../util/fsx.js';

export { splitJsonValues, type JsonSegment } from '../util/jsonscan.js';

/**
 * Framing of raw evidence bytes into lines and JSON values. Evidence is hostile: lines may be
 * huge, not UTF-8, binary; gzip streams may be truncated. Nothing here throws on content;
 * every bad part comes back as a `BadPart` with its line and reason.
 */

/** A line longer than this is quarantined without being decoded. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
/** A JSON document (pretty-printed or `{"Records":[...]}`) larger than this is quarantined. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024;

export interface BadPart {
  line: number;
  reason: string;
  /** The bytes, when they are small enough to keep beside the reason (raw/ always has them all). */
  bytes?: Buffer;
  size: number;
}

export interface LineBatch {
  /** Line number of texts[0]; texts[i] is line firstLine + i. Empty string: blank or bad line. */
  firstLine: number;
  texts: string[];
  bad: BadPart[];
}

/**
 * A run of consecutive whole lines of the decompressed file, still as bytes: the unit that is
 * handed to a worker thread (the buffer is transferred, not copied). A chunk is either lines in
 * `buf` (each ending in \n, except the file's last line), or only `bad` parts (an oversize line,
 * a stream error) — never both interleaved, so line numbers stay exact.
 */
export interface LineChunk {
  firstLine: number;
  buf: Buffer;
  bad: BadPart[];
  /** Decompressed bytes consumed so far (for progress). */
  bytesRead: number;
}

/** The decompressed byte stream of a raw file, with gzip errors reported instead of thrown. */
async function* rawChunks(path: string, onError: (reason: string) => void): AsyncGenerator<Buffer> {
  const gz = await isGzip(path);
  const file = createReadStream(path, { highWaterMark: 4 << 20 });
  const stream = gz ? file.pipe(createGunzip({ chunkSize: 1 << 20 })) : file;
  if (gz) file.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    const msg = (err as Error).message;
    onError(gz ? `gzip stream is truncated or corrupt (${msg}); records before this point were read` : `read error: ${msg}`);
  } finally {
    file.destroy();
  }
}

const KEEP_BYTES = 64 * 1024;

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/**
 * Cuts a raw file into chunks of whole lines (about `chunkBytes` each) without decoding them.
 * Lines longer than MAX_RECORD_BYTES become BadParts without being held in memory; a gzip error
 * ends the stream with a BadPart, and a last line cut by it is a BadPart too.
 */
export async function* readLineChunks(path: string, chunkBytes = 4 << 20): AsyncGenerator<LineChunk> {
  let streamError: string | undefined;
  let line = 1; // number of the first line not yet emitted
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let pendingLines = 0;
  let carry: Buffer[] = [];
  let carryLen = 0;
  let oversize = false;
  let bytesRead = 0;

  const take = (): LineChunk | null => {
    if (pendingLen === 0) return null;
    const chunk = { firstLine: line, buf: pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingLen), bad: [], bytesRead };
    line += pendingLines;
    pending = [];
    pendingLen = 0;
    pendingLines = 0;
    return chunk;
  };
  const badLine = (reason: string, size: number, bytes?: Buffer): LineChunk => {
    const chunk = { firstLine: line, buf: Buffer.alloc(0), bad: [{ line, reason, size, ...(bytes ? { bytes } : {}) }], bytesRead };
    line++;
    return chunk;
  };

  for await (const c of rawChunks(path, (r) => (streamError = r))) {
    bytesRead += c.length;
    const first = c.indexOf(0x0a);
    if (first === -1) {
      carryLen += c.length;
      if (!oversize) {
        if (carryLen > MAX_RECORD_BYTES) {
          oversize = true;
          carry = [];
        } else carry.push(c);
      }
      continue;
    }
    // The first newline completes the carried line.
    const head = c.subarray(0, first + 1);
    if (oversize || carryLen + head.length - 1 > MAX_RECORD_BYTES) {
      const done = take();
      if (done) yield done;
      yield badLine(`record is ${carryLen + head.length - 1} bytes, over the ${MAX_RECORD_BYTES}-byte limit`, carryLen + head.length - 1);
    } else {
      for (const piece of carry) pending.push(piece);
      pending.push(head);
      pendingLen += carryLen + head.length;
      pendingLines++;
    }
    carry = [];
    carryLen = 0;
    oversize = false;
    // Whole lines in the middle, and the start of the next line.
    const last = c.lastIndexOf(0x0a);
    if (last > first) {
      const middle = c.subarray(first + 1, last + 1);
      pending.push(middle);
      pendingLen += middle.length;
      pendingLines += countLines(middle);
    }
    if (last + 1 < c.length) {
      carry = [c.subarray(last + 1)];
      carryLen = c.length - last - 1;
    }
    if (pendingLen >= chunkBytes) yield take()!;
  }
  if (carryLen > 0) {
    if (streamError) {
      const done = take();
      if (done) yield done;
      const buf = oversize ? undefined : Buffer.concat(carry);
      yield badLine('incomplete last line (stream ended early)', carryLen, buf?.subarray(0, KEEP_BYTES));
    } else if (oversize) {
      const done = take();
      if (done) yield done;
      yield badLine(`record is ${carryLen} bytes, over the ${MAX_RECORD_BYTES}-byte limit`, carryLen);
    } else {
      for (const piece of carry) pending.push(piece);
      pendingLen += carryLen;
      pendingLines++;
    }
  }
  const done = take();
  if (done) yield done;
  if (streamError) yield { firstLine: line, buf: Buffer.alloc(0), bad: [{ line, reason: streamError, size: 0 }], bytesRead };
}

/**
 * Decodes a chunk's lines: UTF-8 checked per line (an invalid line becomes a BadPart with its
 * bytes), trailing CR and a leading BOM on line 1 dropped. Pure and synchronous: runs in workers.
 */
export function splitLines(chunk: Pick<LineChunk, 'firstLine' | 'buf' | 'bad'>): LineBatch {
  const texts: string[] = [];
  const bad: BadPart[] = [...chunk.bad];
  const buf = chunk.buf;
  const whole = isUtf8(buf);
  let pos = 0;
  let lineNo = chunk.firstLine;
  while (pos < buf.length) {
    let nl = buf.indexOf(0x0a, pos);
    if (nl === -1) nl = buf.length;
    let end = nl;
    if (end > pos && buf[end - 1] === 0x0d) end--;
    let start = pos;
    if (lineNo === 1 && end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
    if (whole || isUtf8(buf.subarray(start, end))) texts.push(buf.toString('utf8', start, end));
    else {
      texts.push('');
      bad.push({ line: lineNo, reason: 'not valid UTF-8', bytes: Buffer.from(buf.subarray(start, Math.min(end, start + KEEP_BYTES))), size: end - start });
    }
    lineNo++;
    pos = nl + 1;
  }
  return { firstLine: chunk.firstLine, texts, bad };
}

/** Lines of a raw file in decoded batches (main-thread convenience over readLineChunks + splitLines). */
export async function* readLineBatches(path: string, chunkBytes = 4 << 20): AsyncGenerator<LineBatch & { bytesRead: number }> {
  for await (const chunk of readLineChunks(path, chunkBytes)) yield { ...splitLines(chunk), bytesRead: chunk.bytesRead };
}

/** The whole decompressed file as bytes, or why not. */
export async function readDocumentBytes(path: string): Promise<{ buf: Buffer; bad: BadPart[] }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let streamError: string | undefined;
  for await (const chunk of rawChunks(path, (r) => (streamError = r))) {
    size += chunk.length;
    if (size > MAX_DOCUMENT_BYTES) {
      return { buf: Buffer.alloc(0), bad: [{ line: 1, reason: `JSON document is over ${MAX_DOCUMENT_BYTES} bytes`, size }] };
    }
    chunks.push(chunk);
  }
  const bad: BadPart[] = streamError ? [{ line: 1, reason: streamError, size: 0 }] : [];
  return { buf: Buffer.concat(chunks), bad };
}

/** A document's bytes as text (BOM dropped), or a BadPart when they are not UTF-8. */
export function decodeDocument(buf: Buffer, bad: BadPart[]): { text: string; bad: BadPart[] } {
  const start = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  if (!isUtf8(buf.subarray(start))) {
    return { text: '', bad: [...bad, { line: 1, reason: 'document is not valid UTF-8', bytes: Buffer.from(buf.subarray(start, start + KEEP_BYTES)), size: buf.length - start }] };
  }
  return { text: buf.toString('utf8', start), bad };
}

/** The whole decompressed file as text, or why not. */
export async function readDocument(path: string): Promise<{ text: string; bad: BadPart[] }> {
  const { buf, bad } = await readDocumentBytes(path);
  return decodeDocument(buf, bad);
}

/**
 * Decides how a JSON file is framed: `lines` when records are one per line (JSON Lines, NDJSON,
 * CloudWatch exports), `document` when values span lines (pretty-printed or a single document).
 */
export function jsonFraming(head: string[]): 'lines' | 'document' {
  const sample = head.filter((l) => l.trim().length > 0).slice(0, 20);
  if (sample.length === 0) return 'lines';
  if (isJsonContainer(sample[0]!)) return 'lines';
  return sample.some((l) => (l.startsWith('{') || l.startsWith('[')) && isJsonContainer(l)) ? 'lines' : 'document';
}

function isJsonContainer(line: string): boolean {
  const t = line.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return false;
  try {
    JSON.parse(t);
    return true;
  } catch {
    return false;
  }
}
