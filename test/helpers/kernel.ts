import { BundleWriter } from '../../src/bundle/index.js';
import { eventId, stageEvent } from '../../src/ingest/normalize.js';
import { NdjsonFile, stagedToParquet } from '../../src/ingest/staging.js';
import { EVENT_SCHEMA_VERSION } from '../../src/model/columns.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { formatTimeNs } from '../../src/model/time.js';
import { parseCgroupPath } from '../../src/record/attribution.js';
import { Db } from '../../src/util/duckdb.js';

/**
 * Kernel evidence for reconstruct tests, written as the recorder contract specifies (brief,
 * "Contract for kernel evidence in a bundle"): a real Parquet segment `kernel/<host>/seg-NNNNNN.parquet`
 * in the normalized model, sealed and committed through BundleWriter (kind `kernel`), with the
 * host's boot id and boot→UTC offset in the manifest. Rows go through the ingest staging path.
 */

export const BOOT_ID = '3f0c6a2e-9b1d-4e58-a7c4-2d6f8e1b0a93';

export interface KernelProcess {
  pid: number;
  /** Process start time, boot-time ns: with the boot id, the process key. */
  start: bigint;
  parent?: KernelProcess;
  uid?: number;
  exe?: string;
  argv?: string[];
  comm?: string;
  /** cgroup v2 id; the recorder always has one (default 1: the root cgroup). */
  cgroupId?: bigint;
  /** cgroup v2 path; container id and pod uid come from it (src/record/attribution.ts). Default `/`. */
  cgroupPath?: string;
}

export type KernelEvent =
  | { kind: 'exec' | 'fork' | 'exit'; proc: KernelProcess; at: bigint; tid?: number }
  | { kind: 'open'; proc: KernelProcess; at: bigint; path: string; outcome?: 'success' | 'failure'; tid?: number }
  | { kind: 'connect'; proc: KernelProcess; at: bigint; dst: [string, number]; src?: [string, number]; outcome?: 'success' | 'failure'; reason?: string; tid?: number };

export function processKey(p: KernelProcess, boot = BOOT_ID): string {
  return `${boot}:${p.pid}:${p.start}`;
}

/** The normalized rows of one segment, in the contract's shape. `bootToUtcNs`: UTC ns of boot time 0. */
export function kernelRows(segment: string, host: string, bootToUtcNs: bigint, events: readonly KernelEvent[], boot = BOOT_ID): NormalizedEvent[] {
  return events.map((ev, i) => {
    const p = ev.proc;
    const attribution = parseCgroupPath(p.cgroupPath ?? '/');
    const source_ref = `${segment}:${i + 1}`;
    const tid = ev.tid ?? p.pid;
    const row: NormalizedEvent = {
      event_id: eventId('kernel', source_ref),
      source_event_id: `${boot}:${ev.at}:${tid}:${ev.kind}`,
      time: bootToUtcNs + ev.at,
      source: 'kernel',
      source_ref,
      host,
      category: ev.kind === 'open' ? 'file' : ev.kind === 'connect' ? 'network' : 'process',
      action: ev.kind,
      outcome: ev.kind === 'open' || ev.kind === 'connect' ? (ev.outcome ?? 'success') : 'success',
      actor_id: processKey(p, boot),
      actor_type: attribution.container_id ? 'workload' : 'unknown',
      container_id: attribution.container_id,
      k8s_pod_uid: attribution.pod_uid,
      cgroup_id: p.cgroupId ?? 1n,
      process_key: processKey(p, boot),
      pid: p.pid,
      ppid: p.parent?.pid ?? null,
      parent_key: p.parent ? processKey(p.parent, boot) : null,
      uid: p.uid ?? 0,
      exe: p.exe ?? null,
      argv: p.argv ?? null,
      comm: p.comm ?? null,
      attrs: { kind: ev.kind, tid, boot_ns: String(ev.at), cgroup_path: attribution.cgroup_path, runtime: attribution.runtime, gid: 0 },
    };
    if (ev.kind === 'open') row.target = ev.path;
    if (ev.kind === 'connect') {
      row.dst_ip = ev.dst[0];
      row.dst_port = ev.dst[1];
      row.src_ip = ev.src?.[0] ?? null;
      row.src_port = ev.src?.[1] ?? null;
      row.protocol = 'tcp';
      row.target = `${ev.dst[0]}:${ev.dst[1]}`;
      row.reason = ev.reason ?? null;
    }
    return row;
  });
}

/** Writes one kernel segment of `events` into `bundle` (created if new) and commits it. */
export async function writeKernelSegment(bundle: string, events: readonly KernelEvent[], opts: { host?: string; bootToUtcNs: bigint }): Promise<NormalizedEvent[]> {
  const host = opts.host ?? 'node-1';
  const writer = await BundleWriter.open(bundle, { create: true, command: 'record' });
  const db = await Db.open();
  try {
    const rel = await writer.nextNumbered(`kernel/${host}`, 'seg-', '.parquet');
    const rows = kernelRows(rel, host, opts.bootToUtcNs, events);
    const tmp = await writer.tmpFor(rel);
    const staged = new NdjsonFile(`${tmp}.ndjson`);
    for (const r of rows) staged.add(stageEvent(r));
    staged.close();
    await stagedToParquet(db, [staged.path], tmp);
    const times = rows.map((r) => r.time).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    await writer.seal(tmp, rel, {
      kind: 'kernel',
      rows: rows.length,
      schemaVersion: EVENT_SCHEMA_VERSION,
      timeRange: times.length ? { start: formatTimeNs(times[0]!), end: formatTimeNs(times[times.length - 1]!) } : null,
      producer: { source: 'kernel' },
    });
    await writer.commit((m) => {
      let h = m.hosts.find((x) => x.name === host);
      if (!h) m.hosts.push((h = { name: host, boot_id: BOOT_ID, kernel: '6.18.0' }));
      const offsets = ((h as Record<string, unknown>).clock_offsets as unknown[] | undefined) ?? [];
      offsets.push({ segment: rel, boot_to_utc_ns: String(opts.bootToUtcNs), measured: new Date(Number(opts.bootToUtcNs / 1_000_000n)).toISOString() });
      (h as Record<string, unknown>).clock_offsets = offsets;
    });
    return rows;
  } finally {
    db.close();
    await writer.close();
  }
}

