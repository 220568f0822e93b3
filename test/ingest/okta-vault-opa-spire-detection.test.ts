import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const MINE = new URL('../fixtures/sources/', import.meta.url).pathname;
const OURS = new Set(['okta', 'vault', 'opa', 'spire']);
/** Sample directories that hold these four sources. */
const OWN_DIRS: Record<string, string> = { okta: 'okta', vault_audit: 'vault', opa_decision: 'opa', spire: 'spire' };

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

describe('detection of okta, vault, opa and spire is specific', () => {
  it("no other source's sample is taken for one of them, and theirs are not taken for another", async () => {
    const files = walk(SAMPLES).filter((p) => !p.includes('/LICENSES/') && !/\/(MANIFEST|README)\.md$/.test(p));
    const summary = await ingest({ bundle: join(tmp(), 'b'), inputs: files });
    expect(summary.files.length).toBe(files.length);
    expect(files.length).toBeGreaterThan(100);
    for (const f of summary.files) {
      const dir = f.input.slice(SAMPLES.length).split('/')[0]!;
      const own = OWN_DIRS[dir];
      if (own) expect([own, 'unknown'], f.input).toContain(f.source);
      else expect(OURS.has(f.source ?? ''), `${f.input} detected as ${f.source}`).toBe(false);
    }
  });

  it('each test input is detected as its own source, or not at all where it is not a log', async () => {
    const summary = await ingest({ bundle: join(tmp(), 'b'), inputs: walk(MINE).filter((p) => !p.endsWith('MANIFEST.md')) });
    expect(summary.files).toHaveLength(13);
    for (const f of summary.files) {
      const dir = f.input.slice(MINE.length).split('/')[0]!;
      expect(f.source, f.input).toBe(f.input.endsWith('datadog_vault_server.log') ? 'unknown' : dir);
    }
  });
});
