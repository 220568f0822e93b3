import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { jsonLines, quarantined } from '../helpers/cloud-samples.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const GWS = join(SAMPLES, 'google_workspace');
const PANTHER = 'panther_GSuite_ActivityEvent_rule_tests.jsonl';
const SCENARIO = 'panther_test_scenarios_GSuite_ActivityEvent.jsonl';

type Json = Record<string, unknown>;

/** Records as custody counts them for Workspace: one per event of an activity, one for an activity without an events list. */
function eventRecords(path: string): number {
  return jsonLines(path).reduce<number>((n, a) => {
    const events = (a as Json).events;
    return n + (Array.isArray(events) && events.length > 0 ? events.length : 1);
  }, 0);
}

describe('Google Workspace parser on public samples', () => {
  it('accounts for every event of every sample file, and leaves the indexes alone', async () => {
    const files: [string, number][] = [
      [PANTHER, eventRecords(join(GWS, PANTHER))],
      [SCENARIO, eventRecords(join(GWS, SCENARIO))],
    ];
    const indexes = ['panther_GSuite_ActivityEvent_rule_tests.index.jsonl', 'panther_test_scenarios_GSuite_ActivityEvent.index.jsonl'];
    const { summary } = await ingestAndRead(tmp(), [...files.map(([f]) => f), ...indexes].map((f) => join(GWS, f)));
    for (const [file, records] of files) {
      const f = summary.files.find((x) => x.input.endsWith(`/${file}`))!;
      expect(f.source, file).toBe('gworkspace');
      expect(f.accepted + f.quarantined, file).toBe(records);
    }
    // Panther's set is one event per record (123 lines); the scenario is one Reports API activity with two events.
    expect(files.map(([, n]) => n)).toEqual([123, 2]);
    for (const file of indexes) expect(summary.files.find((x) => x.input.endsWith(`/${file}`))!.source, file).not.toBe('gworkspace');
    // Many of Panther's test records are partial: no id.time.
    expect(summary.files.find((x) => x.input.endsWith(PANTHER))!.quarantined).toBe(58);
    expect(summary.reasons.map((r) => r.reason)).toContain('no id.time');
  });

  it('reads a Reports API activity with several events: one row per event, pointing at it', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(GWS, SCENARIO)]);
    expect(rows).toHaveLength(2);
    const edit = rowAt(rows, SCENARIO, 1, '/events/0');
    const share = rowAt(rows, SCENARIO, 1, '/events/1');
    for (const r of [edit, share]) {
      expect(r).toMatchObject({
        source: 'gworkspace',
        time: '2021-06-27T00:42:04.624Z',
        source_event_id: '7650140179669908407',
        actor_id: 'thomas12223391@gmail.com',
        actor_type: 'human',
        host: 'C123abcde',
        target: 'xxxxxx_eHtcVcuFqriIX_SGa_guoI0vOV',
        category: 'api',
        outcome: 'success',
      });
    }
    expect(edit.action).toBe('drive:edit');
    expect(share.action).toBe('drive:change_user_access');
    expect(share.attrs).toMatchObject({
      application: 'drive',
      event_type: 'acl_change',
      event_index: 1,
      event_count: 2,
      profile_id: '999999999999999999999',
      parameters: { visibility_change: 'external', target_user: 'thomas12223391@gmail.com', old_value: ['none'], new_value: ['can_view'], doc_title: 'Company_Financials_05_26_21.pptx', billable: true, primary_event: true },
    });
  });

  it('reads token grants as OAuth credential issuance to the app, logins and account changes', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(GWS, PANTHER)]);
    const grant = rowAt(rows, PANTHER, 68);
    expect(grant).toMatchObject({
      time: '2024-01-15T10:30:00Z',
      category: 'credential',
      action: 'token:authorize',
      outcome: 'success',
      actor_id: 'user@example.com',
      actor_type: 'human',
      src_ip: '192.0.2.1',
      target: 'SuspiciousThirdPartyApp',
      issued_to: '123456789012-abcdefghijklmnopqrstuvwxyz123456.apps.googleusercontent.com',
      issued_credential_type: 'oauth_token',
      issued_credential_id: null,
      source_event_id: '987654321098765432',
      host: 'C01234abc',
    });
    expect(grant.attrs).toMatchObject({
      scopes: ['https://www.googleapis.com/auth/admin.directory.user', 'https://www.googleapis.com/auth/ediscovery', 'https://www.googleapis.com/auth/drive', 'https://www.googleapis.com/auth/cloud_search.query'],
      parameters: { client_type: 'WEB', app_name: 'SuspiciousThirdPartyApp' },
    });
    const saml = rowAt(rows, PANTHER, 49);
    expect(saml).toMatchObject({ category: 'auth', action: 'saml:login_success', outcome: 'success', actor_id: 'some.user@somedomain.com', src_ip: '10.10.10.10', target: 'Some SAML Application', time: '2022-05-26T15:26:09.421Z' });
    const recovery = rowAt(rows, PANTHER, 4);
    expect(recovery).toMatchObject({ category: 'credential', action: 'user_accounts:recovery_email_edit', src_ip: '2600:2600:2600:2600:2600:2600:2600:2600', source_event_id: '517500000000000000' });
    const admin = rowAt(rows, PANTHER, 1);
    expect(admin).toMatchObject({ action: 'admin:DELETE_ROLE', category: 'api', target: 'CustomAdminRoleName', actor_id: 'example@example.io', src_ip: '12.12.12.12', source_event_id: '-12456', host: 'D12345' });
    expect(admin.attrs).toMatchObject({ event_type: 'DELEGATED_ADMIN_SETTINGS', caller_type: 'USER', parameters: { ROLE_ID: '567890' } });
  });

  it('reads an activities.list page (pretty-printed, items with events)', async () => {
    const dir = tmp();
    const activity = jsonLines(join(GWS, SCENARIO))[0] as Json;
    const login = {
      kind: 'admin#reports#activity',
      id: { time: '2024-03-04T09:10:11.123Z', uniqueQualifier: '-4411223344556677889', applicationName: 'login', customerId: 'C123abcde' },
      etag: '"abc/def"',
      actor: { email: 'mallory@example.com', profileId: '111222333444555666777' },
      ipAddress: '198.51.100.23',
      events: [
        { type: 'login', name: 'login_failure', parameters: [{ name: 'login_type', value: 'google_password' }, { name: 'login_failure_type', value: 'login_failure_invalid_password' }, { name: 'is_suspicious', boolValue: true }] },
        { type: 'login', name: 'login_challenge', parameters: [{ name: 'login_challenge_method', multiValue: ['password'] }, { name: 'login_challenge_status', value: 'Challenge Failed' }] },
      ],
    };
    const file = join(dir, 'activities.json');
    writeFileSync(file, JSON.stringify({ kind: 'admin#reports#activities', etag: '"x"', items: [activity, login] }, null, 2));
    const { rows, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'gworkspace', accepted: 4, quarantined: 0 });
    expect(rowAt(rows, 'activities.json', 1, '/items/0/events/1').action).toBe('drive:change_user_access');
    expect(rowAt(rows, 'activities.json', 1, '/items/1/events/0')).toMatchObject({ action: 'login:login_failure', category: 'auth', outcome: 'failure', reason: 'login_failure_invalid_password', actor_id: 'mallory@example.com', src_ip: '198.51.100.23' });
    const challenge = rowAt(rows, 'activities.json', 1, '/items/1/events/1');
    expect(challenge).toMatchObject({ action: 'login:login_challenge', outcome: 'failure', reason: 'Challenge Failed' });
    expect(challenge.attrs).toMatchObject({ parameters: { login_challenge_method: ['password'] } });
  });

  it('quarantines wrong shapes with a clear reason and ingests the rest', async () => {
    const dir = tmp();
    const activity = jsonLines(join(GWS, SCENARIO))[0] as Json;
    const file = join(dir, 'mixed.jsonl');
    const lines = [
      activity,
      { ...activity, events: [] },
      { ...activity, events: ['edit', { type: 'access' }] },
      { ...activity, id: { applicationName: 'drive', time: 'Sunday' } },
      { ...activity, id: { time: '2021-06-27T00:42:04.624Z' }, kind: 'admin#reports#activity' },
    ];
    writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n'));
    const { bundle, summary } = await ingestAndRead(dir, [file], 'gworkspace');
    // records: 2 + 1 + 2 + 2 + 2 events
    expect(summary.files[0]).toMatchObject({ accepted: 2, quarantined: 7 });
    expect(quarantined(bundle).map((q) => [q.line, q.pointer ?? '', q.reason])).toEqual([
      [2, '', 'Workspace activity without events'],
      [3, '/events/0', 'activity event is not a JSON object'],
      [3, '/events/1', 'Workspace event without a name'],
      [4, '/events/0', 'id.time is not a timestamp: "Sunday"'],
      [4, '/events/1', 'id.time is not a timestamp: "Sunday"'],
      [5, '/events/0', 'not a Workspace activity: no id.applicationName'],
      [5, '/events/1', 'not a Workspace activity: no id.applicationName'],
    ]);
  });
});
