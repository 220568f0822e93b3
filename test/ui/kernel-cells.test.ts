/** How the table and the detail view show kernel rows (written as the recorder contract specifies). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rowCells } from '../../src/ui/cells.js';
import { detailLines } from '../../src/ui/timeline/detail.js';
import { readRows } from '../helpers/bundle.js';
import { writeKernelSegment, type KernelProcess } from '../helpers/kernel.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const S = 1_000_000_000n;

describe('kernel rows in the timeline table', () => {
  it('shows comm[pid] as the actor, exe and argv for an exec, the path for an open, the destination for a connect', async () => {
    const bundle = join(tmp(), 'bundle');
    const sh: KernelProcess = { pid: 40, start: 1n * S, exe: '/bin/sh', argv: ['sh'], comm: 'sh' };
    const curl: KernelProcess = { pid: 41, start: 2n * S, parent: sh, exe: '/usr/bin/curl', argv: ['curl', '-H', 'Authorization: Bearer x', 'https://10.96.0.1/api'], comm: 'curl' };
    // a process that names itself like a kernel thread and carries a terminal escape in its arguments
    const fake: KernelProcess = { pid: 42, start: 3n * S, parent: sh, exe: '/tmp/.x/miner', argv: ['[kworker/0:1]', '--pool', 'evil\u001b]0;pwned\u0007'], comm: 'kworker/0:1' };
    await writeKernelSegment(bundle, [
      { kind: 'exec', proc: curl, at: 2n * S },
      { kind: 'open', proc: curl, at: 3n * S, path: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
      { kind: 'connect', proc: curl, at: 4n * S, dst: ['10.96.0.1', 443] },
      { kind: 'connect', proc: curl, at: 5n * S, dst: ['fd00::1', 8443] },
      { kind: 'exec', proc: fake, at: 6n * S },
    ], { bootToUtcNs: BigInt(Date.parse('2026-03-10T09:00:00Z')) * 1_000_000n });
    const rows = await readRows(bundle);
    // the fixture sets a connect's target; the recorder may not: the destination columns say it then
    for (const r of rows) if (r.action === 'connect') r.target = null;
    const cells = rows.map((r) => rowCells(r));
    expect(cells.map((c) => [c.actor, c.action, c.target])).toEqual([
      ['curl[41]', 'exec', '/usr/bin/curl -H "Authorization: Bearer x" https://10.96.0.1/api'],
      ['curl[41]', 'open', '/var/run/secrets/kubernetes.io/serviceaccount/token'],
      ['curl[41]', 'connect', '10.96.0.1:443'],
      ['curl[41]', 'connect', '[fd00::1]:8443'],
      ['kworker/0:1[42]', 'exec', '/tmp/.x/miner [argv0 "[kworker/0:1]"] --pool "evil\\u001b]0;pwned\\u0007"'],
    ]);
    expect(cells.every((c) => !/[\u0000-\u001f]/.test(c.target))).toBe(true);

    // the detail view names the material a credential-material link reached
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    const connect = rows[2]!;
    const text = detailLines(connect, byId, '', 200).map((l) => l.map((s) => s.text).join('')).join('\n');
    expect(text).toMatch(/\[1\] credential-material \(strong\), k8s-service-account-token → [0-9a-f]{32}/);
    expect(text).toContain('open curl[41] /var/run/secrets/kubernetes.io/serviceaccount/token kernel/node-1/seg-000001.parquet:2');
  });
});
