import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { isoOfNanos, jsonLines, lineCount, otelExpected, quarantined } from '../helpers/cloud-samples.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const AZ = join(SAMPLES, 'azure_activity');
const OTEL = 'otel_activitylogs_administrative-log.json';
const PANTHER = 'panther_Azure_MonitorActivity_rule_tests.jsonl';
const PLASO = 'plaso_azure_activity_log_sdk_format.jsonl';

describe('Azure Activity Log parser on public samples', () => {
  it('accounts for every record of every sample file, and leaves the oracles and indexes alone', async () => {
    const files: [string, number][] = [
      [OTEL, (JSON.parse(readFileSync(join(AZ, OTEL), 'utf8')) as { records: unknown[] }).records.length],
      [PANTHER, lineCount(join(AZ, PANTHER))],
      [PLASO, lineCount(join(AZ, PLASO))],
    ];
    const others = ['otel_activitylogs_administrative-log_expected.yaml', 'panther_Azure_MonitorActivity_rule_tests.index.jsonl', 'plaso_azure_activity_log.expected_test.py'];
    const { summary } = await ingestAndRead(tmp(), [...files.map(([f]) => f), ...others].map((f) => join(AZ, f)));
    for (const [file, records] of files) {
      const f = summary.files.find((x) => x.input.endsWith(`/${file}`))!;
      expect(f.source, file).toBe('azure_activity');
      expect(f.accepted + f.quarantined, file).toBe(records);
    }
    expect(files.map(([, n]) => n)).toEqual([2, 212, 4]);
    for (const file of others) expect(summary.files.find((x) => x.input.endsWith(`/${file}`))!.source, file).not.toBe('azure_activity');
    // One Panther test record is only {"p_enrichment", "operation"...} without an operation name.
    expect(summary.files.find((x) => x.input.endsWith(PANTHER))!.quarantined).toBe(1);
    expect(summary.reasons.map((r) => r.reason)).toContain('not an Azure Activity Log record: no operationName');
  });

  it('agrees with the OpenTelemetry Collector on the Event Hub records (expected YAML as oracle)', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(AZ, OTEL)]);
    const oracle = otelExpected(join(AZ, 'otel_activitylogs_administrative-log_expected.yaml'));
    expect(oracle).toHaveLength(2);
    for (const [i, o] of oracle.entries()) {
      const a = o.attributes;
      const row = rowAt(rows, OTEL, 1, `/records/${i}`);
      expect(row, `record ${i}`).toMatchObject({
        source: 'azure_activity',
        time: isoOfNanos(o.timeUnixNano),
        src_ip: a['network.peer.address'],
        credential_issuer: a['azure.identity.issuer'],
        credential_type: 'entra_token',
        // result type Start: the operation began; how it ended is another record
        outcome: 'unknown',
        category: 'api',
        action: 'microsoft.insights/diagnosticSettings/write',
      });
      expect(row.attrs, `record ${i}`).toMatchObject({
        correlation_id: a['azure.correlation_id'],
        object_id: a['azure.identity.identifier.object'],
        app_id: a['azure.identity.application.id'],
        result_type: a['azure.result.type'],
        result_signature: a['azure.result.signature'],
        operation_name: a['azure.operation.name'],
        tenant_id: a['azure.tenant.id'],
        auth_methods: a['azure.identity.auth.methods.references'],
        identity_type: a['azure.identity.type'],
      });
    }
    const first = rowAt(rows, OTEL, 1, '/records/0');
    expect(first).toMatchObject({
      time: '2025-04-15T10:16:32.987344100Z',
      actor_id: oracle[0]!.attributes['user.email'],
      actor_type: 'human',
      actor_name: 'John Doe',
      credential_id: 's4OAwbVGQ0CX8sNFq4tAAA',
      credential_expires: oracle[0]!.attributes['azure.identity.not_after'],
      target: '/SUBSCRIPTIONS/11111111-1111-1111-1111-111111111111/PROVIDERS/MICROSOFT.INSIGHTS/DIAGNOSTICSETTINGS/EXAMPLE-COLLECT-SAMPLE-LOGS',
      host: '11111111-1111-1111-1111-111111111111',
    });
    expect(first.attrs).toMatchObject({ role: 'Owner', principal_type: 'User', token_session_id: 'cccccccc-cccc-cccc-cccc-cccccccccccc', authorization_scope: expect.stringContaining('diagnosticSettings/example-collect-sample-logs') });
    // The request body is not copied into attrs (it can carry secrets; raw/ has it).
    expect(JSON.stringify(first.attrs)).not.toContain('retentionPolicy');
  });

  it('reads the SDK (snake_case) shape as plaso does, and tells users from service principals', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(AZ, PLASO)]);
    // plaso_azure_activity_log.expected_test.py, event_data 0
    const first = rowAt(rows, PLASO, 1);
    expect(first).toMatchObject({
      time: '2022-02-09T03:04:54.297853Z',
      action: 'Microsoft.Compute/disks/delete',
      source_event_id: '587eda65-125e-48c2-9b04-ab5e8d3a1d8e',
      src_ip: '1.2.3.4',
      target: '/subscriptions/12345678-9abc-defg-hijk-lmnopqrstuvw/resourceGroups/TEST-RESOURCE-GROUP/providers/Microsoft.Compute/disks/test-vm_disk1_cd8883de78cb4cda97cb858dfe0cda3a',
      host: '12345678-9abc-defg-hijk-lmnopqrstuvw',
      // caller is the service principal's object id; the token says idtyp=app
      actor_id: '12345678-9abc-defg-hijk-lmnopqrstuvw',
      actor_type: 'service_account',
      credential_id: 'AAAAAAAAAAAAAAAAAAAAAA',
      credential_expires: '2022-02-10T03:00:39Z',
      outcome: 'unknown',
    });
    expect(first.attrs).toMatchObject({
      correlation_id: 'c0c54eb6-3a17-42e2-b6f6-37484ac276c4',
      event_name: 'BeginRequest',
      level: 'Informational',
      operation_id: '80287633-d288-49d7-b25e-7ba8cf6bf1da',
      resource_group: 'TEST-RESOURCE-GROUP',
      resource_provider: 'Microsoft.Compute',
      resource_type: 'Microsoft.Compute/disks',
      subscription_id: '12345678-9abc-defg-hijk-lmnopqrstuvw',
      tenant_id: '12345678-9abc-defg-hijk-lmnopqrstuvw',
      result_type: 'Started',
      http_method: 'DELETE',
      identity_type: 'app',
    });
    const user = rowAt(rows, PLASO, 2);
    expect(user).toMatchObject({ actor_id: 'fakeemail@fakedomain.com', actor_type: 'human', actor_name: 'fakename', action: 'Microsoft.Compute/virtualMachines/delete', credential_id: '-AAAAAAAAAAAAAAAA_AAAA' });
  });

  it('reads the az CLI / REST shape (camelCase, {"value":[...]} page) like the SDK shape', async () => {
    const dir = tmp();
    const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const convert = (v: unknown, top: boolean): unknown => {
      if (Array.isArray(v)) return v.map((x) => convert(x, false));
      // claims keep their names (they are token claims, not SDK fields)
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), k === 'claims' && top ? x : convert(x, false)]));
      return v;
    };
    const records = jsonLines(join(AZ, PLASO)).map((r) => convert(r, true));
    const file = join(dir, 'activity-log.json');
    writeFileSync(file, JSON.stringify({ value: records }, null, 2));
    const { rows, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'azure_activity', accepted: 4, quarantined: 0 });
    expect(rowAt(rows, 'activity-log.json', 1, '/value/0')).toMatchObject({
      time: '2022-02-09T03:04:54.297853Z',
      action: 'Microsoft.Compute/disks/delete',
      source_event_id: '587eda65-125e-48c2-9b04-ab5e8d3a1d8e',
      src_ip: '1.2.3.4',
      actor_type: 'service_account',
      credential_id: 'AAAAAAAAAAAAAAAAAAAAAA',
    });
    expect(rowAt(rows, 'activity-log.json', 1, '/value/1').attrs).toMatchObject({ correlation_id: expect.any(String), operation_id: expect.any(String), http_method: 'DELETE', event_name: 'BeginRequest' });
  });

  it('reads storage resource logs, credential operations and policy records from the Panther set', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(AZ, PANTHER)]);
    const sas = rowAt(rows, PANTHER, 162);
    expect(sas).toMatchObject({
      time: '2024-12-19T19:15:07.295Z',
      action: 'Microsoft.Storage:GetBlobMetadata',
      outcome: 'failure',
      reason: '409 BlobUsesCustomerSpecifiedEncryption',
      target: '/mystorageaccount/corporate-files/documents/internal_doc_8.txt.ENCRYPTED',
      src_ip: '1.1.1.1',
      src_port: 57485,
      credential_id: 'key1(EXAMPLE_HASH)',
      credential_type: 'azure_sas',
    });
    expect(rowAt(rows, PANTHER, 164)).toMatchObject({ outcome: 'denied', reason: '403 AuthorizationPermissionMismatch' });
    // A SAS URI's signature never reaches a column: the target is the object key, attrs keep the URI without its query.
    const sasUri = rowAt(rows, PANTHER, 187);
    expect(sasUri).toMatchObject({ target: '/proddata/financial/records.xlsx', action: 'Microsoft.Storage:DeleteBlob', outcome: 'success' });
    expect(JSON.stringify(sasUri)).not.toContain('ATTACKER_SIG');
    expect(sasUri.attrs?.uri).toBe('https://proddata.blob.core.windows.net/financial/records.xlsx');
    const keys = rowAt(rows, PANTHER, 139);
    expect(keys).toMatchObject({ action: 'Microsoft.Storage/storageAccounts/regenerateKey/action', category: 'credential', outcome: 'success', issued_credential_type: 'azure_resource_key' });
    const policy = rowAt(rows, PANTHER, 99);
    expect(policy).toMatchObject({ category: 'policy', action: 'MICROSOFT.AUTHORIZATION/POLICIES/AUDIT/ACTION' });
    const app = rowAt(rows, PANTHER, 43);
    expect(app).toMatchObject({ actor_id: '12345678-1234-1234-1234-123456789abc', actor_type: 'service_account', action: 'Microsoft.KeyVault/vaults/certificates/read' });
    const human = rowAt(rows, PANTHER, 181);
    expect(human).toMatchObject({ actor_id: 'attacker@example.com', actor_type: 'human', src_ip: '203.0.113.42' });
    const failed = jsonLines(join(AZ, PANTHER)).findIndex((r) => (r as { resultType?: string }).resultType === 'Failed') + 1;
    expect(rowAt(rows, PANTHER, failed).outcome).toMatch(/^(failure|denied)$/);
  });

  it('quarantines wrong shapes with a clear reason and ingests the rest', async () => {
    const dir = tmp();
    const otel = JSON.parse(readFileSync(join(AZ, OTEL), 'utf8')) as { records: Record<string, unknown>[] };
    const good = otel.records[0]!;
    const entra = jsonLines(join(SAMPLES, 'entra_id', 'panther_Azure_Audit_rule_tests.jsonl'))[2];
    const file = join(dir, 'PT1H.json');
    writeFileSync(
      file,
      JSON.stringify({
        records: [
          good,
          { ...good, time: undefined },
          { ...good, time: '15/04/2025 10:16' },
          { ...good, operationName: undefined, identity: undefined },
          entra,
          42,
          { ...good, resultType: 'Failed', resultSignature: 'Forbidden.', properties: { statusCode: 'Forbidden' } },
        ],
      }),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'azure_activity', accepted: 2, quarantined: 5 });
    expect(quarantined(bundle).map((q) => [q.pointer, q.reason])).toEqual([
      ['/records/1', 'no time'],
      ['/records/2', 'time is not a timestamp: "15/04/2025 10:16"'],
      ['/records/3', 'not an Azure Activity Log record: no operationName'],
      ['/records/4', 'an Entra ID record (category "SignInLogs"), not Activity Log: ingest it with --source entra_id'],
      ['/records/5', 'not a JSON object'],
    ]);
    expect(rowAt(rows, 'PT1H.json', 1, '/records/6')).toMatchObject({ outcome: 'denied', reason: 'Forbidden' });
  });
});
