import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatTimeNs, parseDurationNs, parseTimeNs } from '../../src/model/time.js';

describe('parseTimeNs', () => {
  it.each([
    ['2020-09-14T00:44:23Z', 1600044263000000000n],
    ['2020-09-14T00:44:23.000Z', 1600044263000000000n],
    ['2017-09-11T19:55:05.123456Z', 1505159705123456000n],
    ['2026-03-10T10:00:05.123456789Z', 1773136805123456789n],
    ['2022-02-08 09:23:37+11:00', 1644272617000000000n],
    ['2022-11-29 22:34:06.892', 1669761246892000000n],
    ['2024-01-01T00:00:00-05:30', 1704087000000000000n],
  ])('%s', (text, ns) => {
    expect(parseTimeNs(text)).toBe(ns);
  });

  it.each(['', 'redacted', '...', '2024-13-01T00:00:00Z', '2023-02-31T00:00:00Z', '2024-01-01T25:00:00Z', '12345'])('rejects %j', (text) => {
    expect(parseTimeNs(text)).toBeNull();
  });

  it('round-trips any ns time through formatTimeNs', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 4102444800000000000n }), (ns) => {
        expect(parseTimeNs(formatTimeNs(ns))).toBe(ns);
      }),
    );
  });
});

describe('formatTimeNs', () => {
  it('prints only the sub-second digits that carry information', () => {
    expect(formatTimeNs(1600044263000000000n)).toBe('2020-09-14T00:44:23Z');
    expect(formatTimeNs(1600044263120000000n)).toBe('2020-09-14T00:44:23.120Z');
    expect(formatTimeNs(1600044263123456000n)).toBe('2020-09-14T00:44:23.123456Z');
    expect(formatTimeNs(1600044263123456789n)).toBe('2020-09-14T00:44:23.123456789Z');
  });
});

describe('parseDurationNs', () => {
  it('reads units', () => {
    expect(parseDurationNs('2s')).toBe(2_000_000_000n);
    expect(parseDurationNs('5m')).toBe(300_000_000_000n);
    expect(parseDurationNs('1.5h')).toBe(5_400_000_000_000n);
    expect(parseDurationNs('500ms')).toBe(500_000_000n);
    expect(parseDurationNs('soon')).toBeNull();
  });
});
