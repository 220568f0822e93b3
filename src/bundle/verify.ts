import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hashFile } from '../util/hash.js';
import { readManifest } from './bundle.js';
import { chainNext } from './chain.js';
import { CHAIN_GENESIS, LOCK_NAME, MANIFEST_NAME } from './manifest.js';

export type ProblemKind = 'modified' | 'missing' | 'unlisted' | 'not-a-file' | 'chain' | 'head';

export interface Problem {
  kind: ProblemKind;
  path: string;
  detail: string;
}

export interface VerifyReport {
  bundle: string;
  ok: boolean;
  entries: number;
  bytes: number;
  chain_head: string;
  problems: Problem[];
  /** Leftovers of interrupted writes (temporary files); never named by the manifest, never read. */
  incomplete: string[];
  /** Set when a writer holds (or a crashed writer left) the bundle lock. */
  locked: boolean;
}

const TMP_RE = /\.tmp-\d+(-[0-9a-f]+)?$/;

/**
 * Recomputes every file's sha256 and the hash chain, and lists files the manifest does not name.
 * Modified, missing, unlisted and non-regular files and chain breaks are problems; temporary
 * files of an interrupted write are reported separately (a SIGKILLed recorder leaves its open
 * segment behind, and nothing reads it).
 */
export async function verifyBundle(dir: string, opts: { expectHead?: string } = {}): Promise<VerifyReport> {
  const manifest = await readManifest(dir);
  const problems: Problem[] = [];
  let bytes = 0;
  let prev = CHAIN_GENESIS;
  let chainOk = true;
  for (const [i, e] of manifest.entries.entries()) {
    const expected = chainNext(prev, e.sha256, e.path);
    if (chainOk && expected !== e.chain) {
      problems.push({ kind: 'chain', path: e.path, detail: `hash chain breaks at entry ${i + 1}: the manifest was edited` });
      chainOk = false;
    }
    prev = expected;
    const abs = join(dir, e.path);
    let st;
    try {
      st = await lstat(abs);
    } catch {
      problems.push({ kind: 'missing', path: e.path, detail: 'listed in the manifest, not on disk' });
      continue;
    }
    if (!st.isFile()) {
      problems.push({ kind: 'not-a-file', path: e.path, detail: 'not a regular file (symlink or special file)' });
      continue;
    }
    const { sha256, size } = await hashFile(abs);
    bytes += size;
    if (sha256 !== e.sha256 || size !== e.size) {
      problems.push({ kind: 'modified', path: e.path, detail: `sha256 ${sha256.slice(0, 16)}… size ${size}, manifest says ${e.sha256.slice(0, 16)}… size ${e.size}` });
    }
  }
  if (chainOk && prev !== manifest.chain_head) {
    problems.push({ kind: 'head', path: MANIFEST_NAME, detail: `chain_head ${manifest.chain_head.slice(0, 16)}… does not match the entries (${prev.slice(0, 16)}…)` });
  }
  if (opts.expectHead && opts.expectHead.toLowerCase() !== manifest.chain_head) {
    problems.push({ kind: 'head', path: MANIFEST_NAME, detail: `chain_head ${manifest.chain_head} is not the expected ${opts.expectHead}` });
  }

  const listed = new Set(manifest.entries.map((e) => e.path));
  const incomplete: string[] = [];
  let locked = false;
  for await (const { rel, isFile } of walk(dir, '')) {
    if (rel === MANIFEST_NAME) continue;
    if (rel === LOCK_NAME) {
      locked = true;
      continue;
    }
    if (listed.has(rel)) continue;
    if (isFile && TMP_RE.test(rel)) incomplete.push(rel);
    else problems.push({ kind: 'unlisted', path: rel, detail: isFile ? 'on disk, not in the manifest' : 'on disk, not in the manifest, not a regular file' });
  }
  problems.sort((a, b) => a.path.localeCompare(b.path) || a.kind.localeCompare(b.kind));
  return { bundle: dir, ok: problems.length === 0, entries: manifest.entries.length, bytes, chain_head: manifest.chain_head, problems, incomplete: incomplete.sort(), locked };
}

async function* walk(root: string, rel: string): AsyncGenerator<{ rel: string; isFile: boolean }> {
  const entries = await readdir(join(root, rel), { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const d of entries) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) yield* walk(root, r);
    else yield { rel: r, isFile: d.isFile() };
  }
}
