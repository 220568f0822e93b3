import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

const MINE = new Set(['gcp_audit', 'azure_activity', 'entra_id', 'gworkspace']);

describe('GCP, Azure, Entra ID and Workspace detection stays specific', () => {
  it("claims no sample file of any other source (CloudTrail, Kubernetes, Okta, Vault, OPA, SPIRE, mesh, Tetragon, Falco)", async () => {
    const dir = tmp();
    const others = ['aws_cloudtrail', 'k8s_audit', 'okta', 'vault_audit', 'opa_decision', 'spire', 'service_mesh', 'tetragon', 'falco'];
    const summary = await ingest({ bundle: join(dir, 'b'), inputs: others.map((d) => join(SAMPLES, d)) });
    expect(summary.files.length).toBeGreaterThan(50);
    const claimed = summary.files.filter((f) => f.source !== null && MINE.has(f.source)).map((f) => f.input);
    expect(claimed).toEqual([]);
  });

  it('each of the four sample directories goes to its own parser, file by file', async () => {
    const dir = tmp();
    const expected: Record<string, string> = { gcp_audit: 'gcp_audit', azure_activity: 'azure_activity', entra_id: 'entra_id', google_workspace: 'gworkspace' };
    const summary = await ingest({ bundle: join(dir, 'b'), inputs: Object.keys(expected).map((d) => join(SAMPLES, d)) });
    for (const f of summary.files) {
      const folder = f.input.split('/').at(-2)!;
      const oracleOrIndex = /\.index\.jsonl$|_expected\.yaml$|\.expected_test\.py$/.test(f.input);
      expect(f.source, f.input).toBe(oracleOrIndex ? 'unknown' : expected[folder]);
    }
  });
});
