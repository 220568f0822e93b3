/**
 * The segment writer without the kernel: batches as the addon would hand them over, decoded with
 * the recorder's decoder, written into a real bundle by real DuckDB. Runs without root.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleWriter } from '../../src/bundle/index.js';
import { RowMapper } from '../../src/record/rows.js';
import { SegmentWriter } from '../../src/record/segment.js';
import { KIND, KIND_NAMES, LAYOUT, decodeBatch } from '../../src/record/wire.js';
import { Db } from '../../src/util/duckdb.js';
import { cli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';
import { record } from '../helpers/wire.js';

const tmp = useTmpDir();
const zeroCounters = () => Object.fromEntries(KIND_NAMES.map((k) => [k, { emitted: 0, ringFull: 0, rateLimited: 0, filtered: 0 }])) as never;
const clocks = () => ({ boottimeNs: process.hrtime.bigint(), realtimeNs: BigInt(Date.now()) * 1_000_000n });

describe('SegmentWriter', () => {
  it('records the decoder rejects become gap rows (reason undecodable) and manifest drops, next to the rows it could read', async () => {
    const dir = join(tmp(), 'b');
    const bundle = await BundleWriter.open(dir, { create: true, command: 'record' });
    const db = await Db.open({ threads: 1, memoryLimit: '256MB' });
    try {
      const w = await SegmentWriter.open({
        bundle,
        db,
        mapper: new RowMapper('boot-1', 'host-a', () => null),
        host: { name: 'host-a', bootId: 'boot-1', kernel: 'test' },
        clocks,
        counters: zeroCounters,
        segmentMs: 3_600_000,
      });
      const now = clocks().boottimeNs;
      const exit = (tgid: number) => record(KIND.exit, 'exit', { status: 0, leader: 1 }, { hdr: { tgid, tid: tgid, ts_ns: now, start_ns: now - 1000n } });
      const broken = record(KIND.fork, 'fork', {});
      broken.writeUInt16LE(9000, LAYOUT.hdr.fields.size[0]);
      const batches = [Buffer.concat([exit(11), record(99, 'exit', {}), exit(12)]), Buffer.concat([exit(13), broken, exit(14)])];
      for (const b of batches) w.write(decodeBatch(b, (lost) => w.lost(lost)));
      const stats = await w.close();
      expect(stats.rows).toBe(3);
      expect(stats.undecodable).toEqual({ records: 2, bytes: 64 + 72 + 64 });
      expect(Object.values(stats.drops).every((d) => d.ring_full === 0 && d.rate_limited === 0)).toBe(true);
    } finally {
      db.close();
      await bundle.close();
    }

    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.drops).toEqual({ total: 2, by_kind: { unknown: 1, fork: 1 } });
    expect(cli(['verify', dir]).status).toBe(0);
    const r = cli(['reconstruct', dir, '--format', 'ndjson']);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(rows.filter((x) => x.category !== 'gap').map((x) => x.tgid ?? x.pid).sort()).toEqual([11, 12, 13]);
    const gaps = rows.filter((x) => x.category === 'gap');
    expect(gaps.map((g) => [g.target, g.reason, g.attrs.drop_count]).sort()).toEqual([
      ['fork', 'undecodable', 1],
      ['unknown', 'undecodable', 1],
    ]);
    expect(gaps.find((g) => g.target === 'fork').attrs.detail).toMatch(/declares size 9000/);
    expect(gaps.find((g) => g.target === 'unknown').attrs).toMatchObject({ bytes: 64, detail: 'record of unknown kind 99 at byte 64' });
  });
});
