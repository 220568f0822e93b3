/**
 * The recorder's segment writer: decoded events become model rows staged as NDJSON inside the
 * bundle (under a temporary name), and each window is converted by DuckDB into
 * `kernel/<host>/seg-NNNNNN.parquet`, fsynced, renamed and committed into the manifest's hash
 * chain on its own — so a SIGKILL loses at most the open window, and every sealed segment
 * verifies.
 *
 * A window closes after `segmentMs` (default 10 s: at most ten seconds of evidence lost to a
 * SIGKILL, and few enough files for an hour-long capture: 360) or once `segmentBytes` of rows
 * are staged (default 64 MiB of NDJSON, roughly 100k–200k events, a Parquet file of a few MB),
 * whichever comes first. With the segment, the window's drops (per kind, ring_full and
 * rate_limited, from the kernel counters' deltas) are written as gap rows in
 * `kernel/<host>/gaps-NNNNNN.parquet` and added to the manifest's drops, and the cgroups first
 * seen in the window as an attribution snapshot `kernel/<host>/cgroups-NNNNNN.parquet`.
 * The manifest's host entry (name, boot id, kernel release) gets the boot→UTC offset measured
 * when the run starts (`runs`) and the one each segment used (`clock_offsets`).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BundleWriter, Entry, Manifest } from '../bundle/index.js';
import { eventId, stageEvent } from '../ingest/normalize.js';
import { NdjsonFile, stagedToParquet } from '../ingest/staging.js';
import { EVENT_SCHEMA_VERSION } from '../model/columns.js';
import type { NormalizedEvent } from '../model/event.js';
import { formatTimeNs } from '../model/time.js';
import { safeFileName } from '../bundle/paths.js';
import { sqlPath, type Db } from '../util/duckdb.js';
import type { KindCounters } from './native.js';
import { KERNEL_SOURCE, type Attribution, type RowMapper } from './rows.js';
import { KIND_NAMES, type KindName, type Undecodable, type WireEvent } from './wire.js';

export const DEFAULT_SEGMENT_MS = 10_000;
export const DEFAULT_SEGMENT_BYTES = 64 << 20;

/** ring_full and rate_limited are counted in the kernel; undecodable records are found by the decoder. */
export type DropReason = 'ring_full' | 'rate_limited' | 'undecodable';

/** One gap row: `kind` is 'unknown' for a record whose header names no kind the decoder knows. */
interface Gap {
  kind: KindName | 'unknown';
  reason: DropReason;
  count: number;
  /** undecodable: bytes lost and the first decoder message */
  bytes?: number;
  detail?: string;
}

export interface HostInfo {
  name: string;
  bootId: string;
  /** kernel release (uname -r) */
  kernel: string;
}

export interface SegmentWriterOptions {
  bundle: BundleWriter;
  db: Db;
  mapper: RowMapper;
  host: HostInfo;
  /** boot-time and wall-clock ns read back to back */
  clocks: () => { boottimeNs: bigint; realtimeNs: bigint };
  /** cumulative per-kind kernel counters (final after the recorder stopped) */
  counters: () => Record<KindName, KindCounters>;
  segmentMs?: number;
  segmentBytes?: number;
  /** a sealing step failed (the writer stops writing; close() rethrows) */
  onError?: (err: Error) => void;
}

/** Running totals, for the status line, the metrics and the summary. */
export interface RecordStats {
  events: Record<KindName, number>;
  drops: Record<KindName, { ring_full: number; rate_limited: number }>;
  /** records the decoder rejected (BPF object and decoder disagree), counted as they arrive; gap rows when their window seals */
  undecodable: { records: number; bytes: number };
  rows: number;
  segments: number;
  gapFiles: number;
  bytesWritten: number;
  files: string[];
}

interface Window {
  number: number;
  segment: string;
  stagingPath: string;
  staging: NdjsonFile;
  rows: number;
  bytes: number;
  minTime: bigint | null;
  maxTime: bigint | null;
  startBoot: bigint;
  offset: bigint;
  measured: string;
}

/** The bundle directory of one host's kernel files. */
export function kernelDir(host: string): string {
  return `kernel/${safeFileName(host, 64)}`;
}

export class SegmentWriter {
  readonly stats: RecordStats;
  readonly #o: Required<Omit<SegmentWriterOptions, 'onError'>> & Pick<SegmentWriterOptions, 'onError'>;
  readonly #dir: string;
  #window!: Window;
  #baseline: Record<KindName, KindCounters>;
  #snapshotted = new Set<bigint>();
  /** undecodable records since the last window sealed, by kind */
  #lost = new Map<KindName | 'unknown', Gap>();
  #sealing: Promise<void> = Promise.resolve();
  #error: Error | null = null;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(o: SegmentWriterOptions) {
    this.#o = { segmentMs: DEFAULT_SEGMENT_MS, segmentBytes: DEFAULT_SEGMENT_BYTES, ...o };
    this.#dir = kernelDir(o.host.name);
    const zero = <T>(f: () => T) => Object.fromEntries(KIND_NAMES.map((k) => [k, f()])) as Record<KindName, T>;
    // The kernel's counters start at zero when the recorder loads, which may be before this.
    this.#baseline = zero(() => ({ emitted: 0, ringFull: 0, rateLimited: 0, filtered: 0 }));
    this.stats = {
      events: zero(() => 0),
      drops: zero(() => ({ ring_full: 0, rate_limited: 0 })),
      undecodable: { records: 0, bytes: 0 },
      rows: 0,
      segments: 0,
      gapFiles: 0,
      bytesWritten: 0,
      files: [],
    };
  }

  /** Registers the host in the manifest (committed at once) and opens the first window. */
  static async open(o: SegmentWriterOptions): Promise<SegmentWriter> {
    const w = new SegmentWriter(o);
    const { boottimeNs, realtimeNs } = o.clocks();
    await o.bundle.commit((m) => {
      hostEntry(m, o.host).runs.push({ run_id: o.bundle.runId, boot_to_utc_ns: (realtimeNs - boottimeNs).toString(), measured: formatTimeNs(realtimeNs) });
    });
    const first = Math.max(
      ...(await Promise.all(['seg-', 'gaps-', 'cgroups-'].map((p) => o.bundle.nextNumbered(w.#dir, p, '.parquet')))).map(numberOf),
    );
    await mkdir(o.bundle.abs(w.#dir), { recursive: true });
    w.#window = w.#openWindow(first);
    w.#timer = setInterval(() => {
      const age = Number(w.#o.clocks().boottimeNs - w.#window.startBoot) / 1e6;
      if (age >= w.#o.segmentMs) w.rotate();
    }, Math.min(1000, w.#o.segmentMs));
    w.#timer.unref();
    return w;
  }

  /** A window is opened synchronously (its directory exists), so no batch waits for it. */
  #openWindow(number: number): Window {
    const segment = `${this.#dir}/seg-${String(number).padStart(6, '0')}.parquet`;
    const stagingPath = this.#o.bundle.tmpName(segment.replace(/\.parquet$/, '.ndjson'));
    const { boottimeNs, realtimeNs } = this.#o.clocks();
    return {
      number,
      segment,
      stagingPath,
      staging: new NdjsonFile(stagingPath),
      rows: 0,
      bytes: 0,
      minTime: null,
      maxTime: null,
      startBoot: boottimeNs,
      offset: realtimeNs - boottimeNs,
      measured: formatTimeNs(realtimeNs),
    };
  }

  /** Maps and stages events (synchronous: called from the recorder's batch callback). */
  write(events: readonly WireEvent[]): void {
    if (this.#closed || this.#error) return;
    const w = this.#window;
    for (const ev of events) {
      this.stats.events[ev.kind]++;
      const row = this.#o.mapper.toRow(ev, w.offset, w.segment, w.rows + 1);
      const line = stageEvent(row);
      w.staging.add(line);
      w.rows++;
      w.bytes += line.length + 1;
      if (w.minTime === null || row.time < w.minTime) w.minTime = row.time;
      if (w.maxTime === null || row.time > w.maxTime) w.maxTime = row.time;
    }
    if (w.bytes >= this.#o.segmentBytes) this.rotate();
  }

  /**
   * Closes the open window and queues it for sealing; a new window starts at once. A window
   * with no rows and no drops is kept open (no empty files).
   */
  rotate(): Promise<void> {
    return this.#rotate(false);
  }

  /** Records the decoder could not read: they become gap rows of the open window (reason undecodable). */
  lost(l: Undecodable): void {
    this.stats.undecodable.records += l.records;
    this.stats.undecodable.bytes += l.bytes;
    const kind = l.kind ?? 'unknown';
    const g = this.#lost.get(kind);
    if (g) {
      g.count += l.records;
      g.bytes! += l.bytes;
    } else this.#lost.set(kind, { kind, reason: 'undecodable', count: l.records, bytes: l.bytes, detail: l.detail });
  }

  /** `final`: the last window; cgroups still unresolved are listed in its snapshot. */
  #rotate(final: boolean): Promise<void> {
    if (this.#error) return this.#sealing;
    const w = this.#window;
    const gaps: Gap[] = [...this.#dropsSince(), ...this.#lost.values()];
    this.#lost.clear();
    if (w.rows === 0 && gaps.length === 0) return this.#sealing;
    const endBoot = this.#o.clocks().boottimeNs;
    this.#window = this.#openWindow(w.number + 1);
    this.#sealing = this.#sealing
      .then(() => this.#seal(w, gaps, endBoot, final))
      .catch((err: Error) => {
        this.#error ??= err;
        this.#o.onError?.(err);
      });
    return this.#sealing;
  }

  /** Seals the last window and stops. Call after the recorder stopped (final counters). */
  async close(): Promise<RecordStats> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#rotate(true);
    await this.#sealing;
    this.#closed = true;
    const w = this.#window;
    w.staging.close();
    await rm(w.stagingPath, { force: true });
    if (this.#error) throw this.#error;
    return this.stats;
  }

  /**
   * Stops after a failure: the open window is abandoned and this run's temporary files are
   * removed (they are not evidence; sealed segments stay as committed).
   */
  async abort(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#closed = true;
    try {
      this.#window?.staging.close();
    } catch {
      // the disk is full: the file is removed below anyway
    }
    await this.#sealing;
    const { bundle } = this.#o;
    const probe = `${this.#dir}/x`;
    const suffix = bundle.tmpName(probe).slice(bundle.abs(probe).length);
    const dir = bundle.abs(this.#dir);
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.endsWith(suffix)) await rm(join(dir, name), { force: true });
    }
  }

  /** Per-kind drops since the last call, from the kernel's cumulative counters. */
  #dropsSince(): Gap[] {
    const now = this.#o.counters();
    const out: Gap[] = [];
    for (const k of KIND_NAMES) {
      const ring = now[k].ringFull - this.#baseline[k].ringFull;
      const rate = now[k].rateLimited - this.#baseline[k].rateLimited;
      if (ring > 0) out.push({ kind: k, reason: 'ring_full', count: ring });
      if (rate > 0) out.push({ kind: k, reason: 'rate_limited', count: rate });
    }
    this.#baseline = now;
    return out;
  }

  async #seal(w: Window, gaps: Gap[], endBoot: bigint, final: boolean): Promise<void> {
    const { bundle, db } = this.#o;
    const sealed: Entry[] = [];
    w.staging.close();
    const pad = String(w.number).padStart(6, '0');
    if (w.rows > 0) {
      const tmp = await bundle.tmpFor(w.segment);
      await stagedToParquet(db, [w.stagingPath], tmp);
      sealed.push(
        await bundle.seal(tmp, w.segment, {
          kind: 'kernel',
          rows: w.rows,
          schemaVersion: EVENT_SCHEMA_VERSION,
          timeRange: { start: formatTimeNs(w.minTime!), end: formatTimeNs(w.maxTime!) },
          producer: { source: KERNEL_SOURCE },
        }),
      );
    } else {
      await rm(w.stagingPath, { force: true });
    }
    if (gaps.length > 0) {
      const rel = `${this.#dir}/gaps-${pad}.parquet`;
      const start = w.startBoot + w.offset;
      const end = endBoot + w.offset;
      const rows = gaps.map((g, i) => this.#gapRow(rel, i + 1, w.startBoot, start, end, g));
      const staging = await bundle.tmpFor(rel.replace(/\.parquet$/, '.ndjson'));
      const file = new NdjsonFile(staging);
      for (const r of rows) file.add(stageEvent(r));
      file.close();
      const tmp = await bundle.tmpFor(rel);
      await stagedToParquet(db, [staging], tmp);
      sealed.push(
        await bundle.seal(tmp, rel, {
          kind: 'gaps',
          rows: rows.length,
          schemaVersion: EVENT_SCHEMA_VERSION,
          timeRange: { start: formatTimeNs(start), end: formatTimeNs(end) },
          producer: { source: KERNEL_SOURCE },
        }),
      );
    }
    const { mapper } = this.#o;
    // Ask again for ids that did not resolve when their rows were mapped; the snapshot lets
    // reconstruct attribute those rows by cgroup id. Still unknown at the end: listed unresolved.
    for (const id of [...mapper.unresolved()]) mapper.attribution(id);
    const fresh: [bigint, Attribution | null][] = [...mapper.attributions()].filter(([id]) => !this.#snapshotted.has(id));
    if (final) for (const id of mapper.unresolved()) if (!this.#snapshotted.has(id)) fresh.push([id, null]);
    if (fresh.length > 0) {
      const rel = `${this.#dir}/cgroups-${pad}.parquet`;
      sealed.push(await this.#snapshot(rel, fresh));
      for (const [id] of fresh) this.#snapshotted.add(id);
    }
    await bundle.commit((m) => {
      const host = hostEntry(m, this.#o.host);
      host.clock_offsets.push({ segment: sealed[0]!.path, boot_to_utc_ns: w.offset.toString(), measured: w.measured });
      for (const g of gaps) {
        m.drops.total += g.count;
        m.drops.by_kind[g.kind] = (m.drops.by_kind[g.kind] ?? 0) + g.count;
      }
    });
    // (undecodable records are counted in stats as they arrive, by lost())
    for (const g of gaps) if (g.reason !== 'undecodable') this.stats.drops[g.kind as KindName][g.reason] += g.count;
    for (const e of sealed) {
      this.stats.bytesWritten += e.size;
      this.stats.files.push(e.path);
      if (e.kind === 'kernel') this.stats.segments++;
      if (e.kind === 'gaps') this.stats.gapFiles++;
    }
    this.stats.rows += w.rows;
  }

  #gapRow(rel: string, index: number, startBoot: bigint, start: bigint, end: bigint, g: Gap): NormalizedEvent {
    const ref = `${rel}:${index}`;
    return {
      event_id: eventId(KERNEL_SOURCE, ref),
      source_event_id: `${this.#o.host.bootId}:${startBoot}:0:gap-${g.kind}-${g.reason}`,
      time: start,
      source: KERNEL_SOURCE,
      source_ref: ref,
      host: this.#o.host.name,
      category: 'gap',
      action: 'drop',
      outcome: 'unknown',
      reason: g.reason,
      target: g.kind,
      attrs: {
        kind: g.kind,
        drop_count: g.count,
        gap_end: formatTimeNs(end),
        reason: g.reason,
        ...(g.bytes !== undefined ? { bytes: g.bytes } : {}),
        ...(g.detail !== undefined ? { detail: g.detail } : {}),
      },
    };
  }

  async #snapshot(rel: string, rows: [bigint, Attribution | null][]): Promise<Entry> {
    const { bundle, db } = this.#o;
    const staging = await bundle.tmpFor(rel.replace(/\.parquet$/, '.ndjson'));
    const file = new NdjsonFile(staging);
    for (const [id, a] of rows) {
      file.add(JSON.stringify({ cgroup_id: id.toString(), cgroup_path: a?.cgroup_path ?? null, runtime: a?.runtime ?? null, container_id: a?.container_id ?? null, pod_uid: a?.pod_uid ?? null, qos: a?.qos ?? null }));
    }
    file.close();
    const tmp = await bundle.tmpFor(rel);
    try {
      // Custody's own staging path, quoted as a literal; the output path is bound.
      await db.conn.run(
        `COPY (SELECT CAST(cgroup_id AS UBIGINT) AS cgroup_id, cgroup_path, runtime, container_id, pod_uid, qos
               FROM read_json(${sqlPath(staging)}, format = 'newline_delimited',
                 columns = {cgroup_id: 'VARCHAR', cgroup_path: 'VARCHAR', runtime: 'VARCHAR', container_id: 'VARCHAR', pod_uid: 'VARCHAR', qos: 'VARCHAR'}))
         TO $1 (FORMAT parquet, COMPRESSION zstd)`,
        [tmp],
      );
    } finally {
      await rm(staging, { force: true });
    }
    return bundle.seal(tmp, rel, { kind: 'snapshot', rows: rows.length, schemaVersion: 1, timeRange: null, producer: { source: KERNEL_SOURCE } });
  }
}

interface ClockOffset {
  segment: string;
  boot_to_utc_ns: string;
  measured: string;
}

/** One recording run on this host and boot: the boot→UTC offset measured when it started. */
interface RunStart {
  run_id: string;
  boot_to_utc_ns: string;
  measured: string;
}

type HostEntry = Manifest['hosts'][number] & { clock_offsets: ClockOffset[]; runs: RunStart[] };

/** This host and boot's entry in the manifest, added when missing. */
function hostEntry(m: Manifest, host: HostInfo): HostEntry {
  let h = m.hosts.find((x) => x.name === host.name && x.boot_id === host.bootId) as HostEntry | undefined;
  if (!h) {
    h = { name: host.name, boot_id: host.bootId, kernel: host.kernel, runs: [], clock_offsets: [] };
    m.hosts.push(h);
  }
  if (!Array.isArray(h.clock_offsets)) h.clock_offsets = [];
  if (!Array.isArray(h.runs)) h.runs = [];
  return h;
}

function numberOf(rel: string): number {
  return Number(/(\d{6,})\.parquet$/.exec(rel)![1]);
}
