import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { jsonLines, lineCount, quarantined } from '../helpers/cloud-samples.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const ENTRA = join(SAMPLES, 'entra_id');
const OTRF = 'otrf_GoldenSAMLADFSMailAccess_AADAuditEvents.json';
const PANTHER = 'panther_Azure_Audit_rule_tests.jsonl';

type Json = Record<string, unknown>;

function pantherLine(n: number): Json {
  return structuredClone(jsonLines(join(ENTRA, PANTHER))[n - 1]) as Json;
}

describe('Microsoft Entra ID parser on public samples', () => {
  it('accounts for every record of every sample file, and leaves the index alone', async () => {
    const files: [string, number][] = [
      [OTRF, lineCount(join(ENTRA, OTRF))],
      [PANTHER, lineCount(join(ENTRA, PANTHER))],
    ];
    const index = 'panther_Azure_Audit_rule_tests.index.jsonl';
    const { summary } = await ingestAndRead(tmp(), [...files.map(([f]) => f), index].map((f) => join(ENTRA, f)));
    for (const [file, records] of files) {
      const f = summary.files.find((x) => x.input.endsWith(`/${file}`))!;
      expect(f.source, file).toBe('entra_id');
      expect(f.accepted + f.quarantined, file).toBe(records);
      expect(f.quarantined, file).toBe(0);
    }
    expect(files.map(([, n]) => n)).toEqual([4, 46]);
    expect(summary.files.find((x) => x.input.endsWith(index))!.source).not.toBe('entra_id');
  });

  it('reads the Log Analytics AuditLogs export (PascalCase, nested JSON strings): a secret added to an app is credential issuance', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(ENTRA, OTRF)]);
    const added = rowAt(rows, OTRF, 1);
    expect(added).toMatchObject({
      source: 'entra_id',
      source_event_id: 'Directory_10065ffb-8199-48bc-8ff5-912cb5b8295a_AUMVX_13992832',
      time: '2021-08-02T13:29:25.983Z',
      category: 'credential',
      action: 'entra:Update application – Certificates and secrets management',
      outcome: 'success',
      actor_id: 'pgustavo@simulandlabs.com',
      actor_type: 'human',
      target: 'SimuLandApp',
      issued_credential_id: '59eaeebc-8a6b-44a6-9f24-7d55e64420c9',
      issued_credential_type: 'entra_client_secret',
      issued_to: '11b49e19-2326-4be6-93cb-7f37439bbd81',
      user_agent: 'Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.17763.1971',
      host: '00000000-0000-0000-0000-000000000000',
    });
    expect(added.attrs).toMatchObject({
      log: 'AuditLogs',
      audit_category: 'ApplicationManagement',
      logged_by_service: 'Core Directory',
      operation_type: 'Update',
      correlation_id: '10065ffb-8199-48bc-8ff5-912cb5b8295a',
      initiated_by_user_id: 'aead923d-498b-4f64-a66c-2af91447a8b6',
      issued_key_names: ['SimuLandCreds'],
      targets: [{ type: 'Application', id: '11b49e19-2326-4be6-93cb-7f37439bbd81', name: 'SimuLandApp' }],
    });
    // Changing an app's API permissions is not a credential.
    expect(rowAt(rows, OTRF, 3)).toMatchObject({ action: 'entra:Update application', category: 'api', issued_credential_id: null, time: '2021-08-02T13:25:12.246Z' });
    expect(rowAt(rows, OTRF, 4)).toMatchObject({ action: 'entra:Add delegated permission grant', target: 'Microsoft Graph', category: 'api' });
  });

  it('reads sign-ins of every kind from the diagnostic envelope', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(ENTRA, PANTHER)]);
    const user = rowAt(rows, PANTHER, 23);
    expect(user).toMatchObject({
      time: '2023-07-21T05:03:52.160562400Z',
      category: 'auth',
      action: 'entra:Sign-in',
      outcome: 'success',
      actor_id: 'eve@lexcorp.com',
      actor_type: 'human',
      actor_name: 'A User Display Name',
      target: 'Office 365 Exchange Online',
      src_ip: '12.12.12.12',
      user_agent: 'BAV2ROPC',
      source_event_id: 'd9ae0e20-c959-42a3-ba74-00f59ac9f6c6',
      issued_credential_id: 'hhhhhhhhhhhhhhhhhhhhhh',
      issued_credential_type: 'entra_token',
      issued_to: 'eve@lexcorp.com',
      host: '237c496d-1ca2-4b13-aa0f-69e44d745a27',
    });
    expect(user.attrs).toMatchObject({ sign_in_type: 'interactive', app_id: '975c4feb-8c6b-4ed8-82e2-f0952ecc64d4', client_app: 'Authenticated SMTP', conditional_access_status: 'notApplied', correlation_id: '9d5f7dd3-46a7-475a-9cc3-96160551ce49', location: { city: 'Springfield', state: 'Virginia', country: 'US' }, resource_tenant_id: 'fc66a38e-bcba-4fe9-b2de-c67918514cc5' });

    const sp = rowAt(rows, PANTHER, 13);
    expect(sp).toMatchObject({
      time: '2023-07-27T13:59:53.691680300Z',
      actor_id: '4b6986ec-c49c-40c0-89ce-b2ac51213e39',
      actor_type: 'service_account',
      actor_name: 'very-normal-service-principal',
      credential_id: '2afc776a-4e79-4588-b2ad-f62c94d6bea8',
      credential_type: 'entra_app_credential',
      issued_credential_id: 'CXXXXXXXXXXXXXXXXXXXXX',
      issued_to: '4b6986ec-c49c-40c0-89ce-b2ac51213e39',
      target: 'Office 365 Management APIs',
      outcome: 'success',
    });
    expect(sp.attrs).toMatchObject({ sign_in_type: 'service_principal', app_id: '3b245ca3-dcce-4a54-a070-49ad8de02963' });

    const failedSp = rowAt(rows, PANTHER, 12);
    expect(failedSp).toMatchObject({ outcome: 'failure', reason: '7000215', issued_credential_id: null, actor_type: 'service_account' });
    expect(rowAt(rows, PANTHER, 42)).toMatchObject({ outcome: 'failure', reason: '50126: Invalid username or password', actor_id: 'attacker@company.com', src_ip: '192.0.2.250', user_agent: 'curl/7.68.0' });
    const nonInteractive = rowAt(rows, PANTHER, 45);
    expect(nonInteractive).toMatchObject({ outcome: 'success', actor_id: 'sam@lotr.com', target: 'Microsoft Graph' });
    expect(nonInteractive.attrs).toMatchObject({ sign_in_type: 'non_interactive', is_interactive: false });
    // Without uniqueTokenIdentifier nothing is claimed as issued; the session id stays in attrs.
    const session = rowAt(rows, PANTHER, 14);
    expect(session).toMatchObject({ outcome: 'success', issued_credential_id: null });
    expect(session.attrs).toMatchObject({ session_id: 'session-abc-123' });

    const spCreds = rowAt(rows, PANTHER, 43);
    expect(spCreds).toMatchObject({ category: 'credential', action: 'entra:Add service principal credentials', actor_id: 'frodo@lotr.com', issued_to: 'sp-app-456', issued_credential_type: 'entra_client_secret', issued_credential_id: null, src_ip: '2.2.2.2' });
  });

  it('a Conditional Access failure is a deny, with the policy as reason', async () => {
    const dir = tmp();
    // The interactive sign-in of the Panther set (line 23), as Entra writes it when a CA policy blocks it.
    const blocked = pantherLine(23);
    const props = blocked.properties as Json;
    props.conditionalAccessStatus = 'failure';
    props.status = { errorCode: 53003, failureReason: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.' };
    props.appliedConditionalAccessPolicies = [
      { id: '3f1e3b6a-1c55-4f0e-9b0d-6a1d2c9b7e01', displayName: 'Block legacy authentication', enforcedGrantControls: ['Block'], enforcedSessionControls: [], result: 'failure' },
      { id: '9d0c8b7a-2e44-4f1b-8c3d-5b2a1e0f9c02', displayName: 'Require MFA for admins', enforcedGrantControls: ['Mfa'], enforcedSessionControls: [], result: 'notApplied' },
    ];
    blocked.resulttype = 53003;
    const file = join(dir, 'signins.json');
    writeFileSync(file, `${JSON.stringify(blocked)}\n`);
    const { rows } = await ingestAndRead(dir, [file]);
    expect(rows[0]).toMatchObject({ outcome: 'denied', reason: 'conditional access: Block legacy authentication', issued_credential_id: null, action: 'entra:Sign-in', target: 'Office 365 Exchange Online' });
    expect(rows[0]!.attrs).toMatchObject({ error_code: 53003, ca_policies_failed: ['Block legacy authentication'], conditional_access_status: 'failure' });
  });

  it('follows a token across planes: ARM call → the sign-in that issued it → the secret it used → who added that secret', async () => {
    const dir = tmp();
    // 13:29 pgustavo adds secret 59eaeebc-… to SimuLandApp (OTRF, Log Analytics export, unchanged).
    const audit = readFileSync(join(ENTRA, OTRF), 'utf8').split('\n')[0]!;
    // 13:40 the app's service principal signs in with that secret (Panther's SP sign-in, line 13, with the key id and time of this story).
    const signIn = pantherLine(13);
    Object.assign(signIn.properties as Json, { servicePrincipalCredentialKeyId: '59eaeebc-8a6b-44a6-9f24-7d55e64420c9', clientCredentialType: 'clientSecret', createdDateTime: '2021-08-02T13:40:00.000Z', uniqueTokenIdentifier: 'q1Zx8bT0S0aQm4n9cU1hAA' });
    signIn.time = '2021-08-02T13:40:05.000Z';
    // 13:45 that token deletes a disk (plaso's SDK-shape Activity Log record, with the token's uti and time of this story).
    const arm = jsonLines(join(SAMPLES, 'azure_activity', 'plaso_azure_activity_log_sdk_format.jsonl'))[0] as Json;
    (arm.claims as Json).uti = 'q1Zx8bT0S0aQm4n9cU1hAA';
    (arm.claims as Json).oid = '4b6986ec-c49c-40c0-89ce-b2ac51213e39';
    arm.caller = '4b6986ec-c49c-40c0-89ce-b2ac51213e39';
    arm.event_timestamp = '2021-08-02T13:45:00.000000Z';
    writeFileSync(join(dir, 'AuditLogs.json'), `${audit}\n`);
    writeFileSync(join(dir, 'signins.jsonl'), `${JSON.stringify(signIn)}\n`);
    writeFileSync(join(dir, 'activity.jsonl'), `${JSON.stringify(arm)}\n`);
    const { rows, summary } = await ingestAndRead(dir, [join(dir, 'AuditLogs.json'), join(dir, 'signins.jsonl'), join(dir, 'activity.jsonl')]);
    expect(summary.files.map((f) => f.source)).toEqual(['entra_id', 'entra_id', 'azure_activity']);
    const a = rowAt(rows, 'AuditLogs.json', 1);
    const s = rowAt(rows, 'signins.jsonl', 1);
    const call = rowAt(rows, 'activity.jsonl', 1);
    expect(s.credential_type).toBe('entra_client_secret');
    expect(s.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: a.event_id });
    expect(call.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: s.event_id });
    const chain = call.identity_chain.map((c) => [c.id, c.via]);
    expect(chain[0]).toEqual(['4b6986ec-c49c-40c0-89ce-b2ac51213e39', 'actor']);
    expect(chain).toContainEqual(['11b49e19-2326-4be6-93cb-7f37439bbd81', 'credential-issuance']);
    expect(chain).toContainEqual(['pgustavo@simulandlabs.com', 'created-by']); // rule 5: who added the secret
  });

  it('reads Microsoft Graph auditLogs/signIns pages', async () => {
    const dir = tmp();
    // The shape `GET /auditLogs/signIns` returns (fields as the Graph signIn resource documents them).
    const page = {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns',
      value: [
        {
          id: '0b7b1c4e-5a7d-4d33-9e61-2d7c5b2a0100',
          createdDateTime: '2024-05-02T08:15:41.6195833Z',
          userDisplayName: 'Dana Ops',
          userPrincipalName: 'dana@contoso.example',
          userId: '26be570a-ae82-4189-b4e2-a37c6808512d',
          appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
          appDisplayName: 'Microsoft Azure CLI',
          ipAddress: '2001:db8::15',
          clientAppUsed: 'Mobile Apps and Desktop clients',
          correlationId: 'd79f5bee-5860-4832-928f-3133e22ae912',
          conditionalAccessStatus: 'success',
          isInteractive: true,
          resourceDisplayName: 'Windows Azure Service Management API',
          resourceId: '797f4846-ba00-4fd7-ba43-dac1f8f63013',
          status: { errorCode: 0, failureReason: 'Other.', additionalDetails: null },
          appliedConditionalAccessPolicies: [{ id: '6701123a-b4c6-48af-8565-565c8bf7cabc', displayName: 'Require MFA for Azure management', enforcedGrantControls: ['Mfa'], enforcedSessionControls: [], result: 'success' }],
        },
      ],
    };
    const file = join(dir, 'signIns.json');
    writeFileSync(file, JSON.stringify(page, null, 2));
    const { rows, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'entra_id', accepted: 1, quarantined: 0 });
    expect(rowAt(rows, 'signIns.json', 1, '/value/0')).toMatchObject({
      time: '2024-05-02T08:15:41.619583300Z',
      actor_id: 'dana@contoso.example',
      outcome: 'success',
      src_ip: '2001:db8::15',
      target: 'Windows Azure Service Management API',
      source_event_id: '0b7b1c4e-5a7d-4d33-9e61-2d7c5b2a0100',
    });
    expect(rows[0]!.attrs).toMatchObject({ ca_policies_succeeded: ['Require MFA for Azure management'], sign_in_type: 'interactive' });
  });

  it('reads Microsoft Graph auditLogs/directoryAudits pages', async () => {
    const dir = tmp();
    // The shape `GET /auditLogs/directoryAudits` returns: an app (not a user) adds a certificate to a service principal.
    const page = {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits',
      value: [
        {
          id: 'Directory_5a5b6c7d-1111-2222-3333-444455556666_ABCDE_12345678',
          category: 'ApplicationManagement',
          correlationId: '5a5b6c7d-1111-2222-3333-444455556666',
          result: 'success',
          resultReason: '',
          activityDisplayName: 'Add service principal credentials',
          activityDateTime: '2024-05-02T09:00:00.1234567Z',
          loggedByService: 'Core Directory',
          operationType: 'Update',
          initiatedBy: { app: { appId: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c', displayName: 'deploy-bot', servicePrincipalId: '7d7e5b8c-aaaa-bbbb-cccc-123456789abc', servicePrincipalName: null }, user: null },
          targetResources: [
            {
              id: '0f6a2a4c-dddd-eeee-ffff-0123456789ab',
              displayName: 'payments-api',
              type: 'ServicePrincipal',
              modifiedProperties: [
                { displayName: 'KeyDescription', oldValue: '[]', newValue: '["[KeyIdentifier=1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=payments-api]"]' },
                { displayName: 'Included Updated Properties', oldValue: null, newValue: '"KeyDescription"' },
              ],
            },
          ],
          additionalDetails: [{ key: 'User-Agent', value: 'python-requests/2.31.0' }],
        },
      ],
    };
    const file = join(dir, 'directoryAudits.json');
    writeFileSync(file, JSON.stringify(page));
    const { rows, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'entra_id', accepted: 1, quarantined: 0 });
    expect(rowAt(rows, 'directoryAudits.json', 1, '/value/0')).toMatchObject({
      time: '2024-05-02T09:00:00.123456700Z',
      category: 'credential',
      actor_id: '7d7e5b8c-aaaa-bbbb-cccc-123456789abc',
      actor_type: 'service_account',
      actor_name: 'deploy-bot',
      issued_credential_id: '1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6',
      issued_credential_type: 'entra_client_certificate',
      issued_to: '0f6a2a4c-dddd-eeee-ffff-0123456789ab',
      user_agent: 'python-requests/2.31.0',
    });
  });

  it('quarantines wrong shapes with a clear reason and ingests the rest', async () => {
    const dir = tmp();
    const good = pantherLine(23);
    const file = join(dir, 'mixed.jsonl');
    const noTime = pantherLine(23);
    delete noTime.time;
    delete (noTime.properties as Json).createdDateTime;
    const badTime = pantherLine(23);
    (badTime.properties as Json).createdDateTime = '2023-02-30T10:00:00Z';
    const risky = { time: '2024-01-01T00:00:00Z', resourceId: '/tenants/t/providers/Microsoft.aadiam', operationName: 'Risky user', category: 'RiskyUsers', properties: { id: 'x' } };
    const audit = pantherLine(43);
    delete (audit.properties as Json).activityDisplayName;
    delete (audit.properties as Json).operationName;
    delete audit.operationName;
    const activity = (JSON.parse(readFileSync(join(SAMPLES, 'azure_activity', 'otel_activitylogs_administrative-log.json'), 'utf8')) as { records: Json[] }).records[0];
    writeFileSync(file, [good, noTime, badTime, risky, audit, [1, 2], 'null', activity].map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n'));
    const { bundle, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'entra_id', accepted: 1, quarantined: 8 });
    expect(quarantined(bundle).map((q) => [q.line, q.pointer ?? '', q.reason])).toEqual([
      [2, '', 'no time (createdDateTime, time or TimeGenerated)'],
      [3, '', 'createdDateTime is not a timestamp: "2023-02-30T10:00:00Z"'],
      [4, '', 'not an Entra ID sign-in or audit record (category "RiskyUsers")'],
      [5, '', 'Entra ID audit record without activityDisplayName or operationName'],
      [6, '/0', 'not a JSON object'],
      [6, '/1', 'not a JSON object'],
      [7, '', 'not a JSON object'],
      [8, '', 'not an Entra ID sign-in or audit record (category "Administrative"): an Azure Activity Log record, ingest it with --source azure_activity'],
    ]);
  });
});
