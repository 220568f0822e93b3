#!/usr/bin/env node
// Recorder benchmark (issue 3). Run as root after `npm run build` and `npm run build:native`.
//   node bench/record.mjs [execs=3000] [--replay=200000] [--rounds=3]
// 1. Pipeline throughput: real ring-buffer records captured once from a workload, replayed
//    through decode → model rows → staging → Parquet (sealed into a bundle) on one thread.
// 2. Overhead: the same exec/connect/open-heavy shell loop timed without and with
//    `custody record` running (whole host, default filters), alternating, median of rounds.
//    Also the recorder's peak RSS and whether it dropped anything.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, REPO, table } from './lib.mjs';

const execs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 3000);
const arg = (name, dflt) => Number((process.argv.find((a) => a.startsWith(`--${name}=`)) ?? `=${dflt}`).split('=')[1]);
const replayEvents = arg('replay', 200_000);
const rounds = arg('rounds', 3);
const dist = (p) => join(REPO, 'dist', p);

const work = mkdtempSync(join(tmpdir(), 'custody-bench-rec-'));
const secrets = join(work, 'secrets');
mkdirSync(secrets);
writeFileSync(join(secrets, 'token'), 'x\n');

// A local listener for the workload's connects.
const server = createServer((s) => s.destroy()).listen(0, '127.0.0.1');
await once(server, 'listening');
const port = server.address().port;

/** exec + open of a credential file + a TCP connect, per iteration (bash: /dev/tcp connects blocking). */
const workload = (n) => [
  'bash',
  '-c',
  `for i in $(seq ${n}); do /bin/true; if [ $((i % 10)) = 0 ]; then cat ${secrets}/token >/dev/null; exec 3<>/dev/tcp/127.0.0.1/${port}; exec 3<&-; fi; done`,
];

function timeIt(argv) {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return (performance.now() - t0) / 1000;
}

function calibrate() {
  const t = performance.now();
  let x = 0;
  for (let i = 0; i < 1e8; i++) x += i;
  return x > 0 ? Math.round(performance.now() - t) : 0;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- 1. pipeline throughput ----
const { KernelRecorder, clocks, bootId } = await import(dist('record/native.js'));
const { decodeBatch } = await import(dist('record/wire.js'));
const { RowMapper } = await import(dist('record/rows.js'));
const { SegmentWriter } = await import(dist('record/segment.js'));
const { BundleWriter } = await import(dist('bundle/index.js'));
const { Db } = await import(dist('util/duckdb.js'));

const batches = [];
const rec = new KernelRecorder({ credPrefixes: [`${secrets}/`], onBatch: (b) => batches.push(Buffer.from(b)) });
rec.start();
timeIt(workload(Math.min(execs, 1000)));
await rec.stop();
const captured = batches.flatMap((b) => decodeBatch(b)).length;
const kinds = {};
for (const b of batches) for (const e of decodeBatch(b)) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;

const bundleDir = join(work, 'replay');
const bundle = await BundleWriter.open(bundleDir, { create: true, command: 'bench' });
const db = await Db.open({ threads: 1 });
const zero = { emitted: 0, ringFull: 0, rateLimited: 0, filtered: 0 };
const counters = () => Object.fromEntries(Object.keys(kinds).concat(['exec', 'fork', 'exit', 'connect', 'accept', 'tcp_state', 'tcp_reset', 'open', 'cred', 'signal']).map((k) => [k, zero]));
const mapper = new RowMapper(bootId(), 'bench', () => ({ cgroup_path: '/bench', runtime: null, container_id: null, pod_uid: null, qos: null }));
const writer = await SegmentWriter.open({ bundle, db, mapper, host: { name: 'bench', bootId: mapper.bootId, kernel: 'bench' }, clocks, counters, segmentMs: 3_600_000 });
let replayed = 0;
const t0 = performance.now();
let decodeMs = 0;
while (replayed < replayEvents) {
  for (const b of batches) {
    const d0 = performance.now();
    const evs = decodeBatch(b);
    decodeMs += performance.now() - d0;
    writer.write(evs);
    replayed += evs.length;
  }
}
const stats = await writer.close();
const pipelineS = (performance.now() - t0) / 1000;
db.close();
await bundle.close();

// ---- 2. overhead ----
const run = join(REPO, 'bin/run.js');
const base = [];
const withRec = [];
let recRss = 0;
let recSummary = '';
for (let i = 0; i < rounds; i++) {
  base.push(timeIt(workload(execs)));
  const out = join(work, `rec-${i}`);
  const child = spawn('/usr/bin/time', ['-f', 'RSS %M', process.execPath, run, 'record', '-o', out, '--cred-prefix', `${secrets}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // wait until the recorder is attached (its manifest names the host)
  for (let t = 0; t < 200; t++) {
    try {
      if (JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).hosts.length > 0) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  withRec.push(timeIt(workload(execs)));
  // `time` forwards nothing: signal the recorder itself (the child of time)
  const pid = Number(spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
  process.kill(pid, 'SIGINT');
  await once(child, 'exit');
  recRss = Math.max(recRss, Number(/RSS (\d+)/.exec(stderr)?.[1] ?? 0) / 1024);
  recSummary = stderr.split('\n').filter((l) => /events|DROPPED|no drops/.test(l)).join(' / ');
}
// ---- 3. sustained rate: a tight loop of credential-file opens, as fast as one process can ----
const opens = arg('opens', 200_000);
const floodOut = join(work, 'flood');
const floodScript = `const fs = require('fs'); const t = performance.now(); for (let i = 0; i < ${opens}; i++) fs.closeSync(fs.openSync(${JSON.stringify(join(secrets, 'token'))}, 'r')); process.stderr.write('LOOP_MS=' + (performance.now() - t) + '\\n');`;
const tf = performance.now();
const flood = spawnSync(process.execPath, [run, 'record', '-o', floodOut, '--events', 'cred', '--cred-prefix', `${secrets}/`, '--json', '--', process.execPath, '-e', floodScript], { encoding: 'utf8', maxBuffer: 1 << 26 });
const floodWall = (performance.now() - tf) / 1000;
const fr = JSON.parse(flood.stdout);
const floodDrops = Object.values(fr.stats.drops).reduce((a, d) => a + d.ring_full + d.rate_limited, 0);
const loopMs = (stderr) => Number(/LOOP_MS=([\d.]+)/.exec(stderr)?.[1]);
const floodLoopS = loopMs(flood.stderr) / 1000;
const openAlone = loopMs(spawnSync(process.execPath, ['-e', floodScript], { encoding: 'utf8' }).stderr) / 1000;
server.close();
rmSync(work, { recursive: true, force: true });

const b = median(base);
const w = median(withRec);
console.log(`custody record benchmark — ${machine()}`);
console.log(`cpu calibration (1e8-iteration add loop on this process, for comparing runs on a shared machine): ${calibrate()} ms`);
console.log();
console.log(`pipeline (decode → rows → NDJSON staging → Parquet, sealed), one JS thread + DuckDB on 1 thread:`);
console.log(
  table([
    ['events', 'seconds', 'events/s', 'decode share', 'segments', 'bytes/event'],
    [replayed, pipelineS.toFixed(2), Math.round(replayed / pipelineS), `${((decodeMs / 1000 / pipelineS) * 100).toFixed(0)} %`, stats.segments, (stats.bytesWritten / replayed).toFixed(1)],
  ]),
);
console.log(`  (replaying ${captured} real records captured from the workload: ${JSON.stringify(kinds)})`);
console.log();
console.log(`overhead: ${execs} iterations of exec /bin/true (+ every 10th: open of a credential file, TCP connect), median of ${rounds}:`);
console.log(
  table([
    ['', 'seconds (median)', 'all rounds'],
    ['without recorder', b.toFixed(2), base.map((x) => x.toFixed(2)).join(' ')],
    ['with custody record', w.toFixed(2), withRec.map((x) => x.toFixed(2)).join(' ')],
    ['ratio', `${(w / b).toFixed(3)} (${(((w - b) / b) * 100).toFixed(1)} % overhead)`, ''],
  ]),
);
console.log(`recorder peak RSS: ${recRss.toFixed(0)} MB; last run: ${recSummary.trim()}`);
console.log();
console.log(`sustained: ${opens} opens of a credential file in one tight loop, recorded (--events cred):`);
console.log(
  table([
    ['events recorded', 'drops', 'loop s (recorded)', 'opens/s (recorded)', 'loop s (alone)', 'opens/s (alone)', 'record wall s'],
    [fr.stats.events.open, floodDrops, floodLoopS.toFixed(2), Math.round(opens / floodLoopS), openAlone.toFixed(2), Math.round(opens / openAlone), floodWall.toFixed(2)],
  ]),
);
