import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { InputError, UsageError } from '../util/errors.js';
import { fsyncDir, fsyncFile, writeFileAtomic } from '../util/fsx.js';
import { hashFile } from '../util/hash.js';
import { TOOL_VERSION } from '../util/version.js';
import { chainNext } from './chain.js';
import {
  BUNDLE_FORMAT,
  CHAIN_GENESIS,
  LOCK_NAME,
  MANIFEST_NAME,
  manifestSchema,
  type Entry,
  type EntryKind,
  type Manifest,
  type Producer,
  type TimeRange,
} from './manifest.js';
import { unsafePathReason } from './paths.js';

/** Reads and validates a bundle's manifest. Every path must stay inside the bundle. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${dir} is not a custody bundle: no ${MANIFEST_NAME}`, 'create one with `custody ingest <bundle> <logs>` or `custody record -o <bundle>`');
    throw new InputError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(`${file} is not a format ${BUNDLE_FORMAT} manifest: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const entry of parsed.data.entries) {
    const why = unsafePathReason(dir, entry.path);
    if (why) throw new InputError(`${file} refused: entry ${JSON.stringify(entry.path)}: ${why}`);
    if (entry.path === MANIFEST_NAME || entry.path === LOCK_NAME) throw new InputError(`${file} refused: entry names ${entry.path}`);
    if (seen.has(entry.path)) throw new InputError(`${file} refused: ${entry.path} is listed twice`);
    seen.add(entry.path);
  }
  return parsed.data;
}

export function emptyManifest(): Manifest {
  const now = new Date().toISOString();
  return {
    format: BUNDLE_FORMAT,
    tool: { name: 'custody', version: TOOL_VERSION },
    bundle_id: randomUUID(),
    created: now,
    updated: now,
    hosts: [],
    time_range: null,
    entries: [],
    drops: { total: 0, by_kind: {} },
    chain_head: CHAIN_GENESIS,
  };
}

/** What a writer states about a file when it seals it into the bundle. */
export interface SealInfo {
  kind: EntryKind;
  rows: number | null;
  schemaVersion: number | null;
  timeRange: TimeRange | null;
  producer: Omit<Producer, 'run_id' | 'tool_version' | 'command'>;
}

/**
 * A bundle opened for appending. Holds the bundle lock until closed. Files are written under
 * temporary names, fsynced and renamed (`seal`); the manifest names them only after `commit`,
 * so it never names a file that is not complete.
 */
export class BundleWriter {
  readonly runId = randomUUID();
  private pending: Entry[] = [];
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly command: string,
  ) {}

  /** Opens (and with `create`, creates) a bundle for writing; takes the lock. */
  static async open(dir: string, opts: { create: boolean; command: string }): Promise<BundleWriter> {
    let exists = false;
    try {
      const st = await stat(dir);
      if (!st.isDirectory()) throw new UsageError(`${dir} exists and is not a directory`, 'name a new or existing bundle directory');
      exists = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let manifest: Manifest;
    if (exists && (await fileExists(join(dir, MANIFEST_NAME)))) {
      manifest = await readManifest(dir);
    } else {
      if (!opts.create) throw new InputError(`${dir} is not a custody bundle: no ${MANIFEST_NAME}`);
      if (exists && (await readdir(dir)).length > 0) {
        throw new UsageError(`${dir} is not empty and has no ${MANIFEST_NAME}`, 'name a new directory for the bundle');
      }
      await mkdir(dir, { recursive: true });
      manifest = emptyManifest();
    }
    await acquireLock(dir);
    const writer = new BundleWriter(dir, manifest, opts.command);
    if (manifest.entries.length === 0 && !(await fileExists(join(dir, MANIFEST_NAME)))) await writer.writeManifest();
    return writer;
  }

  /** The committed or pending entry holding these exact raw bytes, if any. */
  findBySha(sha256: string, kind: EntryKind): Entry | undefined {
    return [...this.manifest.entries, ...this.pending].find((e) => e.sha256 === sha256 && e.kind === kind);
  }

  /** Absolute path for a bundle-relative path. */
  abs(rel: string): string {
    const why = unsafePathReason(this.dir, rel);
    if (why) throw new Error(`internal: unsafe bundle path ${rel}: ${why}`);
    return join(this.dir, rel);
  }

  /** A temporary file name inside the bundle, in the directory of `rel`. */
  async tmpFor(rel: string): Promise<string> {
    const tmp = this.tmpName(rel);
    await mkdir(dirname(tmp), { recursive: true });
    return tmp;
  }

  /** tmpFor without creating the directory (for writers that must not wait, once it exists). */
  tmpName(rel: string): string {
    return `${this.abs(rel)}.tmp-${process.pid}-${this.runId.slice(0, 8)}`;
  }

  /** Next free `<dir>/<prefix>NNNNNN<ext>` (never reuses a number on disk or in the manifest). */
  async nextNumbered(dirRel: string, prefix: string, ext: string): Promise<string> {
    let max = 0;
    const re = new RegExp(`^${prefix}(\\d{6,})${ext.replace('.', '\\.')}`);
    const names = new Set<string>();
    for (const e of [...this.manifest.entries, ...this.pending]) if (dirname(e.path) === dirRel) names.add(e.path.slice(dirRel.length + 1));
    try {
      for (const n of await readdir(this.abs(dirRel))) names.add(n);
    } catch {
      // directory does not exist yet
    }
    for (const n of names) {
      const m = re.exec(n);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return `${dirRel}/${prefix}${String(max + 1).padStart(6, '0')}${ext}`;
  }

  /**
   * Seals a finished temporary file as `rel`: fsync, hash, rename, fsync the directory.
   * The entry is pending until `commit`.
   */
  async seal(tmp: string, rel: string, info: SealInfo, known?: { sha256: string; size: number }): Promise<Entry> {
    const abs = this.abs(rel);
    if (await fileExists(abs)) {
      if (this.manifest.entries.some((e) => e.path === rel)) throw new Error(`internal: ${rel} is already in the bundle`);
      await unlink(abs); // an unlisted leftover of a crashed run; never listed, never evidence
    }
    await fsyncFile(tmp);
    const { sha256, size } = known ?? (await hashFile(tmp));
    await mkdir(dirname(abs), { recursive: true });
    await rename(tmp, abs);
    await fsyncDir(dirname(abs));
    const entry: Entry = {
      path: rel,
      kind: info.kind,
      sha256,
      size,
      rows: info.rows,
      schema_version: info.schemaVersion,
      producer: { command: this.command, run_id: this.runId, tool_version: TOOL_VERSION, ...info.producer },
      time_range: info.timeRange,
      added: new Date().toISOString(),
      chain: '', // set on commit
    };
    this.pending.push(entry);
    return entry;
  }

  /** Drops pending entries and deletes their files (a run that failed before commit). */
  async discardPending(): Promise<void> {
    for (const e of this.pending) await rm(this.abs(e.path), { force: true });
    this.pending = [];
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Appends pending entries to the chain and writes the manifest atomically. */
  async commit(update?: (m: Manifest) => void): Promise<Entry[]> {
    const added = this.pending;
    this.pending = [];
    let head = this.manifest.chain_head;
    for (const e of added) {
      head = chainNext(head, e.sha256, e.path);
      e.chain = head;
      this.manifest.entries.push(e);
    }
    this.manifest.chain_head = head;
    this.manifest.time_range = mergeRanges(this.manifest.entries.filter((e) => e.kind === 'events' || e.kind === 'kernel').map((e) => e.time_range));
    update?.(this.manifest);
    this.manifest.updated = new Date().toISOString();
    await this.writeManifest();
    return added;
  }

  private async writeManifest(): Promise<void> {
    await writeFileAtomic(join(this.dir, MANIFEST_NAME), `${JSON.stringify(this.manifest, null, 2)}\n`);
  }

  /** Releases the lock. Pending (uncommitted) files are removed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.discardPending();
    await rm(join(this.dir, LOCK_NAME), { force: true });
  }
}

/** The union of time ranges (ISO strings sort as times when they share a format). */
export function mergeRanges(ranges: readonly (TimeRange | null)[]): TimeRange | null {
  let out: TimeRange | null = null;
  for (const r of ranges) {
    if (!r) continue;
    if (!out) out = { ...r };
    else {
      if (r.start < out.start) out.start = r.start;
      if (r.end > out.end) out.end = r.end;
    }
  }
  return out;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Exclusive lock file with pid and host; a lock left by a dead process on this host is taken over. */
async function acquireLock(dir: string): Promise<void> {
  const file = join(dir, LOCK_NAME);
  const body = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      await fh.writeFile(body);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: { pid?: number; host?: string } = {};
      try {
        holder = JSON.parse(await readFile(file, 'utf8')) as typeof holder;
      } catch {
        // unreadable lock: treat as stale
      }
      if (holder.host === hostname() && typeof holder.pid === 'number' && isAlive(holder.pid)) {
        throw new UsageError(`${dir} is in use by custody (pid ${holder.pid})`, 'wait for it to finish, or stop it');
      }
      if (holder.host && holder.host !== hostname()) {
        throw new UsageError(`${dir} is locked by custody on host ${holder.host}`, `if no custody runs there, remove ${file}`);
      }
      await rm(file, { force: true });
    }
  }
  throw new UsageError(`cannot lock ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
