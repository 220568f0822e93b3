import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.js';
import { COLUMNS } from '../../src/model/columns.js';
import { toOcsf } from '../../src/reconstruct/export-ocsf.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { readRows } from '../helpers/bundle.js';
import { cli } from '../helpers/cli.js';
import { demoBundle } from '../helpers/demo.js';
import { SAMPLES } from '../helpers/tmp.js';
import { validateOcsf } from './ocsf-schema.js';

/** `reconstruct --format ocsf`, validated against the published OCSF 1.5.0 definitions (test/fixtures/ocsf). */

let root: string;
let demo: string;
let demoRows: TimelineRow[];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-ocsf-'));
  demo = await demoBundle(join(root, 'demo'));
  demoRows = await readRows(demo);
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function expectValid(events: Record<string, unknown>[]): void {
  const problems = events.flatMap((e, i) => validateOcsf(e).map((p) => `#${i} ${String((e.metadata as { uid?: string })?.uid)} ${p}`));
  expect(problems).toEqual([]);
}

describe('OCSF export', () => {
  it('every demo event conforms to its class; the classes follow the row categories', () => {
    const out = cli(['reconstruct', demo, '--format', 'ocsf']);
    expect(out.status).toBe(0);
    const events = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toHaveLength(36);
    expectValid(events); // Vault, SPIRE and the mesh come from the demo
    const byCategory = new Map<string, Set<number>>();
    events.forEach((e, i) => {
      const cat = demoRows[i]!.category;
      byCategory.set(cat, (byCategory.get(cat) ?? new Set()).add(e.class_uid as number));
    });
    expect(Object.fromEntries([...byCategory].map(([k, v]) => [k, [...v]]))).toEqual({ auth: [3002], credential: [3002], api: [6003], network: [4001], enforcement: [6003], policy: [6003] });
    // The mesh call that got around OPA: Network Activity, the caller's workload identity in unmapped.
    const bypass = events[demoRows.findIndex((r) => r.source === 'envoy' && r.dst_port === 9090)]!;
    expect(bypass).toMatchObject({ class_uid: 4001, activity_id: 99, src_endpoint: { ip: '10.0.1.57', port: 41262 }, dst_endpoint: { ip: '10.0.3.20', port: 9090, hostname: 'payments-api.payments.svc.cluster.local' } });
    expect((bypass.unmapped as { links: { rule: string }[] }).links.map((l) => l.rule)).toContain('enforcement-gap');
  });

  it('the session key used from outside: API Activity Read, the credential in actor.session, links and chain in unmapped', () => {
    const row = demoRows.find((r) => r.src_ip === '203.0.113.66' && r.action === 's3:GetObject')!;
    const e = toOcsf(row);
    expect(validateOcsf(e)).toEqual([]);
    const session = 'arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773136935';
    expect(e).toMatchObject({
      class_uid: 6003,
      class_name: 'API Activity',
      category_uid: 6,
      activity_id: 2,
      activity_name: 'Read',
      type_uid: 600302,
      type_name: 'API Activity: Read',
      time: Date.parse('2026-03-10T10:41:09Z'),
      status_id: 1,
      metadata: { version: '1.5.0', product: { name: 'custody' }, uid: row.event_id, event_code: 's3:GetObject', log_name: 'cloudtrail' },
      actor: {
        user: { uid: session, name: 'ci-deployer/botocore-session-1773136935', type_id: 99, type: 'role_session' },
        session: { credential_uid: 'ASIAQNZGKIQY3DEPLOYX', issuer: 'arn:aws:iam::111122223333:role/ci-deployer', uid_alt: session },
      },
      api: { operation: 's3:GetObject', service: { name: 's3' }, request: { uid: row.source_event_id } },
      src_endpoint: { ip: '203.0.113.66' },
      resources: [{ uid: 's3://prod-secrets/db.env' }],
    });
    expect((e.http_request as { user_agent: string }).user_agent).toContain('\u001b]0;pwned');
    const unmapped = e.unmapped as Record<string, unknown>;
    expect(unmapped.identity_chain).toEqual(row.identity_chain);
    expect(unmapped.links).toEqual(row.links);
    expect(unmapped).toMatchObject({ source: 'cloudtrail', source_ref: row.source_ref, bundle: demo, session_issuer: 'arn:aws:iam::111122223333:role/ci-deployer' });
  });

  it('an issuance is Authentication: the receiving principal as user, the issued key, its creation and expiry in session', () => {
    const row = demoRows.find((r) => r.issued_credential_id === 'ASIAQNZGKIQY3DEPLOYX')!;
    const e = toOcsf(row);
    expect(validateOcsf(e)).toEqual([]);
    expect(e).toMatchObject({
      class_uid: 3002,
      category_uid: 3,
      activity_id: 99,
      activity_name: 'Credential Issuance',
      type_uid: 300299,
      user: { uid: 'arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773136935', type_id: 99, type: 'role_session' },
      session: {
        credential_uid: 'ASIAQNZGKIQY3DEPLOYX',
        created_time: Date.parse('2026-03-10T10:02:15Z'),
        expiration_time: Date.parse('2026-03-10T11:02:15Z'),
        issuer: 'arn:aws:iam::111122223333:role/ci-deployer',
      },
      actor: { user: { uid: 'system:serviceaccount:ci:deployer', type_id: 99, type: 'service_account' } },
      service: { name: 'sts' },
      src_endpoint: { ip: '198.51.100.20' },
    });
    const token = toOcsf(demoRows.find((r) => r.issued_credential_id === 'JTI=7c1f0b9e-2d44-4b8a-a1c3-5e6f7a8b9c0d')!);
    expect(token).toMatchObject({ class_uid: 3002, user: { uid: 'system:serviceaccount:ci:deployer' }, actor: { user: { uid: 'system:node:ip-10-0-1-23.ec2.internal', type_id: 3 } }, service: { name: 'kubernetes' } });
  });

  it('public samples of every ingested source conform', async () => {
    const bundle = join(root, 'samples');
    await ingest({
      bundle,
      inputs: [
        join(SAMPLES, 'aws_cloudtrail/awsdocs_iam_cloudtrail_examples_valid.jsonl'),
        join(SAMPLES, 'aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json'),
        join(SAMPLES, 'aws_cloudtrail/plaso_aws_cloudtrail_lookup_events.jsonl'),
        join(SAMPLES, 'k8s_audit/audit2rbac_demo_v1.log'),
        join(SAMPLES, 'k8s_audit/falco_trace_files_k8s_audit'),
        join(SAMPLES, 'okta'),
        join(SAMPLES, 'gcp_audit'),
        join(SAMPLES, 'entra_id'),
        join(SAMPLES, 'azure_activity'),
        join(SAMPLES, 'opa_decision'),
        join(SAMPLES, 'tetragon'),
        join(SAMPLES, 'falco'),
        join(SAMPLES, 'service_mesh'),
        join(SAMPLES, 'spire'),
      ],
    });
    const rows = await readRows(bundle);
    const events = rows.map(toOcsf);
    expectValid(events);
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['cloudtrail', 'k8s_audit', 'okta', 'gcp_audit', 'entra_id', 'azure_activity', 'opa', 'tetragon', 'falco', 'envoy', 'spire']));
    // Real kernel-side rows (Tetragon, Falco) exercise the process, file and network classes, and gap rows Base Event.
    expect(new Set(events.map((e) => e.class_uid))).toEqual(new Set([0, 1001, 1007, 3002, 4001, 6003]));
    const exec = events[rows.findIndex((r) => r.source === 'tetragon' && r.action === 'exec' && typeof r.k8s_pod === 'string')]!;
    expect(exec).toMatchObject({ class_uid: 1007, activity_id: 1, activity_name: 'Launch', process: { pid: expect.any(Number), path: expect.stringMatching(/^\//) } });
    const connect = events[rows.findIndex((r) => r.source === 'tetragon' && r.action === 'connect')]!;
    expect(connect).toMatchObject({ class_uid: 4001, activity_id: 1, dst_endpoint: { ip: '34.116.205.187', port: 443 } });
    const login = events[rows.findIndex((r) => r.action === 'signin:ConsoleLogin')]!;
    expect(login).toMatchObject({ class_uid: 3002, activity_id: 1, activity_name: 'Logon', type_uid: 300201 });
    const denied = rows.findIndex((r) => r.outcome === 'denied' && r.category === 'api');
    expect(events[denied]).toMatchObject({ status_id: 2, status: 'Failure' });
  });

  // Kernel rows as the recorder writes them (category, action, process columns): until `custody
  // record` lands on main there is no recorded bundle to export, so these rows are built here
  // with the model's columns, and the mapping is validated the same way.
  const kernelRow = (over: Partial<TimelineRow>): TimelineRow => {
    const base: Record<string, unknown> = Object.fromEntries(COLUMNS.map((c) => [c.name, null]));
    return {
      ...base,
      event_id: 'k1',
      time: '2026-03-10T10:00:01.123456789Z',
      source: 'kernel',
      source_ref: 'kernel/host-a/seg-000001.parquet:7',
      host: 'host-a',
      category: 'process',
      action: 'exec',
      outcome: 'success',
      attrs: null,
      links: [],
      identity_chain: [{ id: 'ci/build-7f9c', type: 'workload', via: 'k8s-pod-binding' }],
      bundle: 'evidence',
      process_key: 'b00t:4242:1773136801',
      pid: 4242,
      ppid: 4200,
      parent_key: 'b00t:4200:1773136700',
      uid: 1000,
      exe: '/usr/bin/curl',
      argv: ['curl', '-s', 'http://169.254.169.254/latest/meta-data/'],
      comm: 'curl',
      k8s_namespace: 'ci',
      k8s_pod: 'build-7f9c',
      container_id: 'c0ffee',
      cgroup_id: 12345,
      ...over,
    } as TimelineRow;
  };

  it('process, file, network and gap rows map to 1007, 1001, 4001 and Base Event, and conform', () => {
    const exec = toOcsf(kernelRow({}));
    const open = toOcsf(kernelRow({ category: 'file', action: 'open', target: '/var/run/secrets/kubernetes.io/serviceaccount/token' }));
    const connect = toOcsf(kernelRow({ category: 'network', action: 'connect', dst_ip: '169.254.169.254', dst_port: 80, src_ip: '10.0.1.57', src_port: 43122, protocol: 'tcp' }));
    const refused = toOcsf(kernelRow({ category: 'network', action: 'connect', outcome: 'failure', dst_ip: '10.0.0.9', dst_port: 5432 }));
    const gap = toOcsf(kernelRow({ category: 'gap', action: 'lost events', attrs: { lost: 17 }, exe: null, argv: null, comm: null, pid: null }));
    expectValid([exec, open, connect, refused, gap]);
    expect(exec).toMatchObject({
      class_uid: 1007,
      activity_id: 1,
      activity_name: 'Launch',
      type_uid: 100701,
      time: Date.parse('2026-03-10T10:00:01.123Z'),
      device: { hostname: 'host-a', type_id: 0 },
      process: { pid: 4242, uid: 'b00t:4242:1773136801', name: 'curl', path: '/usr/bin/curl', cmd_line: 'curl -s http://169.254.169.254/latest/meta-data/', parent_process: { pid: 4200, uid: 'b00t:4200:1773136700' }, user: { uid: '1000' } },
    });
    expect(exec.unmapped).toMatchObject({ k8s_pod: 'build-7f9c', container_id: 'c0ffee', cgroup_id: 12345, identity_chain: [{ id: 'ci/build-7f9c' }] });
    expect(open).toMatchObject({ class_uid: 1001, activity_id: 14, activity_name: 'Open', file: { name: 'token', path: '/var/run/secrets/kubernetes.io/serviceaccount/token' }, actor: { process: { pid: 4242 } } });
    expect(connect).toMatchObject({ class_uid: 4001, activity_id: 1, activity_name: 'Open', src_endpoint: { ip: '10.0.1.57', port: 43122 }, dst_endpoint: { ip: '169.254.169.254', port: 80 }, metadata: { profiles: ['host'] } });
    expect(refused).toMatchObject({ class_uid: 4001, activity_id: 4, activity_name: 'Fail', status_id: 2 });
    expect(gap).toMatchObject({ class_uid: 0, category_uid: 0, activity_id: 99, type_uid: 99, unmapped: { attrs: { lost: 17 } } });
  });

  it('the validator itself rejects what OCSF does not define (so the checks above can fail)', () => {
    const good = toOcsf(demoRows.find((r) => r.category === 'api')!);
    expect(validateOcsf({ ...good, credential: 'x' })).toEqual(['event.credential: not an attribute here']);
    expect(validateOcsf({ ...good, time: '2026' })).toEqual(['event.time: must be an integer, is "2026"']);
    expect(validateOcsf({ ...good, type_uid: 600399 })).toEqual(['event.type_uid: 600399 is not class_uid * 100 + activity_id']);
    const { api: _api, ...noApi } = good;
    expect(validateOcsf(noApi)).toEqual(['event.api: required']);
    expect(validateOcsf({ ...good, actor: { user: { uid: 'a', groups: [{ name: 'g' }] } } })).toEqual(['event.actor.user.groups[0]: object group is outside the vendored OCSF subset']);
    expect(validateOcsf({ ...good, actor: { user: { type_id: 4 } } })).toEqual(['event.actor.user.type_id: 4 is not one of 0, 1, 2, 3, 99']);
    const { metadata, ...rest } = toOcsf(kernelRow({ category: 'network', action: 'connect', dst_ip: '10.0.0.1' }));
    expect(validateOcsf({ ...rest, metadata: { ...(metadata as object), profiles: [] } })).toEqual(['event.actor: not an attribute here', 'event.device: not an attribute here']);
  });
});
