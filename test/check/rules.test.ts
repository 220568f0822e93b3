import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ingest } from '../../src/ingest/ingest.js';
import { runCheck } from '../../src/check/run.js';
import type { CheckReport, RuleResult } from '../../src/check/report.js';
import { readRows } from '../helpers/bundle.js';
import { demoBundle, DEMO_POLICY } from '../helpers/demo.js';
import { SAMPLES } from '../helpers/tmp.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';

/** Rule evaluation on real ingested evidence: the demo incident, its clean run, and public samples. */

let root: string;
let demo: string;
let clean: string;
let demoRows: TimelineRow[];
let samples: string;
let n = 0;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-check-'));
  demo = await demoBundle(join(root, 'demo'));
  clean = await demoBundle(join(root, 'clean'), { clean: true });
  demoRows = await readRows(demo);
  samples = join(root, 'samples', 'bundle');
  await ingest({
    bundle: samples,
    inputs: [
      join(SAMPLES, 'aws_cloudtrail/awsdocs_iam_cloudtrail_examples_valid.jsonl'),
      join(SAMPLES, 'aws_cloudtrail/panther_AWS_CloudTrail_rule_tests.jsonl'),
      join(SAMPLES, 'aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json'),
      join(SAMPLES, 'k8s_audit/falco_trace_files_k8s_audit/anonymous_creates_namespace_foo.json'),
    ],
  });
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function check(bundles: string | string[], policy: string): Promise<CheckReport> {
  const file = join(root, `policy-${++n}.yaml`);
  writeFileSync(file, policy);
  return runCheck({ bundles: Array.isArray(bundles) ? bundles : [bundles], rules: file });
}

function rule(report: CheckReport, name = 'r'): RuleResult {
  return report.rules.find((r) => r.name === name)!;
}

const byId = (id: string | null) => demoRows.find((r) => r.event_id === id)!;

describe('the demo policy', () => {
  it('fails on the demo incident: exactly the three uses of the session key from 203.0.113.66', async () => {
    const report = await runCheck({ bundles: [demo], rules: DEMO_POLICY });
    expect(report.result).toBe('fail');
    expect(report.summary).toEqual({ rules: 6, passed: 4, failed: 2, violations: 5 });
    expect(report.rules.map((r) => [r.name, r.status])).toEqual([
      ['credentials-stay-where-they-were-issued', 'fail'],
      ['short-lived-cloud-sessions', 'pass'],
      ['denies-are-enforced', 'fail'],
      ['every-action-has-an-identity', 'pass'],
      ['ci-never-reaches-instance-metadata', 'pass'],
      ['evidence-is-complete', 'pass'],
    ]);
    const misuse = report.rules[0]!;
    const outside = demoRows.filter((r) => r.src_ip === '203.0.113.66');
    expect(outside.map((r) => r.action)).toEqual(['s3:GetObject', 'sts:GetCallerIdentity', 'iam:CreateAccessKey']);
    expect(misuse.violations.map((v) => v.event_id)).toEqual(outside.map((r) => r.event_id));
    const issuance = demoRows.find((r) => r.issued_credential_id === 'ASIAQNZGKIQY3DEPLOYX')!;
    const v = misuse.violations[0]!;
    expect(v).toEqual({
      event_id: outside[0]!.event_id,
      time: '2026-03-10T10:41:09Z',
      source: 'cloudtrail',
      source_ref: outside[0]!.source_ref,
      bundle: demo,
      action: 's3:GetObject',
      target: 's3://prod-secrets/db.env',
      actor_id: 'arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773136935',
      credential_id: 'ASIAQNZGKIQY3DEPLOYX',
      src_ip: '203.0.113.66',
      message: 'aws_session_key ASIAQNZGKIQY3DEPLOYX used from 203.0.113.66; it was issued to a request from 198.51.100.20 (sts:AssumeRoleWithWebIdentity)',
      related: [{ role: 'issuance', event_id: issuance.event_id, source_ref: issuance.source_ref, bundle: demo }],
    });
    expect(v.source_ref).toMatch(/^raw\/cloudtrail\/[0-9a-f]{12}-111122223333_CloudTrail_us-east-1_20260310T1045Z_Tz4wY9cJd6fG2sH5\.json\.gz:1#\/Records\/0$/);
    // Every rule looked at real rows: 16 uses of a credential, 25 rows presenting or issuing one,
    // 3 denies, 20 API calls, 2 connections from namespace ci, 36 rows in the window.
    expect(report.rules.map((r) => r.examined)).toEqual([16, 25, 3, 20, 2, 36]);
  });

  it('passes on the clean run of the same day', async () => {
    const report = await runCheck({ bundles: [clean], rules: DEMO_POLICY });
    expect(report.result).toBe('pass');
    expect(report.summary).toEqual({ rules: 6, passed: 6, failed: 0, violations: 0 });
    // Not vacuous: the clean run still has credentials in use, API calls and a mesh call to look at.
    expect(report.rules.map((r) => r.examined)).toEqual([8, 17, 0, 12, 1, 25]);
  });
});

describe('forbidden_flow', () => {
  it('on the demo mesh log: the build pod reached payments-api, and on :9090', async () => {
    const report = await check(
      demo,
      `rules:
  - {name: port, kind: forbidden_flow, severity: high, scope: {namespace: ci}, to: ["payments-api.payments.svc.cluster.local:9090"]}
  - {name: net, kind: forbidden_flow, severity: high, to: [10.0.3.0/24]}
  - {name: attempts, kind: forbidden_flow, severity: high, include_failed: true, to: [10.0.3.0/24]}
  - {name: who, kind: forbidden_flow, severity: high, scope: {identity: "spiffe://example.org/ns/ci/**"}, to: ["*:9090"]}
  - {name: elsewhere, kind: forbidden_flow, severity: high, scope: {namespace: monitoring}, to: [10.0.3.0/24]}
`,
    );
    const bypass = demoRows.find((x) => x.source === 'envoy' && x.dst_port === 9090)!;
    const healthz = demoRows.find((x) => x.source === 'envoy' && x.action === 'HTTP GET /healthz')!;
    const denied = demoRows.find((x) => x.source === 'envoy' && x.outcome === 'denied')!;
    expect(rule(report, 'port').violations.map((v) => [v.event_id, v.message])).toEqual([
      [bypass.event_id, 'spiffe://example.org/ns/ci/sa/deployer connected to 10.0.3.20:9090 (forbidden: payments-api.payments.svc.cluster.local:9090)'],
    ]);
    expect(rule(report, 'net').violations.map((v) => v.event_id)).toEqual([healthz.event_id, bypass.event_id]);
    expect(rule(report, 'attempts').violations.map((v) => v.event_id)).toEqual([healthz.event_id, denied.event_id, bypass.event_id]);
    expect(rule(report, 'attempts').violations[1]!.message).toBe('spiffe://example.org/ns/ci/sa/deployer connected to 10.0.3.20:8080 (forbidden: 10.0.3.0/24), outcome denied');
    expect(rule(report, 'who').violations.map((v) => v.event_id)).toEqual([bypass.event_id]);
    expect(rule(report, 'elsewhere')).toMatchObject({ status: 'pass', examined: 0 });
  });
});

describe('kernel evidence: the Tetragon public samples (Merlin C2 agent)', () => {
  it('forbidden flow to the C2 address, unattributed node processes, attributed pod file reads, throttle gaps', async () => {
    const dir = join(root, 'tetragon');
    await ingest({ bundle: dir, inputs: [join(SAMPLES, 'tetragon')] });
    const rows = await readRows(dir);
    const report = await check(
      dir,
      `rules:
  - {name: c2, kind: forbidden_flow, severity: critical, to: [34.116.205.187/32]}
  - {name: unattributed, kind: unattributed_action, severity: high, sources: [tetragon], categories: [network, file]}
  - {name: keystore, kind: unattributed_action, severity: high, categories: [file], targets: ["**/elasticsearch.keystore"]}
  - {name: gaps, kind: evidence_completeness, severity: high, required_sources: [tetragon]}
`,
    );
    const connects = rows.filter((r) => r.category === 'network' && r.action === 'connect' && r.dst_ip === '34.116.205.187');
    expect(connects.length).toBe(6);
    expect(rule(report, 'c2').violations.map((v) => v.event_id)).toEqual(connects.map((r) => r.event_id));
    expect(rule(report, 'c2').violations[0]!.message).toBe('/tmp/go-build3518135900/b001/exe/main connected to 34.116.205.187:443 (forbidden: 34.116.205.187/32)');
    expect(rule(report, 'c2').violations.at(-1)!.message).toBe('/usr/bin/ssh connected to 34.116.205.187:22 (forbidden: 34.116.205.187/32)');
    // The agent ran on the node, outside any pod: its connections have no identity behind them; the
    // pods' file accesses do (the keystore reads are by elasticsearch pods).
    const unattributed = rule(report, 'unattributed').violations;
    expect(unattributed.length).toBeGreaterThanOrEqual(connects.length);
    for (const v of unattributed) expect(rows.find((r) => r.event_id === v.event_id)).toMatchObject({ k8s_pod: null, container_id: null });
    expect(unattributed.some((v) => v.target?.includes('keystore'))).toBe(false);
    expect(rule(report, 'keystore')).toMatchObject({ status: 'pass', examined: 2 });
    expect(rule(report, 'gaps').violations.map((v) => v.message)).toEqual([
      'tetragon lost an unknown number of event(s) at 2024-07-26T13:07:43.178407128Z on ubuntu-22: Tetragon throttled this cgroup: its events are dropped until the throttle stops',
      'tetragon lost an unknown number of event(s) at 2024-07-26T13:07:55.501718877Z on ubuntu-22: Tetragon throttled this cgroup: its events are dropped until the throttle stops',
    ]);
  });
});

describe('credential_misuse', () => {
  it('without allowed networks, a Kubernetes token used from the pod (10.0.1.57) differs from the kubelet that requested it', async () => {
    const r = rule(await check(demo, 'rules:\n  - {name: r, kind: credential_misuse, severity: high, credential_types: [k8s_token]}\n'));
    expect(r.examined).toBe(2);
    expect(r.violations.map((v) => [v.action, v.message])).toEqual([
      ['get secrets', 'k8s_token JTI=0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d used from 10.0.1.57; it was issued to a request from 10.0.1.23 (create serviceaccounts/token)'],
      ['list secrets', 'k8s_token JTI=0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d used from 10.0.1.57; it was issued to a request from 10.0.1.23 (create serviceaccounts/token)'],
    ]);
  });

  it('with same_ip_as_issuance off, allowed_cidrs alone decides; scope narrows by namespace, identity, workload and time', async () => {
    const base = 'kind: credential_misuse, severity: high, credential_types: [aws_session_key], same_ip_as_issuance: false, allowed_cidrs: [10.0.0.0/8]';
    const report = await check(
      demo,
      `rules:
  - {name: all, ${base}}
  - {name: ns, ${base}, scope: {namespace: monitoring}}
  - {name: who, ${base}, scope: {identity: "arn:aws:sts::*:assumed-role/ci-deployer/botocore-session-1773137010"}}
  - {name: pod, ${base}, scope: {workload: ci/build-7f9c}}
  - {name: late, ${base}, scope: {since: "2026-03-10T10:30:00Z"}}
  - {name: home, kind: credential_misuse, severity: high, credential_types: [aws_session_key], same_ip_as_issuance: false, allowed_cidrs: [10.0.0.0/8, 198.51.100.0/24]}
`,
    );
    const keys = (name: string) => rule(report, name).violations.map((v) => `${v.credential_id} ${v.src_ip}`);
    expect(keys('all')).toEqual([
      'ASIAQNZGKIQY5ALICEKEY 192.0.2.10',
      'ASIAQNZGKIQY3DEPLOYX 198.51.100.20',
      'ASIAQNZGKIQY3DEPLOYX 198.51.100.20',
      'ASIAQNZGKIQY3DEPLOYX 198.51.100.20',
      'ASIAQNZGKIQY7REPORTZ 198.51.100.20',
      'ASIAQNZGKIQY7REPORTZ 198.51.100.20',
      'ASIAQNZGKIQY3DEPLOYX 203.0.113.66',
      'ASIAQNZGKIQY3DEPLOYX 203.0.113.66',
      'ASIAQNZGKIQY3DEPLOYX 203.0.113.66',
    ]);
    expect(rule(report, 'all').violations[1]!.message).toBe('aws_session_key ASIAQNZGKIQY3DEPLOYX used from 198.51.100.20, outside the allowed networks');
    expect(keys('ns')).toEqual(['ASIAQNZGKIQY7REPORTZ 198.51.100.20', 'ASIAQNZGKIQY7REPORTZ 198.51.100.20']);
    expect(keys('who')).toEqual(keys('ns'));
    expect(keys('pod')).toEqual(keys('all').filter((k) => k.startsWith('ASIAQNZGKIQY3DEPLOYX')));
    expect(keys('late')).toEqual(['ASIAQNZGKIQY3DEPLOYX 203.0.113.66', 'ASIAQNZGKIQY3DEPLOYX 203.0.113.66', 'ASIAQNZGKIQY3DEPLOYX 203.0.113.66']);
    // alice's SAML session key, used from her office (192.0.2.10), is outside these networks too.
    expect(keys('home')).toEqual(['ASIAQNZGKIQY5ALICEKEY 192.0.2.10', ...keys('late')]);
  });

  it('OTRF EC2 credential theft: the instance role key used from 1.2.3.4, outside the VPC', async () => {
    const r = rule(await check(samples, 'rules:\n  - {name: r, kind: credential_misuse, severity: critical, credential_types: [aws_session_key], allowed_cidrs: [10.0.0.0/8, 172.16.0.0/12]}\n'));
    const stolen = r.violations.filter((v) => v.credential_id === 'ASIA5FLZVX4OPVKKVBMX');
    expect(stolen).toHaveLength(11);
    for (const v of stolen) expect(v.message).toBe('aws_session_key ASIA5FLZVX4OPVKKVBMX used from 1.2.3.4, outside the allowed networks');
  });
});

describe('credential_lifetime', () => {
  it('flags issued tokens that live longer than max_session, with their lifetime', async () => {
    const r = rule(await check(demo, 'rules:\n  - {name: r, kind: credential_lifetime, severity: medium, max_session: 1h, credential_types: [k8s_token]}\n'));
    expect(r.violations.map((v) => v.message)).toEqual([
      'issued k8s_token JTI=0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d valid for 1h7s (until 2026-03-10T11:00:12.115838Z), longer than 1h',
      'issued k8s_token JTI=7c1f0b9e-2d44-4b8a-a1c3-5e6f7a8b9c0d valid for 1d (until 2026-03-11T10:00:05.123757Z), longer than 1h',
      'issued k8s_token JTI=3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b valid for 1d (until 2026-03-11T10:03:00.147514Z), longer than 1h',
    ]);
    for (const v of r.violations) expect(byId(v.event_id).action).toBe('create serviceaccounts/token');
    // The STS sessions are exactly one hour: within the limit.
    const sts = rule(await check(demo, 'rules:\n  - {name: r, kind: credential_lifetime, severity: medium, max_session: 1h, credential_types: [aws_session_key]}\n'));
    expect(sts).toMatchObject({ status: 'pass' });
    const strict = rule(await check(demo, 'rules:\n  - {name: r, kind: credential_lifetime, severity: medium, max_session: 59m, credential_types: [aws_session_key]}\n'));
    expect(strict.violations.map((v) => v.message)).toEqual([
      'issued aws_session_key ASIAQNZGKIQY5ALICEKEY valid for 1h (until 2026-03-09T16:59:12Z), longer than 59m',
      'issued aws_session_key ASIAQNZGKIQY3DEPLOYX valid for 1h (until 2026-03-10T11:02:15Z), longer than 59m',
      'issued aws_session_key ASIAQNZGKIQY7REPORTZ valid for 1h (until 2026-03-10T11:03:30Z), longer than 59m',
    ]);
  });

  it('long_lived: forbid flags every use of an AKIA access key in the public samples, and nothing else', async () => {
    const r = rule(await check(samples, 'rules:\n  - {name: r, kind: credential_lifetime, severity: high, long_lived: forbid}\n'));
    const rows = await readRows(samples);
    const akia = rows.filter((x) => typeof x.credential_id === 'string' && /^AKIA/.test(x.credential_id));
    expect(akia.length).toBeGreaterThan(10);
    expect(r.violations.map((v) => v.event_id)).toEqual(akia.map((x) => x.event_id));
    const assume = r.violations.find((v) => v.action === 'sts:AssumeRole' && v.credential_id === 'AKIAQRSTUVWXYZEXAMPLE')!;
    expect(assume.message).toBe('long-lived aws_access_key AKIAQRSTUVWXYZEXAMPLE used');
    expect(assume.source_ref).toMatch(/awsdocs_iam_cloudtrail_examples_valid\.jsonl:2$/);
  });

  it('long_lived: forbid flags the GCP service-account key and Okta API token uses in the public samples', async () => {
    const dir = join(root, 'idp');
    await ingest({ bundle: dir, inputs: [join(SAMPLES, 'gcp_audit'), join(SAMPLES, 'okta')] });
    const rows = await readRows(dir);
    const r = rule(await check(dir, 'rules:\n  - {name: r, kind: credential_lifetime, severity: high, long_lived: forbid}\n'));
    const counts: Record<string, number> = {};
    for (const v of r.violations) {
      const type = rows.find((x) => x.event_id === v.event_id)!.credential_type as string;
      counts[type] = (counts[type] ?? 0) + 1;
    }
    expect(counts).toEqual({ gcp_sa_key: 15, okta_api_token: 4 });
    expect(r.violations.filter((v) => v.message.startsWith('long-lived okta_api_token '))).toHaveLength(4);
    // Session-scoped credentials of the same samples are not long-lived.
    expect(rows.some((x) => x.credential_type === 'okta_session')).toBe(true);
  });
});

describe('unattributed_action', () => {
  it('an anonymous Kubernetes request has no identity behind it; in the demo, only a login request before it authenticated', async () => {
    const r = rule(await check(samples, 'rules:\n  - {name: r, kind: unattributed_action, severity: high, sources: [k8s_audit]}\n'));
    expect(r.examined).toBe(1);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toMatchObject({ action: 'create namespaces', actor_id: 'system:anonymous', message: 'k8s_audit api create namespaces namespaces/foo by system:anonymous has no identity or workload behind it' });
    expect(r.violations[0]!.source_ref).toMatch(/anonymous_creates_namespace_foo\.json:1$/);
    expect(rule(await check(demo, 'rules:\n  - {name: r, kind: unattributed_action, severity: high, categories: [api, credential]}\n'))).toMatchObject({ status: 'pass', examined: 27 });
    // Vault logs a login request before it knows who logs in: with auth rows in the rule, that request is the one finding.
    const auth = rule(await check(demo, 'rules:\n  - {name: r, kind: unattributed_action, severity: high, categories: [auth]}\n'));
    expect(auth.violations.map((v) => [v.source, v.action, v.message])).toEqual([
      ['vault', 'vault:update auth/kubernetes/login', 'vault auth vault:update auth/kubernetes/login auth/kubernetes/login has no identity or workload behind it'],
    ]);
  });

  it('targets narrows to paths or objects by glob', async () => {
    const r = rule(await check(samples, 'rules:\n  - {name: r, kind: unattributed_action, severity: high, targets: ["**/nothing-here"]}\n'));
    expect(r).toMatchObject({ status: 'pass', examined: 0 });
  });
});

describe('evidence_completeness', () => {
  it('names each required source with no rows in the window', async () => {
    const report = await check(
      demo,
      `rules:
  - {name: all, kind: evidence_completeness, severity: high, required_sources: [cloudtrail, k8s_audit]}
  - {name: kernel, kind: evidence_completeness, severity: high, required_sources: [kernel, cloudtrail]}
  - {name: window, kind: evidence_completeness, severity: high, required_sources: [k8s_audit, cloudtrail], scope: {since: "2026-03-10T10:30:00Z", until: "2026-03-10T11:00:00Z"}}
`,
    );
    expect(rule(report, 'all')).toMatchObject({ status: 'pass', examined: 36 });
    expect(rule(report, 'kernel').violations.map((v) => v.message)).toEqual(['required source kernel has no rows in the evidence']);
    expect(rule(report, 'kernel').violations[0]!.event_id).toBeNull();
    expect(rule(report, 'window').examined).toBe(3);
    expect(rule(report, 'window').violations.map((v) => v.message)).toEqual(['required source k8s_audit has no rows between 2026-03-10T10:30:00Z and 2026-03-10T11:00:00Z']);
  });

  it('max_quarantined counts the records the bundle quarantined', async () => {
    const r = rule(await check(samples, 'rules:\n  - {name: r, kind: evidence_completeness, severity: high, max_quarantined: 0}\n'));
    expect(r.violations.map((v) => v.message)).toEqual(['24 record(s) quarantined as unparsable, more than the 0 allowed (see quarantine/ in the bundle)']);
    expect(rule(await check(samples, 'rules:\n  - {name: r, kind: evidence_completeness, severity: high, max_quarantined: 24}\n')).status).toBe('pass');
  });
});

describe('unenforced_deny', () => {
  it('the demo: OPA denied GET /admin/export (and the sidecar answered 403), nine seconds later the same call on :9090 got 200', async () => {
    const r = rule(await check(demo, 'rules:\n  - {name: r, kind: unenforced_deny, severity: critical}\n'));
    const opa = demoRows.find((x) => x.source === 'opa' && x.outcome === 'denied')!;
    const sidecar = demoRows.find((x) => x.source === 'envoy' && x.outcome === 'denied')!;
    const bypass = demoRows.find((x) => x.source === 'envoy' && x.dst_port === 9090)!;
    expect(bypass).toMatchObject({ outcome: 'success', action: 'HTTP GET /admin/export', time: '2026-03-10T10:05:09.207Z' });
    // Three denies were decided: these two, and the Kubernetes forbid of `list secrets` (enforced: nothing got around it).
    expect(r.examined).toBe(3);
    expect(r.violations.map((v) => [v.event_id, v.message, v.related])).toEqual([
      [
        sidecar.event_id,
        'envoy denied HTTP GET /admin/export on payments-api.payments.svc.cluster.local:8080/admin/export, yet the same action succeeded once (envoy HTTP GET /admin/export payments-api.payments.svc.cluster.local:9090/admin/export at 2026-03-10T10:05:09.207Z)',
        [{ role: 'succeeded-after-deny', event_id: bypass.event_id, source_ref: bypass.source_ref, bundle: demo }],
      ],
      [
        opa.event_id,
        'opa denied opa:data.envoy.authz.allow on GET /admin/export, yet the same action succeeded once (envoy HTTP GET /admin/export payments-api.payments.svc.cluster.local:9090/admin/export at 2026-03-10T10:05:09.207Z)',
        [{ role: 'succeeded-after-deny', event_id: bypass.event_id, source_ref: bypass.source_ref, bundle: demo }],
      ],
    ]);
    // The success side carries the same link back (rule 6 links both ways): it is not reported as a deny.
    expect(bypass.links.filter((l) => l.rule === 'enforcement-gap').map((l) => l.event_id).sort()).toEqual([opa.event_id, sidecar.event_id].sort());
    const forbid = demoRows.find((x) => x.action === 'list secrets')!;
    expect(forbid.links.map((l) => l.rule)).toContain('enforced');
    expect(rule(await check(clean, 'rules:\n  - {name: r, kind: unenforced_deny, severity: critical}\n'))).toMatchObject({ status: 'pass', examined: 0 });
  });
});

describe('determinism', () => {
  it('a rule gives the same result alone as among the others of a policy (shared passes change nothing)', async () => {
    const all = await runCheck({ bundles: [demo], rules: DEMO_POLICY });
    const { parse, stringify } = await import('yaml');
    const doc = parse(readFileSync(DEMO_POLICY, 'utf8')) as { rules: unknown[] };
    for (const [i, r] of doc.rules.entries()) {
      const alone = await check(demo, stringify({ rules: [r] }));
      expect(alone.rules[0], all.rules[i]!.name).toEqual(all.rules[i]);
    }
  });

  it('the same evidence and policy give the same report, also from a second, independent ingest', async () => {
    const a = await runCheck({ bundles: [demo], rules: DEMO_POLICY });
    const b = await runCheck({ bundles: [demo], rules: DEMO_POLICY });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    const again = await demoBundle(join(root, 'again'));
    const c = await runCheck({ bundles: [again], rules: DEMO_POLICY });
    expect(JSON.stringify(c).replaceAll(again, demo)).toBe(JSON.stringify(a));
  });
});
