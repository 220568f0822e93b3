#!/usr/bin/env node
// Reconstruct benchmark (issue 2): on a 1M-event bundle, time to the first page of linked rows
// (what the interactive timeline shows first: open, count, first page with chains) and peak RSS;
// also a deep page and the end-to-end CLI (`reconstruct --limit 100`, process start included).
//   node bench/reconstruct.mjs <bundle>     (bench/ingest.mjs prints a bundle to use)
import { join } from 'node:path';
import { measure, machine, REPO, table } from './lib.mjs';

const bundle = process.argv[2];
if (!bundle) {
  process.stderr.write('usage: reconstruct.mjs <bundle>\n');
  process.exit(2);
}
const script = `import { Timeline } from '${join(REPO, 'dist/reconstruct/timeline.js')}';
const t0 = performance.now();
const tl = await Timeline.open([${JSON.stringify(bundle)}]);
const q = await tl.query({});
const [n, first] = await Promise.all([q.count(), q.page(0, 100)]);
const t1 = performance.now();
const mid = await q.page(Math.floor(n / 2), 100);
const t2 = performance.now();
const mid2 = await q.page(Math.floor(n / 2) + 100, 100);
const t3 = performance.now();
const last = await q.page(n - 100, 100);
const t4 = performance.now();
const w = await tl.query({ workload: 'ns0/sa50' });
const wn = await w.count();
const t5 = performance.now();
console.log(JSON.stringify({ n, firstMs: t1 - t0, midMs: t2 - t1, nextMs: t3 - t2, lastMs: t4 - t3, workloadMs: t5 - t4, workloadRows: wn, chain: first[0].identity_chain.length + mid.length + mid2.length + last.length }));
tl.close();`;
const runs = [];
for (let i = 0; i < 3; i++) {
  const m = measure([process.execPath, '--input-type=module', '-e', script], { cwd: REPO });
  runs.push({ ...JSON.parse(m.stdout), rss: m.rssMb });
}
const best = (k) => Math.min(...runs.map((r) => r[k]));
const cli = [0, 1, 2].map(() => measure([process.execPath, join(REPO, 'bin/run.js'), 'reconstruct', bundle, '--limit', '100', '--format', 'ndjson']));
console.log(`machine: ${machine()}`);
console.log(`bundle: ${bundle} (${runs[0].n} events); best of 3 runs, each a fresh process`);
console.log(
  table([
    ['measure', 'value'],
    ['first page (open + count + 100 linked rows)', `${best('firstMs').toFixed(0)} ms`],
    ['deep page (middle; builds the position index)', `${best('midMs').toFixed(0)} ms`],
    ['next deep page (index built)', `${best('nextMs').toFixed(0)} ms`],
    ['last page', `${best('lastMs').toFixed(0)} ms`],
    [`--workload filter count (${runs[0].workloadRows} rows)`, `${best('workloadMs').toFixed(0)} ms`],
    ['peak RSS (in-process runs)', `${Math.max(...runs.map((r) => r.rss))} MB`],
    ['CLI reconstruct --limit 100, wall (process start included)', `${Math.min(...cli.map((c) => c.seconds)).toFixed(2)} s`],
    ['CLI peak RSS', `${Math.max(...cli.map((c) => c.rssMb))} MB`],
  ]),
);
