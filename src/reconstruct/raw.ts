import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Manifest } from '../bundle/index.js';
import { isGzip } from '../util/fsx.js';
import { splitJsonValues } from '../util/jsonscan.js';

const MAX_SHOWN = 1 << 20;
const MAX_DOCUMENT = 1 << 30;

/** Splits a source_ref `<path>:<line>[#<pointer>]`. */
export function parseSourceRef(ref: string): { path: string; line: number; pointer: string } | null {
  const m = /^(.*):(\d+)(?:#(.*))?$/.exec(ref);
  if (!m) return null;
  return { path: m[1]!, line: Number(m[2]), pointer: m[3] ?? '' };
}

/**
 * The raw record a source_ref points at, read from the bundle's raw/ file (decompressed when
 * gzip): the exact line, or for records inside a JSON document the value at the JSON pointer,
 * pretty-printed. Only raw files the manifest lists are opened.
 */
export async function readRawRecord(bundleAbs: string, manifest: Manifest, ref: string): Promise<string> {
  const parsed = parseSourceRef(ref);
  if (!parsed) return `(source_ref ${ref} has no line)`;
  if (!manifest.entries.some((e) => e.path === parsed.path && e.kind === 'raw')) return `(${parsed.path} is not a raw file of this bundle)`;
  const file = join(bundleAbs, parsed.path);
  const gz = await isGzip(file);
  const input = gz ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  const rl = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  const lines: string[] = [];
  let size = 0;
  try {
    for await (const line of rl) {
      n++;
      if (n < parsed.line) continue;
      lines.push(line);
      size += line.length + 1;
      // A record at a JSON pointer sits inside a value that starts on this line and may span more.
      if (!parsed.pointer || size > MAX_DOCUMENT) break;
    }
  } catch (err) {
    return `(cannot read ${parsed.path}: ${(err as Error).message})`;
  } finally {
    rl.close();
    input.destroy();
  }
  if (lines.length === 0) return `(${parsed.path} has no line ${parsed.line})`;
  if (!parsed.pointer) return lines[0]!.length > MAX_SHOWN ? `${lines[0]!.slice(0, MAX_SHOWN)}…` : lines[0]!;
  const value = pointerGet(firstJsonValue(lines.join('\n')), parsed.pointer);
  return value === undefined ? `(no value at ${parsed.pointer} in ${parsed.path}:${parsed.line})` : JSON.stringify(value, null, 2).slice(0, MAX_SHOWN);
}

/** Parses the first complete JSON value of the text (lines may continue past it). */
function firstJsonValue(text: string): unknown {
  const seg = splitJsonValues(text, 1)[0];
  if (!seg || seg.error) return undefined;
  try {
    return JSON.parse(seg.text);
  } catch {
    return undefined;
  }
}

function pointerGet(value: unknown, pointer: string): unknown {
  let cur = value;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (cur && typeof cur === 'object') cur = (cur as Record<string, unknown>)[key];
    else return undefined;
  }
  return cur;
}
