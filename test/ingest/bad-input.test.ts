import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../src/bundle/index.js';
import { ingest } from '../../src/ingest/ingest.js';
import { ingestAndRead, readRows } from '../helpers/bundle.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

function ctRecord(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventVersion: '1.08',
    userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::123456789012:user/u${i}`, accessKeyId: `AKIAEXAMPLE${String(i).padStart(9, '0')}` },
    eventTime: `2024-05-01T00:00:${String(i % 60).padStart(2, '0')}Z`,
    eventSource: 's3.amazonaws.com',
    eventName: 'GetObject',
    eventID: `id-${i}`,
    sourceIPAddress: '192.0.2.1',
    requestParameters: { bucketName: 'b', key: `k${i}` },
    ...extra,
  };
}

function quarantined(bundle: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const root = join(bundle, 'quarantine');
  for (const src of readdirSync(root)) for (const f of readdirSync(join(root, src))) for (const l of readFileSync(join(root, src, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l));
  return out;
}

describe('bad input is quarantined with file, line and reason; the rest is ingested', () => {
  it('malformed JSON lines, invalid UTF-8 and binary garbage among good records', async () => {
    const dir = tmp();
    const file = join(dir, 'mixed.jsonl');
    const good = (i: number) => Buffer.from(`${JSON.stringify(ctRecord(i))}\n`);
    writeFileSync(
      file,
      Buffer.concat([
        good(1),
        Buffer.from('{"eventVersion": "1.08", "eventName": \n'), // truncated line
        good(2),
        Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]), // invalid UTF-8
        Buffer.from('\x00\x01\x02\x1b[2Jgarbage\n'),
        good(3),
        Buffer.from('[1, 2\n'),
        good(4),
      ]),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(rows.map((r) => r.source_event_id)).toEqual(['id-1', 'id-2', 'id-3', 'id-4']);
    expect(summary.files[0]).toMatchObject({ accepted: 4, quarantined: 4 });
    const q = quarantined(bundle);
    expect(q.map((x) => [x.line, String(x.reason).split(':')[0]])).toEqual([
      [4, 'not valid UTF-8'],
      [2, 'invalid JSON'],
      [5, 'invalid JSON'],
      [7, 'invalid JSON'],
    ]);
    expect(q[0]).toMatchObject({ input: file, base64: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('base64') });
    expect(q[1]!.file).toMatch(/^raw\/cloudtrail\/[0-9a-f]{12}-mixed\.jsonl$/);
  });

  it('a truncated .gz: records before the cut are ingested, the cut is quarantined', async () => {
    const dir = tmp();
    const body = Array.from({ length: 2000 }, (_, i) => JSON.stringify(ctRecord(i))).join('\n');
    const gz = gzipSync(body);
    const file = join(dir, 'cut.jsonl.gz');
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length * 0.6)));
    const { bundle, summary } = await ingestAndRead(dir, [file]);
    const f = summary.files[0]!;
    expect(f.accepted).toBeGreaterThan(100);
    expect(f.accepted).toBeLessThan(2000);
    const reasons = quarantined(bundle).map((x) => x.reason);
    expect(reasons).toContain('incomplete last line (stream ended early)');
    expect(reasons.some((r) => String(r).startsWith('gzip stream is truncated or corrupt'))).toBe(true);
  });

  it('a truncated S3 delivery file ({"Records":[...]} in .gz) is quarantined, not half-read silently', async () => {
    const dir = tmp();
    const gz = gzipSync(JSON.stringify({ Records: Array.from({ length: 50 }, (_, i) => ctRecord(i)) }));
    const file = join(dir, '111122223333_CloudTrail_us-east-1_20240501T0000Z_x.json.gz');
    writeFileSync(file, gz.subarray(0, gz.length - 40));
    const { bundle, summary } = await ingestAndRead(dir, [file], 'cloudtrail');
    expect(summary.files[0]!.accepted).toBe(0);
    const reasons = quarantined(bundle).map((x) => String(x.reason));
    expect(reasons.some((r) => r.startsWith('gzip stream is truncated'))).toBe(true);
    expect(reasons).toContain('incomplete last line (stream ended early)');
  });

  it('JSON that is neither CloudTrail shape: unrecognized when detected, quarantined per record when forced', async () => {
    const dir = tmp();
    const file = join(dir, 'other.json');
    writeFileSync(file, '{"hello": "world"}\n{"Records": "not a list"}\n');
    const auto = await ingest({ bundle: join(dir, 'a'), inputs: [file] });
    expect(auto.files[0]).toMatchObject({ status: 'unrecognized', source: 'unknown', quarantined: 1 });
    const forced = await ingest({ bundle: join(dir, 'b'), inputs: [file], source: 'cloudtrail' });
    expect(forced.files[0]).toMatchObject({ status: 'ingested', accepted: 0, quarantined: 2 });
    expect(quarantined(join(dir, 'b')).map((q) => q.reason)).toEqual(['not a CloudTrail record: no eventName', 'not a CloudTrail record: no eventName']);
  });

  it('an empty file is kept and reported, and adds no rows', async () => {
    const dir = tmp();
    const file = join(dir, 'empty.json');
    writeFileSync(file, '');
    const s = await ingest({ bundle: join(dir, 'b'), inputs: [file] });
    expect(s.files[0]).toMatchObject({ status: 'empty', accepted: 0, quarantined: 0, size: 0 });
    expect((await readManifest(join(dir, 'b'))).entries.map((e) => e.kind)).toEqual(['raw']);
  });

  it('a single 50 MB line: garbage is quarantined (bytes kept in raw/), a huge valid record is accepted with capped fields', async () => {
    const dir = tmp();
    const file = join(dir, 'huge.jsonl');
    const junk = 'x'.repeat(50 * 1024 * 1024);
    const hugeUa = JSON.stringify(ctRecord(2, { userAgent: 'A'.repeat(50 * 1024 * 1024) }));
    writeFileSync(file, `${JSON.stringify(ctRecord(1))}\n${junk}\n${hugeUa}\n`);
    const { bundle, rows } = await ingestAndRead(dir, [file], 'cloudtrail');
    expect(rows).toHaveLength(2);
    const ua = String(rows[1]!.user_agent);
    expect(ua.length).toBeLessThan(70_000);
    expect(ua).toMatch(/…\[truncated \d+ chars\]$/);
    const [q] = quarantined(bundle);
    expect(q).toMatchObject({ line: 2, size: 50 * 1024 * 1024, truncated: true });
    expect(String(q!.text).length).toBe(64 * 1024);
    const m = await readManifest(bundle);
    expect(m.entries.find((e) => e.kind === 'raw')!.size).toBe(readFileSync(file).length);
  });

  it('a binary file is unrecognized and kept byte for byte', async () => {
    const dir = tmp();
    const file = join(dir, 'blob.bin');
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));
    writeFileSync(file, bytes);
    const { bundle, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ status: 'unrecognized', quarantined: 1 });
    const raw = (await readManifest(bundle)).entries.find((e) => e.kind === 'raw')!;
    expect(readFileSync(join(bundle, raw.path)).equals(bytes)).toBe(true);
  });

  it('a directory with FIFOs, symlinks and missing files: those are skipped with a reason, the rest ingested', async () => {
    const dir = tmp();
    const logs = join(dir, 'logs');
    mkdirSync(join(logs, 'sub'), { recursive: true });
    writeFileSync(join(logs, 'sub', 'ok.jsonl'), `${JSON.stringify(ctRecord(1))}\n`);
    execFileSync('mkfifo', [join(logs, 'trap.fifo')]);
    symlinkSync('/etc/shadow', join(logs, 'shadow-link'));
    symlinkSync(join(dir, 'nowhere'), join(logs, 'dangling'));
    const s = await ingest({ bundle: join(dir, 'b'), inputs: [logs, join(dir, 'missing.json')] });
    expect(s.accepted).toBe(1);
    expect(s.skipped.map((k) => [k.display.replace(dir, ''), k.reason.split(':')[0]])).toEqual([
      ['/logs/dangling', 'symbolic link inside a directory'],
      ['/logs/shadow-link', 'symbolic link inside a directory'],
      ['/logs/trap.fifo', 'FIFO'],
      ['/missing.json', 'no such file or directory'],
    ]);
  });

  it('ingesting the same bytes twice adds nothing', async () => {
    const dir = tmp();
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, `${JSON.stringify(ctRecord(1))}\n`);
    const bundle = join(dir, 'b');
    await ingest({ bundle, inputs: [file] });
    const before = await readManifest(bundle);
    writeFileSync(join(dir, 'copy.jsonl'), readFileSync(file));
    const again = await ingest({ bundle, inputs: [file, join(dir, 'copy.jsonl')] });
    expect(again.files.map((f) => f.status)).toEqual(['duplicate', 'duplicate']);
    const after = await readManifest(bundle);
    expect(after.entries).toEqual(before.entries);
    expect(after.chain_head).toBe(before.chain_head);
    expect(await readRows(bundle)).toHaveLength(1);
  });

  it('strings that are not well-formed Unicode are stored well-formed', async () => {
    const dir = tmp();
    const file = join(dir, 's.jsonl');
    writeFileSync(file, `${JSON.stringify(ctRecord(1)).replace('"GetObject"', '"Get\\ud800Object"')}\n`);
    const { rows } = await ingestAndRead(dir, [file]);
    expect(rows[0]!.action).toBe('s3:Get\ufffdObject');
  });
});
