/**
 * `custody record`: preflight, then the kernel recorder feeding the segment writer until a
 * duration passes, the scoped command exits, or the caller aborts (SIGINT/SIGTERM). Every
 * window is sealed into the bundle as it closes; at the end the open one is sealed too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as osConstants, hostname, release } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BundleWriter } from '../bundle/index.js';
import { Db } from '../util/duckdb.js';
import { EnvironmentError, UsageError } from '../util/errors.js';
import { CgroupResolver, cgroupV2Root } from './attribution.js';
import { serveMetrics, recorderRegistry, type MetricsAddress } from './metrics.js';
import { bootId, clocks, KernelRecorder, recorderProblems } from './native.js';
import { DEFAULT_CRED_PREFIXES } from './prefixes.js';
import { RowMapper, type Attributor } from './rows.js';
import { SegmentWriter, type RecordStats } from './segment.js';
import { decodeBatch, type KindName } from './wire.js';

/** `--events` groups → kernel event kinds. */
export const EVENT_GROUPS = {
  exec: ['exec', 'fork', 'exit'],
  net: ['connect', 'accept', 'tcp_state', 'tcp_reset'],
  cred: ['open'],
  priv: ['cred'],
  signal: ['signal'],
} as const satisfies Record<string, readonly KindName[]>;
export type EventGroup = keyof typeof EVENT_GROUPS;
export const EVENT_GROUP_NAMES = Object.keys(EVENT_GROUPS) as EventGroup[];

export interface RecordOptions {
  bundle: string;
  /** stop after this long (ms); without it, at the command's exit or on abort */
  durationMs?: number;
  groups?: readonly EventGroup[];
  /** cgroup v2 directories (absolute, or relative to the cgroup v2 mount) to scope to, with their subtrees */
  cgroups?: readonly string[];
  comms?: readonly string[];
  /** run this command (argv) scoped to its process tree; stop when it exits */
  command?: readonly string[];
  /** credential path prefixes added to the defaults */
  credPrefixes?: readonly string[];
  rateLimits?: Partial<Record<KindName, number>>;
  ringBytes?: number;
  segmentMs?: number;
  segmentBytes?: number;
  metrics?: MetricsAddress;
  /** cgroup id → workload attribution (default: a CgroupResolver over the cgroup v2 hierarchy) */
  attribute?: Attributor;
  signal?: AbortSignal;
  /** called about once a second while recording */
  onTick?: (t: RecordTick) => void;
}

export interface RecordTick {
  stats: RecordStats;
  elapsedMs: number;
  ringFill: number;
  /** drops so far: counted by the kernel, and records the decoder rejected (gap rows are written when the window seals) */
  liveDrops: number;
}

export interface RecordResult {
  bundle: string;
  stats: RecordStats;
  elapsedMs: number;
  stoppedBy: 'command' | 'duration' | 'signal';
  /** the command's exit code (128 + signal when killed); null without a command */
  exitCode: number | null;
}

/** Why recording cannot start here, each as one sentence (exit 2); checked before anything runs. */
export function preflight(bundle: string): string[] {
  const problems = recorderProblems();
  const out = outputProblem(bundle);
  if (out) problems.push(out);
  return problems;
}

function outputProblem(bundle: string): string | null {
  let p = resolve(bundle);
  for (;;) {
    try {
      const st = statSync(p);
      if (!st.isDirectory()) return `output ${bundle} is not writable: ${p} is not a directory.`;
      accessSync(p, constants.W_OK);
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(p) !== p) {
        p = dirname(p);
        continue;
      }
      return `output ${bundle} is not writable: ${p}: ${code ?? (err as Error).message}.`;
    }
  }
}

/** A cgroup directory's id (the inode number of the directory on cgroup v2). */
function cgroupId(path: string): bigint {
  const abs = isAbsolute(path) ? path : join(cgroupV2Root(), path);
  try {
    const st = statSync(abs, { bigint: true });
    if (!st.isDirectory()) throw new Error('not a directory');
    return st.ino;
  } catch (err) {
    throw new UsageError(`--cgroup ${JSON.stringify(path)}: ${abs} is not a cgroup directory (${(err as Error).message})`, `name a directory under ${cgroupV2Root()}`);
  }
}

/**
 * Starts the command stopped at a gate (a shell waiting on fd 3), so its pid can be put in the
 * kernel's pid filter before it execs the command: the command's own exec is always captured.
 */
function spawnGated(argv: readonly string[]): { child: ChildProcess; release: () => void } {
  const child = spawn('/bin/sh', ['-c', 'read _ <&3; exec 3<&-; exec "$0" "$@"', ...argv], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  return { child, release: () => (child.stdio[3] as NodeJS.WritableStream).end('\n') };
}

export async function record(o: RecordOptions): Promise<RecordResult> {
  const problems = preflight(o.bundle);
  if (problems.length > 0) {
    throw new EnvironmentError(`cannot record: ${problems.join('\n  ')}`, 'see `custody record --help` for what recording needs');
  }
  if (o.command && o.command.length === 0) throw new UsageError('no command after --');
  const kinds = [...new Set((o.groups ?? EVENT_GROUP_NAMES).flatMap((g) => EVENT_GROUPS[g]))];
  const cgroups = o.cgroups?.length ? o.cgroups.map(cgroupId) : undefined;

  const bundle = await BundleWriter.open(o.bundle, { create: true, command: 'record' });
  let db: Db | undefined;
  let recorder: KernelRecorder | undefined;
  let writer: SegmentWriter | undefined;
  let metricsServer: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let running = false;
  let closed = false;
  let writeError: Error | null = null;
  // A failed seal (disk full, bundle removed) or poll error ends the recording at once.
  let failed!: (err: Error) => void;
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => {});
  const fail = (cause: Error) => {
    const err = new EnvironmentError(
      `recording into ${o.bundle} failed: ${cause.message.split('\n')[0]}`,
      'segments sealed before the failure are intact (custody verify); free space or record elsewhere',
    );
    writeError ??= err;
    failed(err);
  };
  try {
    db = await Db.open({ threads: 1, memoryLimit: '512MB' });
    const batches: Buffer[] = [];
    let deliver: ((b: Buffer) => void) | null = null;
    recorder = new KernelRecorder({
      kinds,
      ...(o.command ? { pids: [] } : {}),
      ...(cgroups ? { cgroups } : {}),
      ...(o.comms?.length ? { comms: [...o.comms] } : {}),
      credPrefixes: [...DEFAULT_CRED_PREFIXES, ...(o.credPrefixes ?? [])],
      rateLimits: Object.fromEntries(Object.entries(o.rateLimits ?? {}).map(([k, perSec]) => [k, { perSec }])),
      ...(o.ringBytes ? { ringBytes: o.ringBytes } : {}),
      onBatch: (b) => (deliver ? deliver(b) : batches.push(b)),
      onError: fail,
    });
    const rec = recorder;
    // Attached before the bundle names this host: a caller that sees the host entry knows
    // capture is on. Batches that arrive before the writer is open wait in `batches`.
    const started = Date.now();
    recorder.start();
    running = true;
    const mapper = new RowMapper(bootId(), hostname(), o.attribute ?? resolverAttributor(new CgroupResolver()), (id) => rec.credPrefix(id));
    writer = await SegmentWriter.open({
      bundle,
      db,
      mapper,
      host: { name: hostname(), bootId: mapper.bootId, kernel: release() },
      clocks,
      counters: () => rec.counters(),
      ...(o.segmentMs ? { segmentMs: o.segmentMs } : {}),
      ...(o.segmentBytes ? { segmentBytes: o.segmentBytes } : {}),
      onError: fail,
    });
    const w = writer;
    deliver = (b) => {
      try {
        // Records the decoder rejects (addon and decoder disagree) become gap rows, not silence.
        w.write(decodeBatch(b, (lost) => w.lost(lost)));
      } catch (err) {
        fail(err as Error); // staging write failed (disk full): stop, do not go on silently
      }
    };
    for (const b of batches.splice(0)) deliver(b);
    if (o.metrics) metricsServer = await serveMetrics(o.metrics, recorderRegistry({ stats: w.stats, ringFill: () => rec.ringFill(), counters: () => rec.counters() }));

    if (o.onTick) {
      ticker = setInterval(() => {
        const c = rec.counters();
        const liveDrops = Object.values(c).reduce((a, k) => a + k.ringFull + k.rateLimited, 0) + w.stats.undecodable.records;
        o.onTick!({ stats: w.stats, elapsedMs: Date.now() - started, ringFill: rec.ringFill(), liveDrops });
      }, 1000);
    }

    // What ends the recording.
    const stops: Promise<{ by: RecordResult['stoppedBy']; code: number | null }>[] = [];
    let gated: ReturnType<typeof spawnGated> | undefined;
    if (o.command) {
      gated = spawnGated(o.command);
      const child = gated.child;
      const exited = once(child, 'exit').then(([code, sig]) => ({ by: 'command' as const, code: code ?? 128 + signalNumber(sig as NodeJS.Signals) }));
      const spawnFailed = once(child, 'error').then(([err]) => Promise.reject(new UsageError(`cannot run ${JSON.stringify(o.command![0])}: ${(err as Error).message}`)));
      stops.push(exited, spawnFailed);
      recorder.addPid(child.pid!);
      gated.release();
    }
    if (o.durationMs !== undefined) stops.push(sleep(o.durationMs, o.signal).then(() => ({ by: 'duration' as const, code: null })));
    if (o.signal) {
      const sig = o.signal;
      stops.push(
        (sig.aborted ? Promise.resolve() : once(sig, 'abort')).then(() => {
          const reason = sig.reason as NodeJS.Signals | undefined;
          if (gated?.child.exitCode === null) gated.child.kill(typeof reason === 'string' ? reason : 'SIGTERM');
          return { by: 'signal' as const, code: null };
        }),
      );
    }
    const end = await Promise.race([...stops, failure]);
    running = false;
    await recorder.stop();
    if (ticker) clearInterval(ticker);
    let stats: RecordStats;
    try {
      stats = await writer.close();
    } catch (err) {
      fail(err as Error);
      throw writeError!;
    }
    if (writeError) throw writeError;
    closed = true;
    return { bundle: o.bundle, stats, elapsedMs: Date.now() - started, stoppedBy: end.by, exitCode: end.code };
  } finally {
    if (ticker) clearInterval(ticker);
    if (running) await recorder?.stop();
    if (!closed) await writer?.abort();
    metricsServer?.close();
    db?.close();
    await bundle.close();
  }
}

function resolverAttributor(resolver: CgroupResolver): Attributor {
  return (cgroupId) => resolver.resolve(cgroupId);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(res, ms);
    signal?.addEventListener('abort', () => clearTimeout(t), { once: true });
  });
}

function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (osConstants.signals as Record<string, number>)[sig] ?? 0 : 0;
}
