// Shared helpers for custody's benchmarks: run a command, measure wall time and peak RSS.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';

export const REPO = new URL('../', import.meta.url).pathname;

/** Runs argv under GNU time; returns wall seconds and peak RSS (MB). Throws on failure. */
export function measure(argv, opts = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}):\n${r.stderr.slice(-2000)}`);
  const last = r.stderr.trim().split('\n').at(-1).split(' ');
  return { seconds: Number(last[0]), rssMb: Math.round(Number(last[1]) / 1024), stdout: r.stdout };
}

export function machine() {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

export function table(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(w[i])).join('  ')).join('\n');
}
