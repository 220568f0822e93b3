/**
 * The identity graph's facts files (src/reconstruct/facts.ts): ingest writes one per events part,
 * and reconstruct gives the same linked timeline from them as from querying every row.
 */
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACTS_VERSION, factsPathFor } from '../../src/reconstruct/facts.js';
import { cli } from '../helpers/cli.js';
import { demoBundle } from '../helpers/demo.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
let demo: string;

interface ManifestEntry {
  path: string;
  kind: string;
  rows: number | null;
  size: number;
  schema_version: number | null;
  producer: { derived_from?: string[] };
}
const manifestOf = (b: string) => JSON.parse(readFileSync(join(b, 'manifest.json'), 'utf8')) as { entries: ManifestEntry[] };

function timeline(bundle: string): { stdout: string; stderr: string } {
  const r = cli(['reconstruct', bundle, '--format', 'ndjson']);
  expect(r.status, r.stderr).toBe(0);
  return r;
}

/** The rows without the bundle-path column, which differs between copies of a bundle. */
const rowsOf = (ndjson: string) =>
  ndjson
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const { bundle: _b, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

let demoDir: string;
beforeAll(async () => {
  demoDir = mkdtempSync(join(tmpdir(), 'custody-facts-'));
  demo = await demoBundle(demoDir);
});
afterAll(() => rmSync(demoDir, { recursive: true, force: true }));

describe('facts files', () => {
  it('ingest seals one per events part: derived from it, versioned, its rows counted, and the bundle verifies', () => {
    const { entries } = manifestOf(demo);
    const parts = entries.filter((e) => e.kind === 'events');
    const facts = entries.filter((e) => e.kind === 'facts');
    expect(parts.length).toBeGreaterThan(3);
    expect(facts.map((f) => f.path).sort()).toEqual(parts.map((p) => factsPathFor(p.path)).sort());
    let total = 0;
    for (const f of facts) {
      expect(f.producer.derived_from).toEqual([f.path.replace(/^facts\//, 'events/').replace(/\.ndjson$/, '.parquet')]);
      expect(f.schema_version).toBe(FACTS_VERSION);
      const lines = readFileSync(join(demo, f.path), 'utf8').split('\n').filter(Boolean);
      expect(lines.length).toBe(f.rows);
      for (const l of lines) expect(Object.keys(JSON.parse(l))).toContain('issued_credential_id');
      total += lines.length;
    }
    // the demo's issuance: the kubelet token request, the web-identity exchange, Vault logins, SVIDs, the rolebinding…
    expect(total).toBeGreaterThan(5);
    expect(cli(['verify', demo]).status).toBe(0);
  });

  it('reconstruct gives the same rows, links and chains from the facts files as from querying every row', () => {
    const withFacts = rowsOf(timeline(demo).stdout);
    const bare = join(tmp(), 'bare');
    cpSync(demo, bare, { recursive: true });
    const m = manifestOf(bare);
    writeFileSync(join(bare, 'manifest.json'), JSON.stringify({ ...m, entries: m.entries.filter((e) => e.kind !== 'facts') }, null, 2));
    rmSync(join(bare, 'facts'), { recursive: true });
    const queried = timeline(bare);
    expect(queried.stderr).not.toMatch(/warning/);
    expect(rowsOf(queried.stdout)).toEqual(withFacts);
    // the download is still linked back to the pod's service account through the exchanged credential
    const download = withFacts.find((r) => r.action === 's3:GetObject' && r.src_ip === '203.0.113.66')!;
    expect(JSON.stringify(download.identity_chain)).toContain('system:serviceaccount:ci:deployer');
  });

  it('a facts file that does not read back whole is named in a warning and its part queried instead: same timeline', () => {
    const before = rowsOf(timeline(demo).stdout);
    const copy = join(tmp(), 'damaged');
    cpSync(demo, copy, { recursive: true });
    const target = manifestOf(copy).entries.find((e) => e.kind === 'facts' && e.path.includes('cloudtrail'))!;
    appendFileSync(join(copy, target.path), '{"event_id": "forged"\n');
    const r = timeline(copy);
    expect(r.stderr).toContain(`warning: ${join(copy, target.path)}: size`);
    expect(rowsOf(r.stdout)).toEqual(before);
    // same size, not JSON: also refused
    const text = readFileSync(join(demo, target.path), 'utf8');
    writeFileSync(join(copy, target.path), `${'x'.repeat(text.length - 1)}\n`);
    const r2 = timeline(copy);
    expect(r2.stderr).toMatch(/warning: .*facts\/cloudtrail\/part-000001\.ndjson: not readable/);
    expect(rowsOf(r2.stdout)).toEqual(before);
  });
});
