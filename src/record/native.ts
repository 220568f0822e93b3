/**
 * The TypeScript side of the native recorder: finds and loads the addon
 * (native/build/Release/custody_bpf.node) with a message that says what is
 * missing, validates options, and wraps the native Recorder with kind names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  CRED_PREFIX_MAX_ENTRIES,
  credPrefixProblem,
  expandCredPrefixes,
  userHomes,
} from './prefixes.js';
import { KIND, KIND_NAMES, kindMask, type KindName } from './wire.js';

// src/record/native.ts and dist/record/native.js both sit two levels below the package root.
const PACKAGE_ROOT = new URL('../../', import.meta.url);
export const ADDON_PATH = fileURLToPath(new URL('native/build/Release/custody_bpf.node', PACKAGE_ROOT));
export const BPF_OBJECT_PATH = fileURLToPath(new URL('bpf/build/custody.bpf.o', PACKAGE_ROOT));
export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';
export const BUILD_PACKAGES = 'apt-get install clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev';

/** The environment cannot run the recorder: not built, no BTF, not root. */
export class RecorderUnavailableError extends Error {
  constructor(
    message: string,
    /** what to do about it */
    readonly hint: string,
    options?: { cause?: unknown },
  ) {
    super(`${message}\n${hint}`, options);
    this.name = 'RecorderUnavailableError';
  }
}

// ---- the native module's shape ----

export interface NativeCounters {
  emitted: number;
  ringFull: number;
  rateLimited: number;
  filtered: number;
}

export interface NativeInfo {
  state: 'loaded' | 'running' | 'stopped';
  /** programs loaded (verified) for the enabled kinds */
  loaded: string[];
  attached: string[];
  /** optional programs that could not be attached (older kernels) */
  warnings: string[];
  kinds: number;
  ringBytes: number;
  selfTgid: number;
}

export interface NativeRecorderOptions {
  objectPath: string;
  onBatch: (batch: Buffer) => void;
  onError?: (err: Error) => void;
  kinds: number;
  selfTgid: number;
  filterPid: boolean;
  filterCgroup: boolean;
  filterComm: boolean;
  pids: number[];
  cgroups: (bigint | number)[];
  comms: string[];
  credPrefixes: string[];
  rateLimits: { kind: number; perSec: number; burst: number }[];
  ringBytes: number;
  batchBytes: number;
  flushMs: number;
  maxInFlight: number;
}

export interface NativeRecorder {
  start(): void;
  stop(): Promise<void>;
  counters(): NativeCounters[];
  addPid(tgid: number): void;
  removePid(tgid: number): void;
  addCgroup(id: bigint | number): void;
  addComm(comm: string): void;
  setCredPrefixes(prefixes: string[]): void;
  setRateLimit(kind: number, perSec: number, burst: number): void;
  ringFill(): number;
  info(): NativeInfo;
}

export interface NativeLayout {
  version: number;
  kindMax: number;
  kinds: Record<string, number>;
  structs: Record<string, { size: number; fields: Record<string, [number, number]> }>;
}

export interface NativeAddon {
  Recorder: new (options: NativeRecorderOptions) => NativeRecorder;
  layout(): NativeLayout;
  clocks(): { boottimeNs: bigint; realtimeNs: bigint };
}

// ---- loading ----

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  return dirs.some((d) => d && existsSync(join(d, cmd)));
}

/** Build prerequisites that are not installed (names as a user would install them). */
export function missingBuildTools(): string[] {
  const missing: string[] = [];
  if (!onPath('clang')) missing.push('clang');
  if (!onPath('bpftool')) missing.push('bpftool');
  if (!existsSync('/usr/include/bpf/libbpf.h')) missing.push('libbpf-dev');
  if (!existsSync('/usr/include/gelf.h')) missing.push('libelf-dev');
  if (!existsSync('/usr/include/zlib.h')) missing.push('zlib1g-dev');
  return missing;
}

function buildHint(): string {
  const missing = missingBuildTools();
  if (missing.length > 0) {
    return `Install the build tools (missing: ${missing.join(', ')}): ${BUILD_PACKAGES}; then run \`npm run build:native\`.`;
  }
  return 'Run `npm run build:native` (builds bpf/build/custody.bpf.o and the addon).';
}

let cached: NativeAddon | undefined;

/** Loads the addon once; throws RecorderUnavailableError naming what is missing. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    throw new RecorderUnavailableError(`The kernel recorder is not built: ${ADDON_PATH} is missing.`, buildHint());
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new RecorderUnavailableError(
      `The kernel recorder addon at ${ADDON_PATH} does not load: ${reason}`,
      `Install the runtime library (apt-get install libbpf1 libelf1 zlib1g) or rebuild it: ${buildHint()}`,
      { cause },
    );
  }
  return cached;
}

/** True when the addon file exists (it may still fail to load). */
export function addonBuilt(): boolean {
  return existsSync(ADDON_PATH);
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The effective capability set (from /proc/self/status), or null when it cannot be read. */
function effectiveCaps(): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

/**
 * Whether this process may load and attach eBPF programs: CAP_BPF and CAP_PERFMON, or
 * CAP_SYS_ADMIN (which the kernel still accepts), in its effective set. Root has them unless they
 * were dropped (a container, setpriv); uid 0 alone is not the test.
 */
export function hasBpfPrivileges(): boolean {
  const eff = effectiveCaps();
  if (eff === null) return process.getuid?.() === 0;
  const has = (cap: bigint) => ((eff >> cap) & 1n) === 1n;
  return has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
}

/**
 * What stops the recorder from running here, as user-facing sentences; empty
 * when everything is in place. Checked without loading anything into the kernel.
 */
export function recorderProblems(objectPath = BPF_OBJECT_PATH): string[] {
  const problems: string[] = [];
  if (!existsSync(ADDON_PATH) || !existsSync(objectPath)) {
    problems.push(`not built (${!existsSync(ADDON_PATH) ? ADDON_PATH : objectPath} missing). ${buildHint()}`);
  }
  if (!existsSync(VMLINUX_BTF)) {
    problems.push(`kernel BTF missing (${VMLINUX_BTF}): the kernel needs CONFIG_DEBUG_INFO_BTF=y.`);
  }
  if (!hasBpfPrivileges()) {
    problems.push(
      process.getuid?.() === 0
        ? 'root without CAP_BPF + CAP_PERFMON (capabilities dropped, e.g. in a container): loading eBPF programs needs them (or CAP_SYS_ADMIN).'
        : 'not root and no CAP_BPF + CAP_PERFMON: loading eBPF programs needs root (or both capabilities).',
    );
  }
  return problems;
}

// ---- options ----

const MAX_RATE = 1_000_000;
const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;
type BatchHandler = (batch: Buffer) => void;
type ErrorHandler = (err: Error) => void;

const pidSchema = z.number().int().min(1).max(4194304).describe('a thread-group id (process id)');
const cgroupIdSchema = z
  .union([z.bigint().positive(), z.number().int().positive()])
  .describe('a cgroup v2 id (the inode number of its directory)');
const rateSchema = z
  .object({
    perSec: z.number().int().min(0).max(MAX_RATE).describe('events per second per CPU; 0 removes the limit'),
    burst: z.number().int().min(1).max(MAX_RATE).optional().describe('bucket size; defaults to perSec'),
  })
  .strict();

export const recorderOptionsSchema = z
  .object({
    kinds: z
      .array(z.enum(KIND_NAMES))
      .min(1)
      .default([...KIND_NAMES])
      .describe('event kinds to capture; programs only other kinds need are not loaded'),
    pids: z
      .array(pidSchema)
      .optional()
      .describe('pid-tree scope: these processes and all they fork; [] starts empty for addPid()'),
    cgroups: z
      .array(cgroupIdSchema)
      .optional()
      .describe('cgroup scope: tasks in these cgroups or below; [] starts empty for addCgroup()'),
    comms: z
      .array(z.string().min(1).max(15))
      .optional()
      .describe('comm scope: tasks whose name (15 bytes, as the kernel keeps it) is listed'),
    credPrefixes: z
      .array(z.string().min(1))
      .default([])
      .describe('path prefixes whose opens are recorded; ~/ expands to every home in /etc/passwd'),
    rateLimits: z
      .partialRecord(z.enum(KIND_NAMES), rateSchema)
      .default({})
      .describe('token bucket per kind, enforced in the kernel per CPU'),
    ringBytes: z
      .number()
      .int()
      .min(4096)
      .max(2 ** 30)
      .refine(isPowerOfTwo, 'ringBytes must be a power of two')
      .default(8 << 20)
      .describe('ring buffer size in bytes (power of two, at least a page)'),
    batchBytes: z.number().int().min(1024).max(16 << 20).default(64 << 10).describe('bytes per batch handed to onBatch'),
    flushMs: z.number().int().min(1).max(1000).default(5).describe('longest a record waits in a partial batch'),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .max(4096)
      .default(64)
      .describe('batches queued to JS before the poll thread stops reading (the kernel then counts ring-full drops)'),
    recordSelf: z.boolean().default(false).describe("record the recorder's own process too"),
    objectPath: z.string().min(1).default(BPF_OBJECT_PATH).describe('the compiled BPF object'),
    onBatch: z.custom<BatchHandler>((v) => typeof v === 'function', 'onBatch must be a function (batch: Buffer) => void'),
    onError: z.custom<ErrorHandler>((v) => typeof v === 'function', 'onError must be a function').optional(),
  })
  .strict();

export type RecorderOptions = z.input<typeof recorderOptionsSchema>;
export type KindCounters = NativeCounters;

function readHomes(): string[] {
  try {
    return userHomes(readFileSync('/etc/passwd', 'utf8'));
  } catch {
    return [];
  }
}

function resolvePrefixes(prefixes: readonly string[]): string[] {
  const expanded = expandCredPrefixes(prefixes, prefixes.some((p) => p.startsWith('~')) ? readHomes() : []);
  const problems = expanded.map(credPrefixProblem).filter((p): p is string => p !== null);
  if (problems.length > 0) throw new RangeError(problems.join('\n'));
  if (expanded.length > CRED_PREFIX_MAX_ENTRIES) {
    throw new RangeError(
      `${expanded.length} credential prefixes after ~ expansion; the kernel map holds ${CRED_PREFIX_MAX_ENTRIES}`,
    );
  }
  return expanded;
}

/**
 * A kernel recorder. Construction loads the BPF programs (the verifier runs
 * then); start() attaches them and starts the poll thread; onBatch receives
 * Buffers of raw records (decode with decodeBatch); stop() resolves once the
 * last batch has been delivered, after which nothing keeps Node alive.
 */
export class KernelRecorder {
  readonly #native: NativeRecorder;
  #prefixes: string[];

  constructor(options: RecorderOptions) {
    const o = recorderOptionsSchema.parse(options);
    this.#prefixes = resolvePrefixes(o.credPrefixes);
    const addon = loadAddon();
    const native: NativeRecorderOptions = {
      objectPath: o.objectPath,
      onBatch: o.onBatch,
      ...(o.onError ? { onError: o.onError } : {}),
      kinds: kindMask(o.kinds),
      selfTgid: o.recordSelf ? 0 : process.pid,
      filterPid: o.pids !== undefined,
      filterCgroup: o.cgroups !== undefined,
      filterComm: o.comms !== undefined,
      pids: o.pids ?? [],
      cgroups: o.cgroups ?? [],
      comms: o.comms ?? [],
      credPrefixes: this.#prefixes,
      rateLimits: Object.entries(o.rateLimits).map(([kind, r]) => ({
        kind: KIND[kind as KindName],
        perSec: r.perSec,
        burst: r.burst ?? r.perSec,
      })),
      ringBytes: o.ringBytes,
      batchBytes: o.batchBytes,
      flushMs: o.flushMs,
      maxInFlight: o.maxInFlight,
    };
    try {
      this.#native = new addon.Recorder(native);
    } catch (cause) {
      if (process.getuid?.() !== 0 && cause instanceof Error) {
        throw new RecorderUnavailableError(cause.message, 'Run as root (or with CAP_BPF and CAP_PERFMON).', { cause });
      }
      throw cause;
    }
  }

  start(): void {
    this.#native.start();
  }

  stop(): Promise<void> {
    return this.#native.stop();
  }

  /** Per-kind drop accounting, summed over CPUs (final values after stop()). */
  counters(): Record<KindName, KindCounters> {
    const raw = this.#native.counters();
    return Object.fromEntries(KIND_NAMES.map((k) => [k, raw[KIND[k]]])) as Record<KindName, KindCounters>;
  }

  addPid(tgid: number): void {
    this.#native.addPid(pidSchema.parse(tgid));
  }

  removePid(tgid: number): void {
    this.#native.removePid(pidSchema.parse(tgid));
  }

  addCgroup(id: bigint | number): void {
    this.#native.addCgroup(cgroupIdSchema.parse(id));
  }

  addComm(comm: string): void {
    this.#native.addComm(z.string().min(1).max(15).parse(comm));
  }

  /** Replaces the prefix list; ~/ expands per home. */
  setCredPrefixes(prefixes: readonly string[]): void {
    const expanded = resolvePrefixes(prefixes);
    this.#native.setCredPrefixes(expanded);
    this.#prefixes = expanded;
  }

  /** The prefix an open event's prefixId refers to. */
  credPrefix(prefixId: number): string | undefined {
    return this.#prefixes[prefixId];
  }

  setRateLimit(kind: KindName, perSec: number, burst?: number): void {
    const r = rateSchema.parse({ perSec, burst });
    this.#native.setRateLimit(KIND[kind], r.perSec, r.burst ?? r.perSec);
  }

  /** Fraction of the ring buffer written and not yet read (0..1). */
  ringFill(): number {
    return this.#native.ringFill();
  }

  info(): NativeInfo {
    return this.#native.info();
  }
}

/** Boot-time and wall-clock ns read back to back (maps record tsNs to UTC). */
export function clocks(): { boottimeNs: bigint; realtimeNs: bigint } {
  return loadAddon().clocks();
}

/** This boot's id: with tgid and start time, the process key that survives pid reuse. */
export function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}
