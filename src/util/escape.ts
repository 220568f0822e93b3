/**
 * Evidence strings never reach a terminal raw (DESIGN.md, "Bad input"): control characters,
 * escape sequences, C1 controls, bidirectional overrides and invisible separators are shown
 * as visible escapes (`\x1b`, `\u202e`) instead of being executed or hiding text.
 */

// C0 controls, DEL, C1 controls, zero-width and bidi controls, line/paragraph separators, BOM,
// and lone surrogates.
// eslint-disable-next-line no-control-regex
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** True when the text holds anything `escapeText` would change. */
export function hasUnsafe(text: string): boolean {
  UNSAFE_RE.lastIndex = 0;
  return UNSAFE_RE.test(text);
}

/** The text with every unsafe character replaced by a visible escape. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE_RE, escapeChar);
}

export interface TextPart {
  text: string;
  escaped: boolean;
}

/** The text split into plain runs and escape runs, so a UI can style escapes differently. */
export function escapeParts(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  UNSAFE_RE.lastIndex = 0;
  for (let m = UNSAFE_RE.exec(text); m; m = UNSAFE_RE.exec(text)) {
    if (m.index > last) parts.push({ text: text.slice(last, m.index), escaped: false });
    parts.push({ text: escapeChar(m[0]), escaped: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), escaped: false });
  return parts;
}

// Characters JSON.stringify leaves raw but a terminal may act on or hide.
// eslint-disable-next-line no-control-regex
const JSON_UNSAFE_RE = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/**
 * JSON.stringify, then the characters it leaves raw but terminals interpret written as
 * `\uXXXX`: still valid JSON that parses back to the same value (lossless), safe to print.
 */
export function safeJsonStringify(value: unknown, space?: number): string {
  return JSON.stringify(value, bigintReplacer, space).replace(
    JSON_UNSAFE_RE,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
