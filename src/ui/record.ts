import type { RecordResult, RecordTick } from '../record/record.js';
import type { RecordStats } from '../record/segment.js';
import { escapeText } from '../util/escape.js';
import { StatusLine } from './status-line.js';

/** What `custody record` shows: a live status line on a terminal, a summary at the end. */

const SHORT: Record<string, string> = { tcp_state: 'tcp', tcp_reset: 'rst' };

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function dropTotal(stats: RecordStats): number {
  return Object.values(stats.drops).reduce((a, d) => a + d.ring_full + d.rate_limited, 0);
}

function mb(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MB` : `${(bytes / 1024).toFixed(0)} kB`;
}

/** events/s by kind, drops, segments, ring fill; redrawn in place about once a second. */
export class RecordStatusLine {
  private last: Record<string, number> | null = null;
  private lastMs = 0;
  private readonly line: StatusLine;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.line = new StatusLine(stream);
  }

  update(t: RecordTick): void {
    const now = { ...t.stats.events };
    const secs = Math.max(0.001, (t.elapsedMs - this.lastMs) / 1000);
    const prev = this.last;
    this.last = now;
    this.lastMs = t.elapsedMs;
    const rates = Object.entries(now)
      .map(([k, v]) => [k, (v - (prev?.[k] ?? 0)) / secs] as const)
      .filter(([, r]) => r > 0)
      .map(([k, r]) => `${SHORT[k] ?? k} ${r.toFixed(0)}`);
    const rate = (total(now) - (prev ? total(prev) : 0)) / secs;
    const text =
      `record ${Math.floor(t.elapsedMs / 1000)}s · ${rate.toFixed(0)} ev/s${rates.length ? ` (${rates.join(', ')})` : ''}` +
      ` · drops ${t.liveDrops} · ${t.stats.segments} segments, ${mb(t.stats.bytesWritten)} · ring ${(t.ringFill * 100).toFixed(0)}%`;
    this.line.draw(text);
  }

  done(): void {
    this.line.done();
  }
}

export function renderRecord(r: RecordResult): string {
  const s = r.stats;
  const lines: string[] = [];
  const why = r.stoppedBy === 'command' ? `command exited ${r.exitCode}` : r.stoppedBy === 'duration' ? 'duration reached' : 'interrupted';
  lines.push(`recorded into ${escapeText(r.bundle)} for ${(r.elapsedMs / 1000).toFixed(1)} s (${why})`);
  const kinds = Object.entries(s.events).filter(([, v]) => v > 0);
  lines.push(`  ${s.rows} events${kinds.length ? `: ${kinds.map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}`);
  const drops = dropTotal(s);
  if (drops > 0) {
    const by = Object.entries(s.drops)
      .flatMap(([k, d]) => [d.ring_full ? `${k} ${d.ring_full} ring full` : '', d.rate_limited ? `${k} ${d.rate_limited} rate limited` : ''])
      .filter(Boolean);
    lines.push(`  ${drops} events DROPPED (written as gap rows): ${by.join(', ')}`);
  } else lines.push('  no drops');
  lines.push(`  ${s.segments} segment(s), ${s.gapFiles} gap file(s), ${mb(s.bytesWritten)} sealed; check with: custody verify ${escapeText(r.bundle)}`);
  const u = s.undecodable;
  if (u.records > 0) lines.push(`  ${u.records} record(s) (${u.bytes} bytes) could not be decoded, written as gap rows (recorder and BPF object from different builds? rebuild with npm run build:native)`);
  return lines.join('\n');
}
