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

/**
 * Splits a raw file into UTF-8 lines, in batches. Lines that are not valid UTF-8, or longer than
 * MAX_RECORD_BYTES, become BadParts. A trailing CR and a leading BOM are dropped.
 */
export async function* readLineBatches(path: string, batchBytes = 4 << 20): AsyncGenerator<LineBatch> {
  let streamError: string | undefined;
  let lineNo = 1;
  let batch: LineBatch = { firstLine: 1, texts: [], bad: [], bytesRead: 0 };
  let batchSize = 0;
  let carry: Buffer[] = [];
  let carryLen = 0;
  let oversize = false;
  let bytesRead = 0;

  const emitLine = (buf: Buffer | null, size: number): void => {
    if (buf === null) {
      batch.texts.push('');
      batch.bad.push({ line: lineNo, reason: `record is ${size} bytes, over the ${MAX_RECORD_BYTES}-byte limit`, size });
    } else {
      let end = buf.length;
      if (end > 0 && buf[end - 1] === 0x0d) end--;
      let start = 0;
      if (lineNo === 1 && end >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      const view = buf.subarray(start, end);
      if (!isUtf8(view)) {
        batch.texts.push('');
        batch.bad.push({ line: lineNo, reason: 'not valid UTF-8', bytes: Buffer.from(view.subarray(0, KEEP_BYTES)), size: view.length });
      } else {
        batch.texts.push(view.toString('utf8'));
      }
      batchSize += view.length;
    }
    lineNo++;
  };

  for await (const chunk of rawChunks(path, (r) => (streamError = r))) {
    bytesRead += chunk.length;
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(pos, end);
      if (!oversize) {
        if (carryLen + piece.length > MAX_RECORD_BYTES) {
          oversize = true;
          carry = [];
        } else if (nl === -1 || carryLen > 0) {
          carry.push(piece);
        }
      }
      carryLen += piece.length;
      if (nl === -1) break;
      if (oversize) emitLine(null, carryLen);
      else emitLine(carry.length > 0 ? Buffer.concat(carry) : piece, carryLen);
      carry = [];
      carryLen = 0;
      oversize = false;
      pos = nl + 1;
      if (batchSize >= batchBytes) {
        batch.bytesRead = bytesRead;
        yield batch;
        batch = { firstLine: lineNo, texts: [], bad: [], bytesRead };
        batchSize = 0;
      }
    }
  }
  if (carryLen > 0) {
    if (streamError) {
      // The last line was cut by the stream error: keep it as bad, not as a record.
      const buf = oversize ? undefined : Buffer.concat(carry);
      batch.texts.push('');
      batch.bad.push({ line: lineNo, reason: 'incomplete last line (stream ended early)', bytes: buf?.subarray(0, KEEP_BYTES), size: carryLen });
      lineNo++;
    } else {
      emitLine(oversize ? null : Buffer.concat(carry), carryLen);
    }
  }
  if (streamError) batch.bad.push({ line: lineNo, reason: streamError, size: 0 });
  batch.bytesRead = bytesRead;
  if (batch.texts.length > 0 || batch.bad.length > 0) yield batch;
}

/** The whole decompressed file as text, or why not. */
export async function readDocument(path: string): Promise<{ text: string; bad: BadPart[] }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let streamError: string | undefined;
  for await (const chunk of rawChunks(path, (r) => (streamError = r))) {
    size += chunk.length;
    if (size > MAX_DOCUMENT_BYTES) {
      return { text: '', bad: [{ line: 1, reason: `JSON document is over ${MAX_DOCUMENT_BYTES} bytes`, size }] };
    }
    chunks.push(chunk);
  }
  const buf = Buffer.concat(chunks);
  const bad: BadPart[] = [];
  if (streamError) bad.push({ line: 1, reason: streamError, size: 0 });
  let start = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  if (!isUtf8(buf.subarray(start))) {
    bad.push({ line: 1, reason: 'document is not valid UTF-8', bytes: buf.subarray(start, start + KEEP_BYTES), size: buf.length - start });
    return { text: '', bad };
  }
  return { text: buf.toString('utf8', start), bad };
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
