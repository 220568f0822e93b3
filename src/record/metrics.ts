/**
 * Prometheus exposition of a running recorder (`--metrics-addr`), with prom-client: values are
 * read from the recorder's running totals when scraped, so recording does no extra work per
 * event. Served on /metrics only; anything else is 404.
 */
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { Counter, Gauge, Registry } from 'prom-client';
import { UsageError } from '../util/errors.js';
import type { RecordStats } from './segment.js';
import type { KindCounters } from './native.js';
import { KIND_NAMES, type KindName } from './wire.js';

export interface MetricsAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:9464`, `[::1]:9464` or `:9464` (all interfaces). */
export function parseMetricsAddr(text: string): MetricsAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new UsageError(`--metrics-addr ${JSON.stringify(text)} is not host:port`, 'use e.g. 127.0.0.1:9464');
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export interface MetricsSource {
  stats: RecordStats;
  ringFill: () => number;
  /** the kernel's drop counters, live (gap rows follow when the window seals) */
  counters: () => Record<KindName, KindCounters>;
}

/** The registry with the recorder's metric families. */
export function recorderRegistry(src: MetricsSource): Registry {
  const registry = new Registry();
  new Counter({
    name: 'custody_record_events_total',
    help: 'Kernel events decoded and written, by kind.',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of KIND_NAMES) this.labels(k).inc(src.stats.events[k]);
    },
  });
  new Counter({
    name: 'custody_record_drops_total',
    help: 'Kernel events lost, by kind and reason (ring_full, rate_limited), counted in the kernel; each becomes a gap row when its window seals.',
    labelNames: ['kind', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      const c = src.counters();
      for (const k of KIND_NAMES) {
        this.labels(k, 'ring_full').inc(c[k].ringFull);
        this.labels(k, 'rate_limited').inc(c[k].rateLimited);
      }
    },
  });
  new Counter({
    name: 'custody_record_undecodable_records_total',
    help: 'Records read from the ring that the decoder could not turn into events (BPF object and recorder from different builds); each becomes a gap row when its window seals.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(src.stats.undecodable.records);
    },
  });
  new Gauge({
    name: 'custody_record_ring_fill_ratio',
    help: 'Fraction of the BPF ring buffer written and not yet read.',
    registers: [registry],
    collect() {
      this.set(src.ringFill());
    },
  });
  new Counter({
    name: 'custody_record_segments_sealed_total',
    help: 'Kernel segments sealed into the bundle (fsynced, renamed, in the hash chain).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(src.stats.segments);
    },
  });
  new Counter({
    name: 'custody_record_bytes_written_total',
    help: 'Bytes of sealed files (segments, gap rows, attribution snapshots).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(src.stats.bytesWritten);
    },
  });
  return registry;
}

/** Serves the registry on http://host:port/metrics until closed. */
export async function serveMetrics(addr: MetricsAddress, registry: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  server.listen(addr.port, addr.host);
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  } catch (err) {
    throw new UsageError(`--metrics-addr ${addr.host}:${addr.port}: ${(err as Error).message}`, 'pick a free port');
  }
  server.unref();
  return server;
}
