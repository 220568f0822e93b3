/** Scanning text for top-level JSON values, shared by ingest framing and raw record lookup. */

export interface JsonSegment {
  line: number;
  text: string;
  /** Set when the scanner already knows the segment is not a JSON value. */
  error?: string;
}

/**
 * End (exclusive) of the JSON object or array starting at `start`, or -1 when it does not close
 * before the end of the text or a raw newline breaks one of its strings (`lineBreaks` false).
 */
function valueEnd(text: string, start: number, stopAtBrokenString: boolean): { end: number; broken?: string; lines: number } {
  let depth = 0;
  let inString = false;
  let lines = 0;
  const n = text.length;
  for (let i = start; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x0a) {
      lines++;
      if (inString && stopAtBrokenString) return { end: i, broken: 'unterminated string', lines };
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
      if (depth === 0) return { end: i + 1, lines };
    }
  }
  return { end: n, broken: 'unexpected end of input inside a JSON value', lines };
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
    const start = i;
    if (c !== 0x7b && c !== 0x5b) {
      // Not an object or array: the rest of this line is one bad segment.
      let end = text.indexOf('\n', i);
      if (end === -1) end = n;
      out.push({ line, text: text.slice(start, end), error: 'not a JSON object or array' });
      i = end;
      continue;
    }
    const v = valueEnd(text, start, true);
    out.push({ line, text: text.slice(start, v.end), ...(v.broken ? { error: v.broken } : {}) });
    line += v.lines;
    i = v.end;
  }
  return out;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * A cheap stand-in for a large JSON document, for source detection: its top-level members up
 * to and including the first array, of which only the first element is kept
 * (`{"Records":[r0, r1, …]}` → `{"Records":[r0]}`). Parsing it costs the size of the first
 * record, not of the document. Undefined when the text does not start like that.
 */
export function documentSkeleton(text: string, maxScan = 1 << 20): unknown {
  let i = 0;
  const skip = () => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  skip();
  if (text[i] === '[') {
    i++;
    skip();
    if (text[i] === ']') return [];
    if (text[i] !== '{' && text[i] !== '[') return undefined;
    const v = valueEnd(text, i, false);
    if (v.broken || v.end - i > maxScan) return undefined;
    try {
      return [JSON.parse(text.slice(i, v.end))];
    } catch {
      return undefined;
    }
  }
  if (text[i] !== '{') return undefined;
  i++;
  const parts: string[] = [];
  for (let members = 0; members < 64 && i < maxScan; members++) {
    skip();
    if (text[i] !== '"') break;
    const keyStart = i;
    for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    const key = text.slice(keyStart, i + 1);
    i++;
    skip();
    if (text[i] !== ':') return undefined;
    i++;
    skip();
    const vStart = i;
    const ch = text[i];
    if (ch === '[') {
      i++;
      skip();
      if (text[i] === '{' || text[i] === '[') {
        const v = valueEnd(text, i, false);
        if (v.broken || v.end - i > maxScan) return undefined;
        parts.push(`${key}:[${text.slice(i, v.end)}]`);
      } else parts.push(`${key}:[]`);
      break;
    }
    if (ch === '{') {
      const v = valueEnd(text, i, false);
      if (v.broken) return undefined;
      parts.push(`${key}:${text.slice(vStart, v.end)}`);
      i = v.end;
    } else {
      // scalar: up to the next , or } outside a string
      let inString = false;
      for (; i < text.length; i++) {
        const c = text[i];
        if (inString) {
          if (c === '\\') i++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === ',' || c === '}') break;
      }
      parts.push(`${key}:${text.slice(vStart, i).trim()}`);
    }
    skip();
    if (text[i] === ',') i++;
    else break;
  }
  try {
    return JSON.parse(`{${parts.join(',')}}`);
  } catch {
    return undefined;
  }
}
