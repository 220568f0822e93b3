import type { IngestSummary } from '../ingest/ingest.js';
import type { VerifyReport } from '../bundle/verify.js';
import { escapeText } from '../util/escape.js';

/** Plain-text renderings of command results (escaped: file names and reasons come from evidence). */

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd()).join('\n');
}

export function renderIngest(s: IngestSummary): string {
  const lines: string[] = [];
  lines.push(`ingested into ${escapeText(s.bundle)} (run ${s.run_id.slice(0, 8)})`);
  if (s.sources.length > 0) {
    lines.push('');
    lines.push(
      table([
        ['source', 'files', 'accepted', 'quarantined'],
        ...s.sources.map((x) => [x.source === 'unknown' ? 'unrecognized' : x.source, String(x.files), String(x.accepted), String(x.quarantined)]),
        ['total', String(s.sources.reduce((a, x) => a + x.files, 0)), String(s.accepted), String(s.quarantined)],
      ]),
    );
  }
  const dups = s.files.filter((f) => f.status === 'duplicate');
  if (dups.length > 0) {
    lines.push('');
    lines.push(`${dups.length} input(s) already in the bundle, nothing added:`);
    for (const d of dups.slice(0, 10)) lines.push(`  ${escapeText(d.input)} = ${d.same_as}`);
    if (dups.length > 10) lines.push(`  … and ${dups.length - 10} more`);
  }
  const empty = s.files.filter((f) => f.status === 'empty');
  if (empty.length > 0) {
    lines.push('');
    lines.push(`${empty.length} empty input(s), kept in raw/: ${empty.slice(0, 5).map((f) => escapeText(f.input)).join(', ')}${empty.length > 5 ? ', …' : ''}`);
  }
  const unrec = s.files.filter((f) => f.status === 'unrecognized');
  if (unrec.length > 0) {
    lines.push('');
    lines.push(`${unrec.length} input(s) not recognized as any source (kept in raw/unknown/, quarantined; force one with --source):`);
    for (const f of unrec.slice(0, 10)) lines.push(`  ${escapeText(f.input)}`);
    if (unrec.length > 10) lines.push(`  … and ${unrec.length - 10} more`);
  }
  if (s.skipped.length > 0) {
    lines.push('');
    lines.push(`${s.skipped.length} input(s) skipped:`);
    for (const k of s.skipped.slice(0, 20)) lines.push(`  ${escapeText(k.display)}: ${k.reason}`);
    if (s.skipped.length > 20) lines.push(`  … and ${s.skipped.length - 20} more`);
  }
  if (s.reasons.length > 0) {
    lines.push('');
    lines.push('quarantine reasons (records kept with file and line under quarantine/):');
    for (const r of s.reasons) lines.push(`  ${String(r.count).padStart(7)}  ${escapeText(r.reason)}`);
  }
  return lines.join('\n');
}

export function renderVerify(r: VerifyReport): string {
  const lines: string[] = [];
  if (r.ok) lines.push(`intact: ${escapeText(r.bundle)}: ${r.entries} files, ${r.bytes} bytes match the manifest and its hash chain`);
  else lines.push(`TAMPERED or damaged: ${escapeText(r.bundle)}: ${r.problems.length} problem(s)`);
  for (const p of r.problems) lines.push(`  ${p.kind.padEnd(10)} ${escapeText(p.path)}: ${p.detail}`);
  for (const i of r.incomplete) lines.push(`  incomplete ${escapeText(i)}: temporary file of an interrupted write (not evidence, never read)`);
  if (r.locked) lines.push('  note: the bundle is locked by a writer (or a crashed one); results may change');
  lines.push(`chain head: ${r.chain_head}`);
  return lines.join('\n');
}
