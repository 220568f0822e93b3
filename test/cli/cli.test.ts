import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { REPO, SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

const NDJSON_FIELDS = ['event_id', 'source_event_id', 'time', 'source', 'source_ref', 'category', 'action', 'outcome', 'actor_id', 'actor_type', 'credential_id', 'credential_type', 'target', 'src_ip', 'k8s_namespace', 'k8s_pod', 'k8s_service_account', 'links', 'identity_chain'];

function demoBundle(): string {
  const dir = tmp();
  execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
  const r = cli(['ingest', join(dir, 'bundle'), join(dir, 'logs')]);
  expect(r.status).toBe(0);
  return join(dir, 'bundle');
}

describe('custody CLI', () => {
  beforeAll(() => {
    cli(['--version']); // fails early with a clear message when dist/ is not built
  });

  it('--help lists the commands; each command has examples', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['ingest', 'reconstruct', 'verify']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\s`, 'm'));
    for (const c of ['ingest', 'reconstruct', 'verify']) {
      const h = cli([c, '--help']);
      expect(h.status).toBe(0);
      expect(h.stdout).toContain('EXAMPLES');
    }
  });

  it('usage errors exit 2 with one line', () => {
    for (const args of [['ingest'], ['reconstruct'], ['reconstruct', '/nonexistent', '--format', 'xml'], ['frobnicate'], ['reconstruct', '/tmp', '--since', 'yesterday']]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/^custody/);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2);
    }
    expect(cli(['reconstruct', '/nonexistent']).stderr).toContain('is not a custody bundle: no manifest.json');
  });

  it('ingest prints a per-source summary; --strict exits 1 on quarantine but keeps the evidence', () => {
    const dir = tmp();
    const r = cli(['ingest', join(dir, 'b'), join(SAMPLES, 'aws_cloudtrail/panther_AWS_CloudTrail_rule_tests.jsonl'), join(SAMPLES, 'k8s_audit/audit2rbac_demo_v1.log')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cloudtrail\s+1\s+417\s+24/);
    expect(r.stdout).toMatch(/k8s_audit\s+1\s+37\s+0/);
    expect(r.stdout).toContain('not a CloudTrail record: no eventTime');
    const strict = cli(['ingest', join(dir, 'c'), join(SAMPLES, 'aws_cloudtrail/panther_AWS_CloudTrail_rule_tests.jsonl'), '--strict']);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain('--strict: 24 record(s) quarantined');
    expect(cli(['verify', join(dir, 'c')]).status).toBe(0);
  });

  it('ingest reads standard input', () => {
    const dir = tmp();
    const input = readFileSync(join(SAMPLES, 'k8s_audit/audit2rbac_demo_v1.log'));
    const r = cli(['ingest', join(dir, 'b'), '-', '--json'], { input });
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.files[0]).toMatchObject({ input: '-', source: 'k8s_audit', accepted: 37, raw: expect.stringMatching(/^raw\/k8s_audit\/[0-9a-f]{12}-stdin$/) });
  });

  it('reconstruct prints NDJSON when not on a terminal, with the fields scripts rely on', () => {
    const bundle = demoBundle();
    const r = cli(['reconstruct', bundle]);
    expect(r.status).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(36);
    for (const row of rows) for (const f of NDJSON_FIELDS) expect(row, f).toHaveProperty(f);
    expect(rows.map((x) => x.time)).toEqual([...rows.map((x) => x.time)].sort());
    const json = JSON.parse(cli(['reconstruct', bundle, '--format', 'json', '--credential', 'ASIAQNZGKIQY3DEPLOYX']).stdout);
    expect(json).toHaveLength(7);
    const csv = cli(['reconstruct', bundle, '--format', 'csv', '--limit', '3']).stdout.trim().split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[0]!.split(',').slice(0, 3)).toEqual(['event_id', 'source_event_id', 'time']);
  });

  it('evidence escape sequences never reach the terminal raw, in any format', () => {
    const bundle = demoBundle();
    for (const format of ['ndjson', 'json', 'csv', 'table']) {
      const out = cli(['reconstruct', bundle, '--format', format, '--grep', 'python-requests']).stdout;
      expect(out, format).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(out, format).toContain('s3://prod-secrets/db.env');
      if (format !== 'table') expect(out, format).toMatch(format === 'csv' ? /\\x1b\]0;pwned\\x07/ : /\\u001b\]0;pwned\\u0007/);
    }
  });

  it('verify: 0 when intact; 1 naming every modified, missing or unlisted file', () => {
    const bundle = demoBundle();
    const ok = cli(['verify', bundle]);
    expect(ok.status).toBe(0);
    const m = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
    expect(ok.stdout).toMatch(new RegExp(`^intact: .* ${m.entries.length} files`, 'm'));
    const raw = m.entries.find((e: { kind: string }) => e.kind === 'raw').path;
    appendFileSync(join(bundle, raw), 'x');
    writeFileSync(join(bundle, 'events', 'extra.parquet'), 'x');
    const bad = cli(['verify', bundle, '--json']);
    expect(bad.status).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.problems.map((p: { kind: string; path: string }) => `${p.kind} ${p.path}`)).toEqual(['unlisted events/extra.parquet', `modified ${raw}`]);
  });
});

describe('parallel ingest', () => {
  it('worker threads (large input, built CLI) give exactly the rows and quarantine of the inline path', async () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'bench/gen-cloudtrail.mjs'), join(dir, 'gen'), '12000', '--s3-per-file=4000']);
    // Corrupt a few lines in the middle so both paths must quarantine the same records.
    const file = join(dir, 'gen', 'cloudtrail.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    for (const i of [5, 4321, 9999]) lines[i] = lines[i]!.slice(0, 40);
    writeFileSync(file, lines.join('\n'));
    const { ingest } = await import('../../src/ingest/ingest.js');
    const { readRows } = await import('../helpers/bundle.js');
    const inline = await ingest({ bundle: join(dir, 'inline'), inputs: [join(dir, 'gen')] });
    const r = cli(['ingest', join(dir, 'parallel'), join(dir, 'gen'), '--json']);
    expect(r.status).toBe(0);
    const parallel = JSON.parse(r.stdout);
    expect(parallel.files.map((f: { accepted: number; quarantined: number }) => [f.accepted, f.quarantined])).toEqual(inline.files.map((f) => [f.accepted, f.quarantined]));
    expect(inline.accepted).toBe(24000 - 3);
    const [a, b] = [await readRows(join(dir, 'inline')), await readRows(join(dir, 'parallel'))];
    expect(b.map((x) => x.event_id)).toEqual(a.map((x) => x.event_id));
    expect(b.map((x) => x.identity_chain)).toEqual(a.map((x) => x.identity_chain));
    const q = (d: string) => readFileSync(join(d, 'quarantine', 'cloudtrail', 'q-000001.ndjson'), 'utf8');
    expect(q(join(dir, 'parallel'))).toBe(q(join(dir, 'inline')));
  });
});
