/**
 * `custody check` on really recorded kernel evidence: one forbidden connection is one violation
 * (its connect row), not one per TCP state change of the socket; a connection elsewhere is none.
 * Root and the built recorder, like test/record/record.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recorderProblems } from '../../src/record/native.js';
import { cli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

const REQUIRE_BPF = process.env.CUSTODY_REQUIRE_BPF === '1';
const problems = recorderProblems();
if (problems.length > 0 && !REQUIRE_BPF) console.warn(`test/record/check-kernel.test.ts skipped: ${problems.join('; ')}`);

describe.skipIf(problems.length > 0 && !REQUIRE_BPF)('custody check on recorded connections (root, real BPF)', () => {
  const tmp = useTmpDir();

  it('a forbidden connection is one violation naming its connect row; the allowed one is none', async () => {
    expect(problems, 'CUSTODY_REQUIRE_BPF=1 but the recorder cannot run here').toEqual([]);
    const servers = [createServer((s) => s.end()), createServer((s) => s.end())];
    for (const s of servers) s.listen(0, '127.0.0.1');
    await Promise.all(servers.map((s) => once(s, 'listening')));
    const [forbidden, allowed] = servers.map((s) => (s.address() as AddressInfo).port) as [number, number];
    try {
      const dir = tmp();
      const bundle = join(dir, 'b');
      const script = `exec 3<>/dev/tcp/127.0.0.1/${forbidden}; exec 3>&-; exec 4<>/dev/tcp/127.0.0.1/${allowed}; exec 4>&-`;
      const rec = cli(['record', '-o', bundle, '--events', 'exec,net', '--', 'bash', '-c', script]);
      expect(rec.status, rec.stderr).toBe(0);
      const policy = join(dir, 'policy.yaml');
      writeFileSync(policy, `rules:\n  - { name: no-forbidden-port, kind: forbidden_flow, severity: high, to: ["127.0.0.1:${forbidden}"] }\n`);
      const r = cli(['check', bundle, '--rules', policy, '--format', 'json']);
      expect(r.status, r.stdout + r.stderr).toBe(1);
      const report = JSON.parse(r.stdout) as { rules: { name: string; violations: { action: string; target: string; source_ref: string }[] }[] };
      const rule = report.rules.find((x) => x.name === 'no-forbidden-port')!;
      expect(rule.violations).toHaveLength(1);
      expect(rule.violations[0]).toMatchObject({ action: 'connect', target: `127.0.0.1:${forbidden}` });
      expect(rule.violations[0]!.source_ref).toMatch(/^kernel\/[^/]+\/seg-\d{6}\.parquet:\d+$/);
    } finally {
      for (const s of servers) s.close();
    }
  });
});
