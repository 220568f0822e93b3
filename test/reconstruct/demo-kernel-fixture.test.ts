/**
 * The demo's kernel evidence as kept in the repository (fixtures/demo/kernel: a bundle recorded
 * for real by fixtures/demo/record-kernel.sh). It needs no root to read: an analyst opens it next
 * to the demo's logs and reconstruct attributes the recorded process to pod ci/build-7f9c from
 * its cgroup path (rule 1) and ties its connection to the token it read (rule 2).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { REPO, useTmpDir } from '../helpers/tmp.js';

const KEPT = join(REPO, 'fixtures/demo/kernel');

interface Row {
  event_id: string;
  source: string;
  action: string;
  target: string | null;
  process_key: string | null;
  k8s_pod_uid: string | null;
  k8s_pod: string | null;
  k8s_service_account: string | null;
  links: { rule: string; confidence: string; event_id: string }[];
  identity_chain: { id: string; type: string }[];
}

describe('the kept demo kernel recording', () => {
  const tmp = useTmpDir();

  it('verifies as recorded', () => {
    const v = cli(['verify', KEPT]);
    expect(v.status, v.stdout).toBe(0);
  });

  it('opened with the demo logs: every recorded process is the pod ci/build-7f9c, the connection is linked to the token read', () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
    expect(cli(['ingest', join(dir, 'b'), join(dir, 'logs')]).status).toBe(0);
    const r = cli(['reconstruct', join(dir, 'b'), KEPT, '--source', 'kernel', '--format', 'ndjson']);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
    expect(rows.length).toBeGreaterThan(5);
    for (const x of rows.filter((k) => k.process_key)) {
      expect([x.k8s_pod_uid, x.k8s_pod, x.k8s_service_account]).toEqual(['5f0d6c1e-8a57-4c1b-9d6e-7b3a2f1c9e01', 'build-7f9c', 'deployer']);
    }
    const connect = rows.find((x) => x.action === 'connect');
    const reads = rows.filter((x) => x.action === 'open' && (x.target ?? '').startsWith('/var/run/secrets/'));
    expect(connect).toBeDefined();
    expect(reads.length).toBeGreaterThan(0);
    const linked = connect!.links.filter((l) => l.rule === 'credential-material').map((l) => l.event_id);
    expect(reads.some((x) => linked.includes(x.event_id))).toBe(true);
    expect(connect!.links.some((l) => l.rule === 'process-workload' && l.confidence === 'exact')).toBe(true);
    expect(connect!.identity_chain.map((c) => c.id)).toEqual(expect.arrayContaining(['ci/build-7f9c', 'system:serviceaccount:ci:deployer']));
    // --workload follows the pod into the kernel rows too.
    const w = cli(['reconstruct', join(dir, 'b'), KEPT, '--workload', 'ci/build-7f9c', '--source', 'kernel', '--format', 'ndjson']);
    expect(w.stdout.split('\n').filter(Boolean)).toHaveLength(rows.filter((k) => k.process_key).length);
  });
});
