import { appendFileSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleWriter, chainOf, readManifest, unsafePathReason, verifyBundle } from '../../src/bundle/index.js';
import { CHAIN_GENESIS } from '../../src/bundle/manifest.js';
import { sha256Hex } from '../../src/util/hash.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

async function makeBundle(): Promise<string> {
  const dir = join(tmp(), 'b');
  const w = await BundleWriter.open(dir, { create: true, command: 'test' });
  for (const [rel, body] of [
    ['raw/x/one.json', '{"a":1}\n'],
    ['raw/x/two.json', '{"b":2}\n'],
  ] as const) {
    const t = await w.tmpFor(rel);
    writeFileSync(t, body);
    await w.seal(t, rel, { kind: 'raw', rows: 1, schemaVersion: null, timeRange: null, producer: { source: 'x' } });
  }
  await w.commit();
  await w.close();
  return dir;
}

describe('bundle', () => {
  it('writes entries with sha256, size and a hash chain', async () => {
    const dir = await makeBundle();
    const m = await readManifest(dir);
    expect(m.entries.map((e) => e.path)).toEqual(['raw/x/one.json', 'raw/x/two.json']);
    expect(m.entries[0]!.sha256).toBe(sha256Hex('{"a":1}\n'));
    expect(m.entries[0]!.size).toBe(8);
    const c1 = sha256Hex(CHAIN_GENESIS + sha256Hex('{"a":1}\n') + 'raw/x/one.json');
    expect(m.entries[0]!.chain).toBe(c1);
    expect(m.entries[1]!.chain).toBe(sha256Hex(c1 + sha256Hex('{"b":2}\n') + 'raw/x/two.json'));
    expect(m.chain_head).toBe(chainOf(m.entries).at(-1));
    const report = await verifyBundle(dir);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
  });

  it('takes a lock, refuses a second writer, and releases it', async () => {
    const dir = await makeBundle();
    const w = await BundleWriter.open(dir, { create: false, command: 'test' });
    await expect(BundleWriter.open(dir, { create: false, command: 'test' })).rejects.toThrow(/in use by custody \(pid \d+\)/);
    await w.close();
    const again = await BundleWriter.open(dir, { create: false, command: 'test' });
    await again.close();
  });

  it('refuses to create a bundle in a non-empty directory that is not one', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'notes.txt'), 'x');
    await expect(BundleWriter.open(dir, { create: true, command: 'test' })).rejects.toThrow(/not empty and has no manifest.json/);
  });
});

describe('verify', () => {
  it('names every modified, missing and unlisted file', async () => {
    const dir = await makeBundle();
    appendFileSync(join(dir, 'raw/x/one.json'), 'tampered');
    unlinkSync(join(dir, 'raw/x/two.json'));
    mkdirSync(join(dir, 'events'), { recursive: true });
    writeFileSync(join(dir, 'events/planted.parquet'), 'x');
    const r = await verifyBundle(dir);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => [p.kind, p.path])).toEqual([
      ['unlisted', 'events/planted.parquet'],
      ['modified', 'raw/x/one.json'],
      ['missing', 'raw/x/two.json'],
    ]);
  });

  it('detects an edited manifest through the chain, and a rewritten one through --expect-head', async () => {
    const dir = await makeBundle();
    const head = (await readManifest(dir)).chain_head;
    const file = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(file, 'utf8'));
    // An attacker swaps a file and updates its hash in the manifest, but cannot fix the chain without rewriting it.
    writeFileSync(join(dir, 'raw/x/one.json'), '{"a":666}\n');
    m.entries[0].sha256 = sha256Hex('{"a":666}\n');
    m.entries[0].size = 10;
    writeFileSync(file, JSON.stringify(m));
    const r = await verifyBundle(dir);
    expect(r.problems.map((p) => p.kind)).toContain('chain');
    // Rewriting the whole chain passes the internal check; the recorded head does not match.
    const entries = m.entries as { sha256: string; path: string; chain: string }[];
    chainOf(entries).forEach((c, i) => (entries[i]!.chain = c));
    m.chain_head = chainOf(entries).at(-1);
    writeFileSync(file, JSON.stringify(m));
    expect((await verifyBundle(dir)).ok).toBe(true);
    const pinned = await verifyBundle(dir, { expectHead: head });
    expect(pinned.ok).toBe(false);
    expect(pinned.problems[0]!.kind).toBe('head');
  });

  it('reports temporary files of an interrupted write without failing', async () => {
    const dir = await makeBundle();
    writeFileSync(join(dir, 'raw/x/seg.parquet.tmp-123-abcdef12'), 'partial');
    const r = await verifyBundle(dir);
    expect(r.ok).toBe(true);
    expect(r.incomplete).toEqual(['raw/x/seg.parquet.tmp-123-abcdef12']);
  });

  it('refuses a manifest whose paths leave the bundle', async () => {
    const dir = await makeBundle();
    const file = join(dir, 'manifest.json');
    for (const bad of ['../outside.json', '/etc/passwd', 'raw/../../x', 'raw/./x', 'raw\\x', 'a//b']) {
      const m = JSON.parse(readFileSync(file, 'utf8'));
      m.entries[0].path = bad;
      writeFileSync(join(dir, 'evil.json'), JSON.stringify(m));
      writeFileSync(file + '.bak', readFileSync(file));
      writeFileSync(file, JSON.stringify(m));
      await expect(readManifest(dir)).rejects.toThrow(/refused/);
      writeFileSync(file, readFileSync(file + '.bak'));
    }
  });
});

describe('unsafePathReason', () => {
  it('accepts plain relative paths only', () => {
    expect(unsafePathReason('/b', 'raw/cloudtrail/x.json')).toBeNull();
    expect(unsafePathReason('/b', '../x')).toMatch(/\.\./);
    expect(unsafePathReason('/b', '/x')).toBe('absolute path');
    expect(unsafePathReason('/b', 'raw/\u001bx')).toMatch(/control character/);
  });
});
