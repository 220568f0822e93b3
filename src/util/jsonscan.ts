/** Scanning text for top-level JSON values, shared by ingest framing and raw record lookup. */

export interface JsonSegment {
  line: number;
  text: string;
  /** Set when the scanner already knows the segment is not a JSON value. */
  error?: string;
}

/**
 * Splits text holding one or more top-level JSON values (pretty-printed, concatenated, or a
 * single document) into segments with their starting line. A raw newline inside a string ends
 * the segment as broken, so one bad record cannot swallow the rest of the file.
 */
export function splitJsonValues(text: string, limit = Infinity): JsonSegment[] {
  const out: JsonSegment[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n && out.length < limit) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      i++;
      continue;
    }
    if (c === 0x20 || c === 0x09 || c === 0x0d) {
      i++;
      continue;
    }
    const startLine = line;
    const start = i;
    if (c !== 0x7b && c !== 0x5b) {
      // Not an object or array: the rest of this line is one bad segment.
      let end = text.indexOf('\n', i);
      if (end === -1) end = n;
      out.push({ line: startLine, text: text.slice(start, end), error: 'not a JSON object or array' });
      i = end;
      continue;
    }
    let depth = 0;
    let inString = false;
    let broken: string | undefined;
    for (; i < n; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 0x0a) {
        line++;
        if (inString) {
          broken = 'unterminated string';
          break;
        }
        continue;
      }
      if (inString) {
        if (ch === 0x5c) i++;
        else if (ch === 0x22) inString = false;
        continue;
      }
      if (ch === 0x22) inString = true;
      else if (ch === 0x7b || ch === 0x5b) depth++;
      else if (ch === 0x7d || ch === 0x5d) {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      }
    }
    if (!broken && depth !== 0) broken = 'unexpected end of input inside a JSON value';
    out.push({ line: startLine, text: text.slice(start, i), ...(broken ? { error: broken } : {}) });
  }
  return out;
}

