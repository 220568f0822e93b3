import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalKeyName } from '../../src/ingest/sources/gcp-audit.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { isoOfNanos, jsonLines, lineCount, otelExpected, quarantined } from '../helpers/cloud-samples.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const GCP = join(SAMPLES, 'gcp_audit');
const PANTHER = 'panther_GCP_AuditLog_rule_tests.jsonl';
const PLASO = 'plaso_gcp_logging.jsonl';

function pantherLine(n: number): Record<string, unknown> {
  return jsonLines(join(GCP, PANTHER))[n - 1] as Record<string, unknown>;
}

describe('GCP Cloud Audit Logs parser on public samples', () => {
  it('accounts for every record of every sample file, and leaves the oracles and indexes alone', async () => {
    const files: [string, number][] = [
      // pretty-printed single LogEntry objects: one record each
      ['otel_auditlog_activity.json', [JSON.parse(readFileSync(join(GCP, 'otel_auditlog_activity.json'), 'utf8'))].length],
      ['otel_auditlog_data_access.json', [JSON.parse(readFileSync(join(GCP, 'otel_auditlog_data_access.json'), 'utf8'))].length],
      [PANTHER, lineCount(join(GCP, PANTHER))],
      [PLASO, lineCount(join(GCP, PLASO))],
    ];
    const others = ['otel_auditlog_activity_expected.yaml', 'otel_auditlog_data_access_expected.yaml', 'panther_GCP_AuditLog_rule_tests.index.jsonl', 'plaso_gcp_logging.expected_test.py'];
    const { summary } = await ingestAndRead(tmp(), [...files.map(([f]) => f), ...others].map((f) => join(GCP, f)));
    for (const [file, records] of files) {
      const f = summary.files.find((x) => x.input.endsWith(`/${file}`))!;
      expect(f.source, file).toBe('gcp_audit');
      expect(f.accepted + f.quarantined, file).toBe(records);
    }
    expect(files.map(([, n]) => n)).toEqual([1, 1, 159, 11]);
    for (const file of others) expect(summary.files.find((x) => x.input.endsWith(`/${file}`))!.source, file).not.toBe('gcp_audit');
    // Panther's rule tests hold deliberately partial entries ({"methodName": ...} alone, lower-cased keys, no timestamp).
    const panther = summary.files.find((x) => x.input.endsWith(PANTHER))!;
    expect(panther.quarantined).toBe(26);
    expect(summary.files.find((x) => x.input.endsWith(PLASO))!.quarantined).toBe(0);
    expect(summary.reasons.map((r) => r.reason)).toEqual(
      expect.arrayContaining(['no timestamp (timestamp or receiveTimestamp)', 'not a Cloud Logging LogEntry: no protoPayload, jsonPayload or textPayload', 'audit log entry without protoPayload.methodName']),
    );
  });

  it('agrees with the OpenTelemetry Collector on its two entries (expected YAML as oracle)', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(GCP, 'otel_auditlog_activity.json'), join(GCP, 'otel_auditlog_data_access.json')]);
    for (const name of ['activity', 'data_access']) {
      const [oracle] = otelExpected(join(GCP, `otel_auditlog_${name}_expected.yaml`));
      const a = oracle!.attributes;
      const row = rowAt(rows, `otel_auditlog_${name}.json`, 1);
      expect(row, name).toMatchObject({
        source: 'gcp_audit',
        time: isoOfNanos(oracle!.timeUnixNano),
        source_event_id: a['log.record.uid'],
        action: `${a['gcp.audit.service.name']}:${a['gcp.audit.method.name']}`,
        target: a['gcp.audit.resource.name'],
        actor_id: a['user.email'],
        src_ip: a['client.address'],
        user_agent: a['user_agent.original'],
        host: a['gcp.project'],
        outcome: 'success',
        category: 'api',
      });
    }
    const gke = rowAt(rows, 'otel_auditlog_activity.json', 1);
    expect(gke).toMatchObject({ time: '2025-08-15T12:54:34.966334Z', actor_type: 'agent', credential_id: null });
    expect(gke.attrs).toMatchObject({ log: 'activity', resource_type: 'k8s_cluster', cluster: 'ensemble-k8s-dkohl', k8s_decision: 'allow', permissions: ['io.k8s.coordination.v1.leases.update'] });
    const sa = rowAt(rows, 'otel_auditlog_data_access.json', 1);
    expect(sa).toMatchObject({ actor_type: 'service_account', actor_id: 'service-8560181848@container-engine-robot.iam.gserviceaccount.com' });
    expect(sa.attrs).toMatchObject({ log: 'data_access', principal_subject: 'serviceAccount:service-8560181848@container-engine-robot.iam.gserviceaccount.com' });
  });

  it('agrees with plaso on its asserted entries, including the delegation chain and a denied call', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(GCP, PLASO)]);
    expect(rows).toHaveLength(11);
    // plaso_gcp_logging.expected_test.py, event_data 0
    expect(rowAt(rows, PLASO, 1)).toMatchObject({
      time: '2021-10-19T02:57:47.339377Z',
      action: 'compute.googleapis.com:beta.compute.networks.insert',
      target: 'projects/fake-project/global/networks/test',
      src_ip: '1.1.1.1',
      user_agent: 'UserAgent',
      actor_id: 'fakeemailxyz@gmail.com',
      actor_type: 'human',
      source_event_id: 'iv9wx9d16l2',
      host: 'fake-project',
    });
    // event_data 9: a call made through two delegated service accounts
    const delegated = rowAt(rows, PLASO, 10);
    expect(delegated).toMatchObject({
      time: '2024-04-26T20:10:10.024055Z',
      action: 'compute.googleapis.com:beta.compute.instances.insert',
      actor_id: 'fake-account@fake-project.com',
      target: 'projects/1234567890/zones/us-central1-b/instances/fake-compute-instance',
      src_ip: '1.1.1.1',
      user_agent: 'fake-user-agent-string command/gcloud.compute.instances.insert invocation-id/a1b2c3d4e5f6 environment/GCE',
      session_issuer: 'service-account-two@fake-project.com',
    });
    expect(delegated.attrs).toMatchObject({
      principal_subject: 'user:fake-account@fake-project.com',
      delegation_chain: ['service-account-one@fake-project.com', 'service-account-two@fake-project.com'],
      permissions: [
        'compute.instances.create',
        'compute.disks.create',
        'compute.subnetworks.use',
        'compute.subnetworks.useExternalIp',
        'compute.instances.setMetadata',
        'compute.instances.setLabels',
        'compute.instances.setServiceAccount',
      ],
    });
    // event_data 10: CreateServiceAccount refused with PERMISSION_DENIED (code 7)
    const denied = rowAt(rows, PLASO, 11);
    // plaso keeps microseconds (2024-12-03T17:58:44.882119); the entry has nanoseconds, custody keeps them
    expect(denied.time).toBe('2024-12-03T17:58:44.882119699Z');
    expect(denied).toMatchObject({
      action: 'iam.googleapis.com:google.iam.admin.v1.CreateServiceAccount',
      outcome: 'denied',
      reason: 'PERMISSION_DENIED: Permission "iam.serviceAccounts.create" denied on resource (or it may not exist).',
      actor_id: 'dvwa-service-account@ketchup.iam.gserviceaccount.com',
      actor_type: 'service_account',
      session_issuer: 'service-1234567890@compute-system.iam.gserviceaccount.com',
      src_ip: '34.72.217.225',
      user_agent: '(gzip),gzip(gfe)',
      target: 'projects/ketchup',
    });
    expect(denied.attrs).toMatchObject({ status_code: 7, status_reasons: ['IAM_PERMISSION_DENIED'], request_account_id: 'theattacker', delegation_chain: ['service-1234567890@compute-system.iam.gserviceaccount.com'] });
    // Entries that are not audit records (jsonPayload, textPayload) are kept as logging rows.
    expect(rowAt(rows, PLASO, 8)).toMatchObject({ action: 'logging:testlog', outcome: 'unknown', source_event_id: '1k28f3cfv7aknt', host: 'fake-project' });
    expect(rowAt(rows, PLASO, 9).attrs).toMatchObject({ payload: 'text', message: 'This is a text payload' });
  });

  it('reads credentials: service-account keys presented, keys and tokens issued', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(GCP, PANTHER)]);
    const created = rowAt(rows, PANTHER, 109);
    expect(created).toMatchObject({
      time: '2023-03-09T15:50:36.148Z',
      category: 'credential',
      action: 'iam.googleapis.com:google.iam.admin.v1.CreateServiceAccountKey',
      outcome: 'success',
      actor_id: 'staging@company.io',
      actor_type: 'human',
      issued_credential_id: '//iam.googleapis.com/projects/gcp-project1/serviceAccounts/created-service-account@gcp-project1.iam.gserviceaccount.com/keys/69049163b190437ab9279b28e8afa24bb5c5b076',
      issued_credential_type: 'gcp_sa_key',
      issued_to: 'created-service-account@gcp-project1.iam.gserviceaccount.com',
      // valid_before_time is year 9999 (a key that never expires): beyond the model's clock, so no expiry
      issued_credential_expires: null,
      source_event_id: '1iyadj0d5bmj',
    });
    const signJwt = rowAt(rows, PANTHER, 70);
    expect(signJwt).toMatchObject({
      category: 'credential',
      action: 'iamcredentials.googleapis.com:SignJwt',
      outcome: 'success',
      actor_id: 'some-project@company.iam.gserviceaccount.com',
      credential_id: '//iam.googleapis.com/projects/some-project/serviceAccounts/some-project@company.iam.gserviceaccount.com/keys/a378358365ff3d22e9c1a72fecf4605ddff76b47',
      credential_type: 'gcp_sa_key',
      issued_credential_type: 'gcp_signed_jwt',
      // resourceName names the account by unique id; request.name by email: the email wins
      issued_to: 'some-project@company.iam.gserviceaccount.com',
      src_ip: '1.2.3.4',
    });
    const refused = rowAt(rows, PANTHER, 71);
    expect(refused).toMatchObject({ outcome: 'denied', reason: 'permission denied: iam.serviceAccounts.getAccessToken', issued_to: null, category: 'credential' });
    const token = rowAt(rows, PANTHER, 72);
    expect(token).toMatchObject({ action: 'iamcredentials.googleapis.com:GenerateAccessToken', issued_to: 'sample@email.com', issued_credential_type: 'gcp_access_token', time: '2024-08-29T19:30:36.339983306Z' });
    expect(token.attrs).toMatchObject({ identity_delegation_chain: ['projects/-/serviceAccounts/xxxxx.iam.gserviceaccount.com'] });
    const storage = rowAt(rows, PANTHER, 50);
    expect(storage).toMatchObject({ action: 'storage.googleapis.com:storage.objects.delete', target: 'gs://test-bucket/test-file.txt', outcome: 'denied', reason: 'PERMISSION_DENIED' });
    const failed = rowAt(rows, PANTHER, 87);
    expect(failed).toMatchObject({ outcome: 'failure', reason: 'FAILED_PRECONDITION: key is not enabled, current state is: DISABLED.' });
  });

  it('links a call made with a service-account key to the CreateServiceAccountKey that minted it, and to its creator', async () => {
    const dir = tmp();
    // The real CreateServiceAccountKey entry, then a data-access entry (the OTel sample's) made with that key.
    const create = pantherLine(109);
    const use = JSON.parse(readFileSync(join(GCP, 'otel_auditlog_data_access.json'), 'utf8')) as { protoPayload: { authenticationInfo: Record<string, unknown> }; timestamp: string; insertId: string };
    use.protoPayload.authenticationInfo = {
      principalEmail: 'created-service-account@gcp-project1.iam.gserviceaccount.com',
      principalSubject: 'serviceAccount:created-service-account@gcp-project1.iam.gserviceaccount.com',
      serviceAccountKeyName: '//iam.googleapis.com/projects/gcp-project1/serviceAccounts/created-service-account@gcp-project1.iam.gserviceaccount.com/keys/69049163b190437ab9279b28e8afa24bb5c5b076',
    };
    use.timestamp = '2023-03-09T16:02:00.000Z';
    use.insertId = 'use-of-created-key';
    const file = join(dir, 'export.json');
    writeFileSync(file, JSON.stringify([create, use], null, 2));
    const { rows } = await ingestAndRead(dir, [file]);
    const issuing = rowAt(rows, 'export.json', 1, '/0');
    const using = rowAt(rows, 'export.json', 1, '/1');
    expect(using.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: issuing.event_id });
    const chain = using.identity_chain.map((c) => [c.id, c.via]);
    expect(chain[0]).toEqual(['created-service-account@gcp-project1.iam.gserviceaccount.com', 'actor']);
    expect(chain).toContainEqual(['staging@company.io', 'created-by']); // rule 5: who minted the key
  });

  it('canonicalizes key names the two ways GCP writes them', () => {
    const full = '//iam.googleapis.com/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/abc123';
    expect(canonicalKeyName(full)).toBe(full);
    expect(canonicalKeyName('projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/abc123')).toBe(full);
    expect(canonicalKeyName('projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com')).toBeUndefined();
  });

  it('quarantines wrong shapes with a clear reason and ingests the rest', async () => {
    const dir = tmp();
    const good = readFileSync(join(GCP, PLASO), 'utf8').split('\n')[0]!;
    const entry = JSON.parse(good) as Record<string, unknown>;
    const file = join(dir, 'mixed.jsonl');
    writeFileSync(
      file,
      [
        good,
        JSON.stringify({ ...entry, timestamp: undefined, receiveTimestamp: undefined }),
        JSON.stringify({ ...entry, timestamp: 'yesterday' }),
        JSON.stringify({ ...entry, timestamp: '9999-12-31T23:59:59Z' }),
        JSON.stringify({ ...entry, protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', serviceName: 'x' } }),
        JSON.stringify({ insertId: 'x', timestamp: '2021-10-19T02:57:47Z' }),
        '"just a string"',
        JSON.stringify({ ...entry, protoPayload: { ...(entry.protoPayload as object), requestMetadata: { callerIp: '\u001b[2Jprivate' } } }),
      ].join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file], 'gcp_audit');
    expect(summary.files[0]).toMatchObject({ accepted: 2, quarantined: 6 });
    expect(quarantined(bundle).map((q) => [q.line, q.reason])).toEqual([
      [2, 'no timestamp (timestamp or receiveTimestamp)'],
      [3, 'timestamp is not a timestamp: "yesterday"'],
      [4, 'timestamp is out of range: "9999-12-31T23:59:59Z"'],
      [5, 'audit log entry without protoPayload.methodName'],
      [6, 'not a Cloud Logging LogEntry: no protoPayload, jsonPayload or textPayload'],
      [7, 'not a JSON object'],
    ]);
    // A caller address that is not an IP never reaches src_ip; it is kept (as evidence text) in attrs.
    const odd = rowAt(rows, 'mixed.jsonl', 8);
    expect(odd.src_ip).toBeNull();
    expect(odd.attrs?.caller_ip_text).toBe('\u001b[2Jprivate');
  });
});
