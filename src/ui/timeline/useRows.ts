import { useEffect, useRef, useState } from 'react';
import type { TimelineRow } from '../../reconstruct/index.js';
import type { TimelineSource } from './source.js';

const PAGE = 100;
const KEEP_PAGES = 6;

/**
 * The rows visible in the window [top, top + height), fetched from the source a page at a time.
 * At most KEEP_PAGES pages stay cached (never the whole timeline), so a million-row bundle
 * pages through DuckDB with constant memory.
 */
export function useRows(source: TimelineSource, top: number, height: number, total: number): { rows: (TimelineRow | undefined)[]; error?: string } {
  const cache = useRef(new Map<number, TimelineRow[]>());
  const inflight = useRef(new Set<number>());
  const [, setVersion] = useState(0);
  const [error, setError] = useState<string>();

  useEffect(() => {
    cache.current = new Map();
    inflight.current = new Set();
    setVersion((v) => v + 1);
  }, [source]);

  const first = Math.floor(top / PAGE);
  const last = Math.floor(Math.max(top, Math.min(total, top + height) - 1) / PAGE);

  useEffect(() => {
    let cancelled = false;
    for (let p = first; p <= last; p++) {
      if (p * PAGE >= total || cache.current.has(p) || inflight.current.has(p)) continue;
      inflight.current.add(p);
      const pageSource = source;
      source.page(p * PAGE, PAGE).then(
        (rows) => {
          if (cancelled || pageSource !== source) return;
          inflight.current.delete(p);
          cache.current.set(p, rows);
          for (const k of [...cache.current.keys()]) if (Math.abs(k - first) > KEEP_PAGES / 2) cache.current.delete(k);
          setVersion((v) => v + 1);
        },
        (err: unknown) => {
          inflight.current.delete(p);
          if (!cancelled) setError((err as Error).message);
        },
      );
    }
    return () => {
      cancelled = true;
      for (let p = first; p <= last; p++) inflight.current.delete(p);
    };
  }, [source, first, last, total]);

  const rows: (TimelineRow | undefined)[] = [];
  for (let i = top; i < Math.min(total, top + height); i++) rows.push(cache.current.get(Math.floor(i / PAGE))?.[i % PAGE]);
  return { rows, error };
}
