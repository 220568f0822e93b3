import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLUMNS } from '../../src/model/columns.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { readRows } from '../helpers/bundle.js';
import { cli } from '../helpers/cli.js';
import { demoBundle } from '../helpers/demo.js';

/**
 * `reconstruct --format timesketch`, checked the way Timesketch reads a JSONL upload
 * (timesketch/lib/utils.py read_and_validate_jsonl, documented at timesketch.org "Import from
 * JSON/CSV"): every line one JSON object; mandatory message, datetime, timestamp_desc; datetime
 * parsed by python-dateutil's parser (as Timesketch does) giving `timestamp` in microseconds;
 * Timesketch's scrubbed keys and its special `tag` list absent; the file named *.jsonl.
 */

// Timesketch's own acceptance logic for a JSONL line, on the same parser (python-dateutil).
const TIMESKETCH_READER = `
import json, sys
from dateutil import parser
mandatory = ["message", "datetime", "timestamp_desc"]
scrubbed = ["_id", "_type", "_index", "_source", "__ts_timeline_id"]
out = []
with open(sys.argv[1], encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
        d = json.loads(line)
        missing = [x for x in mandatory if x not in d]
        ts = int(parser.parse(d["datetime"]).timestamp() * 1000000)
        out.append({"line": lineno, "missing": missing, "parsed_us": ts, "timestamp": d.get("timestamp"),
                    "scrubbed": [k for k in scrubbed if k in d], "tag": "tag" in d,
                    "types": {k: type(d[k]).__name__ for k in mandatory if k in d}})
print(json.dumps(out))
`;

let root: string;
let demo: string;
let rows: TimelineRow[];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-timesketch-'));
  demo = await demoBundle(join(root, 'demo'));
  rows = await readRows(demo);
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Timesketch export', () => {
  it('every line is a Timesketch event: mandatory fields, datetime parsed by Timesketch equals timestamp, no reserved keys', () => {
    const file = join(root, 'demo.jsonl');
    const r = cli(['reconstruct', demo, '--format', 'timesketch', '--output', file]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`custody reconstruct: 36 row(s) written to ${file}\n`);
    expect(readdirSync(root).filter((f) => f.includes('.tmp'))).toEqual([]);
    const py = spawnSync('python3', ['-c', TIMESKETCH_READER, file], { encoding: 'utf8' });
    expect(py.stderr).toBe('');
    const checks = JSON.parse(py.stdout) as { line: number; missing: string[]; parsed_us: number; timestamp: number; scrubbed: string[]; tag: boolean; types: Record<string, string> }[];
    expect(checks).toHaveLength(36);
    for (const c of checks) {
      expect(c.missing, `line ${c.line}`).toEqual([]);
      expect(c.scrubbed).toEqual([]);
      expect(c.tag).toBe(false);
      expect(c.types).toEqual({ message: 'str', datetime: 'str', timestamp_desc: 'str' });
      expect(c.timestamp, `line ${c.line}`).toBe(c.parsed_us);
    }
  });

  it('the model columns, links and identity chain ride along; attrs stays JSON text', () => {
    const lines = cli(['reconstruct', demo, '--format', 'timesketch']).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(rows.length);
    const i = rows.findIndex((r) => r.src_ip === '203.0.113.66' && r.action === 's3:GetObject');
    const e = lines[i]!;
    expect(Object.keys(e).slice(0, 5)).toEqual(['message', 'datetime', 'timestamp', 'timestamp_desc', 'data_type']);
    expect(e).toMatchObject({
      message: 's3:GetObject s3://prod-secrets/db.env (success) by arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773136935 with ASIAQNZGKIQY3DEPLOYX from 203.0.113.66 [workload ci/build-7f9c]',
      datetime: '2026-03-10T10:41:09.000000+00:00',
      timestamp: 1773139269000000,
      timestamp_desc: 'Event Time',
      data_type: 'custody:cloudtrail:api',
      time: '2026-03-10T10:41:09Z',
      credential_id: 'ASIAQNZGKIQY3DEPLOYX',
      bundle: demo,
    });
    for (const c of COLUMNS) expect(e, c.name).toHaveProperty(c.name);
    expect(e.identity_chain).toEqual(rows[i]!.identity_chain);
    expect(e.links).toEqual(rows[i]!.links);
    expect(typeof e.attrs).toBe('string');
    expect(JSON.parse(e.attrs as string)).toEqual(rows[i]!.attrs);
    // Sub-millisecond times survive: Timesketch's microseconds, custody's nanoseconds in `time`.
    const k8s = lines.find((l) => l.source === 'k8s_audit' && l.action === 'list secrets')!;
    expect(k8s.datetime).toBe('2026-03-10T10:01:12.139595+00:00');
    expect(k8s.timestamp).toBe(1773136872139595);
  });

  it('the attacker-controlled user agent stays lossless JSON, never raw control characters', () => {
    const out = cli(['reconstruct', demo, '--format', 'timesketch', '--grep', 'python-requests']).stdout;
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(out).toContain('\\u001b]0;pwned\\u0007');
  });
});

describe('--output', () => {
  it('usage errors: a .parquet file with --format, a missing directory', () => {
    const a = cli(['reconstruct', demo, '--format', 'ocsf', '--output', join(root, 'x.parquet')]);
    expect(a.status).toBe(2);
    expect(a.stderr.split('\n')[0]).toBe(`custody reconstruct: --output ${join(root, 'x.parquet')} writes Parquet; --format ocsf does not apply`);
    const b = cli(['reconstruct', demo, '--output', join(root, 'no', 'such', 'x.jsonl')]);
    expect(b.status).toBe(2);
    expect(b.stderr.split('\n')[0]).toBe(`custody reconstruct: --output ${join(root, 'no', 'such', 'x.jsonl')}: the directory ${join(root, 'no', 'such')} does not exist`);
  });

  it('writes the chosen format to the file, byte for byte what stdout would get', () => {
    const file = join(root, 'demo.ndjson');
    expect(cli(['reconstruct', demo, '--output', file, '--format', 'ndjson']).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(cli(['reconstruct', demo]).stdout);
  });
});
