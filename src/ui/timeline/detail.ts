import { COLUMNS } from '../../model/columns.js';
import type { TimelineRow } from '../../reconstruct/index.js';
import { escapeParts } from '../../util/escape.js';
import { rowCells } from '../cells.js';

/** A styled span of a detail line; `escaped` marks a visible escape of a control character. */
export interface Span {
  text: string;
  escaped?: boolean;
  color?: string;
  bold?: boolean;
  dim?: boolean;
}
export type Line = Span[];

function evidence(text: string, extra: Partial<Span> = {}): Span[] {
  return escapeParts(text).map((p) => ({ text: p.text, escaped: p.escaped, ...extra }));
}

function value(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map((x) => String(x)).join(' ');
  return JSON.stringify(v);
}

/** Splits a line into lines of at most `width` characters. */
export function wrap(line: Line, width: number): Line[] {
  const out: Line[] = [];
  let cur: Line = [];
  let len = 0;
  for (const span of line) {
    let t = span.text;
    while (t.length > 0) {
      const room = width - len;
      if (room <= 0) {
        out.push(cur);
        cur = [];
        len = 0;
        continue;
      }
      const piece = t.slice(0, room);
      cur.push({ ...span, text: piece });
      len += piece.length;
      t = t.slice(piece.length);
    }
  }
  out.push(cur);
  return out;
}

/**
 * The lines of a row's detail view: every non-null field, the identity chain with the rule,
 * confidence and evidence row of each step, the links (numbered: press the digit to open the
 * other side), and the raw record. Evidence text is escaped; escapes are marked for styling.
 */
export function detailLines(row: TimelineRow, linked: ReadonlyMap<string, TimelineRow | null>, raw: string | undefined, width: number): Line[] {
  const lines: Line[] = [];
  const head = rowCells(row);
  lines.push([{ text: `${head.time}  ${row.source}  `, bold: true }, ...evidence(row.action, { bold: true }), { text: `  ${row.outcome}`, bold: true }]);
  lines.push([]);
  lines.push([{ text: 'Identity chain (nearest first)', bold: true }]);
  if (row.identity_chain.length === 0) lines.push([{ text: '  (no principal in the evidence)', dim: true }]);
  for (const [i, c] of row.identity_chain.entries()) {
    const how = c.via === 'actor' ? 'actor' : `via ${c.via}${c.confidence ? ` (${c.confidence})` : ''}`;
    lines.push([{ text: `  ${i === 0 ? '' : '← '}` }, ...evidence(c.id), { text: `  ${c.type}, ${how}${c.event_id ? `, evidence ${c.event_id}` : ''}`, dim: true }]);
  }
  lines.push([]);
  lines.push([{ text: 'Links', bold: true }]);
  if (row.links.length === 0) lines.push([{ text: '  (none)', dim: true }]);
  for (const [i, l] of row.links.entries()) {
    const other = linked.get(l.event_id);
    lines.push([{ text: `  [${i + 1}] ${l.rule} (${l.confidence})${l.material ? `, ${l.material}` : ''} → ${l.event_id}`, color: 'cyan' }]);
    lines.push([{ text: '      this side:  ', dim: true }, ...evidence(`${head.time} ${row.source} ${row.action} ${row.source_ref}`)]);
    if (other) {
      const o = rowCells(other);
      lines.push([{ text: '      other side: ', dim: true }, ...evidence(`${o.time} ${other.source} ${other.action} ${o.who}${o.target ? ` ${o.target}` : ''} ${other.source_ref}`)]);
    } else lines.push([{ text: `      other side: ${other === null ? '(not in the loaded bundles)' : 'loading…'}`, dim: true }]);
  }
  lines.push([]);
  lines.push([{ text: 'Fields', bold: true }]);
  const names = [...COLUMNS.map((c) => c.name).filter((n) => n !== 'attrs'), 'bundle'];
  const pad = Math.max(...names.map((n) => n.length));
  for (const name of names) {
    const v = row[name];
    if (v === null || v === undefined) continue;
    lines.push([{ text: `  ${name.padEnd(pad)}  `, dim: true }, ...evidence(value(v))]);
  }
  if (row.attrs) {
    for (const [k, v] of Object.entries(row.attrs)) lines.push([{ text: `  attrs.${k}  `, dim: true }, ...evidence(value(v))]);
  }
  lines.push([]);
  lines.push([{ text: `Raw record (${row.source_ref})`, bold: true }]);
  for (const l of (raw ?? 'loading…').split('\n')) lines.push([{ text: '  ' }, ...evidence(l)]);
  return lines.flatMap((l) => wrap(l, width));
}
