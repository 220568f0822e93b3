import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.js';
import { runCheck } from '../../src/check/run.js';
import { cli } from '../helpers/cli.js';
import { REPO } from '../helpers/tmp.js';

/**
 * A bundle larger than one batch of the timeline (2048 rows): every row reaches every export and
 * every rule. (A query on the timeline's connection while a streaming result is open ends that
 * stream after its first chunk; this would show as exactly 2048 rows.)
 */

const N = 3000;
let root: string;
let bundle: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-large-'));
  execFileSync(process.execPath, [join(REPO, 'bench/gen-cloudtrail.mjs'), join(root, 'logs'), String(N)]);
  bundle = join(root, 'bundle');
  await ingest({ bundle, inputs: [join(root, 'logs', 'cloudtrail.jsonl')] });
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe(`a ${N}-row bundle`, () => {
  it('every format and the Parquet file carry every row', () => {
    for (const format of ['ndjson', 'timesketch', 'ocsf']) {
      const r = cli(['reconstruct', bundle, '--format', format]);
      expect(r.status, format).toBe(0);
      expect(r.stdout.trim().split('\n'), format).toHaveLength(N);
    }
    const file = join(root, 'all.parquet');
    expect(cli(['reconstruct', bundle, '--output', file]).status).toBe(0);
    const buf = readFileSync(file);
    expect(Number(parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)).num_rows)).toBe(N);
  });

  it('check examines every row: each IAM user access key use is found', async () => {
    // The generator makes every 13th record an IAM user's call with an AKIA key, except every 50th (an STS issuance).
    let akia = 0;
    for (let i = 0; i < N; i++) if (i % 50 !== 0 && i % 13 === 0) akia++;
    const policy = join(root, 'policy.yaml');
    writeFileSync(policy, 'rules:\n  - {name: keys, kind: credential_lifetime, severity: high, long_lived: forbid}\n  - {name: all, kind: evidence_completeness, severity: low}\n');
    const report = await runCheck({ bundles: [bundle], rules: policy });
    expect(report.rules[0]!.violations).toHaveLength(akia);
    expect(report.rules[0]!.examined).toBe(N);
    expect(report.rules[1]!.examined).toBe(N);
  });
});
