import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { okta } from '../../src/ingest/sources/okta.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { quarantinedOf } from '../helpers/quarantine.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const OKTA = join(SAMPLES, 'okta');
const MINE = new URL('../fixtures/sources/okta/', import.meta.url).pathname;
const RULES = 'panther_Okta_SystemLog_rule_tests.jsonl';
const SCENARIOS = 'panther_test_scenarios_Okta_SystemLog.jsonl';

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

describe('Okta System Log parser on public samples', () => {
  it('accounts for every record of every sample file; index files are not logs', async () => {
    const files = readdirSync(OKTA);
    const { summary, bundle } = await ingestAndRead(tmp(), files.map((f) => join(OKTA, f)));
    for (const f of files) {
      const s = summary.files.find((x) => x.input.endsWith(`/${f}`))!;
      if (f.endsWith('.index.jsonl')) {
        expect(s.status, f).toBe('unrecognized');
        continue;
      }
      expect(s.source, f).toBe('okta');
      expect(s.accepted + s.quarantined, f).toBe(lines(join(OKTA, f)));
    }
    // The rule tests hold deliberately partial events: 4 without `published`, 3 with "redacted" in it.
    expect(summary.files.find((x) => x.input.endsWith(RULES))).toMatchObject({ accepted: 48, quarantined: 7 });
    expect(summary.files.find((x) => x.input.endsWith(SCENARIOS))).toMatchObject({ accepted: 20, quarantined: 0 });
    const q = quarantinedOf(bundle, RULES).map((x) => [x.line, x.reason]);
    expect(q).toEqual([
      [37, 'published is not a timestamp: "redacted"'],
      [38, 'published is not a timestamp: "redacted"'],
      [39, 'published is not a timestamp: "redacted"'],
      [44, 'no published time (a partial Okta event: every LogEvent carries one)'],
      [45, 'no published time (a partial Okta event: every LogEvent carries one)'],
      [47, 'no published time (a partial Okta event: every LogEvent carries one)'],
      [53, 'no published time (a partial Okta event: every LogEvent carries one)'],
    ]);
  });

  it('reads a sign-in: session issued to the user, client, geo, outcome', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OKTA, RULES)]);
    const login = rowAt(rows, RULES, 21);
    expect(login).toMatchObject({
      source: 'okta',
      source_event_id: 'aac560bd-f125-11ee-9caa-cd5d09945def',
      time: '2024-04-02T19:17:37.621Z',
      category: 'auth',
      action: 'okta:user.session.start',
      outcome: 'success',
      actor_id: 'casey.hill@hey.com',
      actor_type: 'human',
      actor_name: 'Casey Hill',
      credential_id: 'idxvF50v_5sT2-GOA7_K0Amyw',
      credential_type: 'okta_session',
      issued_credential_id: 'idxvF50v_5sT2-GOA7_K0Amyw',
      issued_credential_type: 'okta_session',
      issued_to: 'casey.hill@hey.com',
      src_ip: '99.108.5.25',
      target: 'Password',
      user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36',
    });
    expect(login.attrs).toMatchObject({
      okta_actor_id: '00ubewfku1EX0WCFk697',
      transaction_id: '601b158a3b3e23be5bbf74d0fe63cd78',
      request_uri: '/idp/idx/challenge/answer',
      geo: { city: 'Atlanta', state: 'Georgia', country: 'United States' },
      as_org: 'at&t corp.',
      legacy_event_type: 'core.user_auth.login_success',
    });
    // Line 22 is the same sign-in failed: no session is issued.
    const failed = rowAt(rows, RULES, 22);
    expect(failed).toMatchObject({ outcome: 'failure', issued_credential_id: null, credential_id: 'idxvF50v_5sT2-GOA7_K0Amyw' });
  });

  it('reads API token creation as issuance to its creator', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OKTA, RULES)]);
    expect(rowAt(rows, RULES, 9)).toMatchObject({
      time: '2021-01-08T21:28:34.875Z',
      category: 'credential',
      action: 'okta:system.api_token.create',
      outcome: 'success',
      actor_id: 'user@example.com',
      target: 'test_key',
      issued_credential_id: '00Tpki36zlWjhjQ1u2p4',
      issued_credential_type: 'okta_api_token',
      issued_to: 'user@example.com',
    });
    // Revocation is credential lifecycle, not issuance.
    expect(rowAt(rows, RULES, 10)).toMatchObject({ category: 'credential', action: 'okta:system.api_token.revoke', issued_credential_id: null });
  });

  it('maps DENY, CHALLENGE and policy decisions; reads lower-cased keys and marks them; lists Panther keys', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OKTA, RULES)]);
    expect(rowAt(rows, RULES, 41)).toMatchObject({ action: 'okta:system.operation.rate_limit.violation', outcome: 'denied', reason: 'Too many requests attempted by an individual user' });
    const challenge = rowAt(rows, RULES, 25);
    expect(challenge).toMatchObject({ category: 'policy', action: 'okta:policy.evaluate_sign_on', outcome: 'unknown', reason: 'Sign-on policy evaluation resulted in CHALLENGE', target: 'Okta Admin Console' });
    // Line 6: a test variant whose keys a pipeline lower-cased (eventtype, authenticationcontext, debugcontext).
    const lower = rowAt(rows, RULES, 6);
    expect(lower).toMatchObject({
      action: 'okta:user.session.start',
      outcome: 'failure',
      reason: 'INVALID_CREDENTIALS',
      credential_id: '100-abc-9999',
      credential_type: 'okta_session',
      issued_credential_id: null,
      src_ip: '1.3.2.4',
    });
    expect(lower.attrs).toMatchObject({ lowercased_keys: true, display_message: 'Authentication of user via MFA', request_uri: '/api/v1/users/AbCdEfG/lifecycle/reset_factors', domain: 'verizon.net' });
    // An OAuth client acting: non-human actor; the session it ran in is the credential.
    expect(rowAt(rows, RULES, 11)).toMatchObject({ category: 'auth', action: 'okta:app.oauth2.authorize.code', actor_type: 'service_account', actor_id: '123456', credential_id: '123456789' });
    expect(rowAt(rows, RULES, 11).attrs).toMatchObject({ grant_type: 'authorization_code', client_id: 'okta.1234' });
    // Panther enrichment keys are listed, never mapped into Okta fields.
    const enriched = rowAt(rows, RULES, 32);
    expect(enriched.attrs).toMatchObject({ enrichment_keys: ['p_any_domain_names', 'p_any_emails', 'p_any_ip_addresses', 'p_log_type'] });
    expect(JSON.stringify(enriched.attrs)).not.toContain('stateToken');
  });

  it('reads the scenario storyline: failed logins, then success, then a new user', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OKTA, SCENARIOS)]);
    expect(rowAt(rows, SCENARIOS, 1)).toMatchObject({ outcome: 'failure', reason: 'VERIFICATION_ERROR', actor_id: 'tracey_stone@acme.io', actor_name: null, credential_id: null, time: '2020-10-25T10:20:22Z' });
    expect(rowAt(rows, SCENARIOS, 3)).toMatchObject({ outcome: 'success', issued_credential_id: '102F5M3O5P6Rge8yFXs55YsJg', src_ip: '71.253.251.71' });
    expect(rowAt(rows, SCENARIOS, 20)).toMatchObject({
      action: 'okta:user.lifecycle.create',
      category: 'api',
      actor_id: 'jack.naglieri@runpanther.io',
      credential_id: '102BXR6Q6VzTn2pR9KlpPcjdQ',
      target: 'thomas12223391@gmail.com',
    });
  });
});

describe('Okta System Log parser on the API response, event hooks and the docs example', () => {
  it('links a call made with an API token, and a client-credentials grant, to their issuance', async () => {
    const file = 'okta_system_log_api_response.json';
    const { rows, summary } = await ingestAndRead(tmp(), [join(MINE, file)]);
    expect(summary.files[0]).toMatchObject({ source: 'okta', accepted: 7, quarantined: 0 });
    const create = rowAt(rows, file, 1, '/2');
    expect(create).toMatchObject({ issued_credential_id: '00Tk3x8ciAutom4t1697', issued_to: 'alice@example.com', credential_id: '102Qx9pLmN3rT5vW7yZaBcDeF' });
    const viaToken = rowAt(rows, file, 1, '/3');
    expect(viaToken).toMatchObject({
      action: 'okta:user.lifecycle.create',
      credential_id: '00Tk3x8ciAutom4t1697',
      credential_type: 'okta_api_token',
      src_ip: '192.0.2.200',
      user_agent: 'okta-sdk-python/2.9.4 python/3.11.8 Linux/6.1.0',
    });
    expect(viaToken.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: create.event_id });

    const client = rowAt(rows, file, 1, '/4');
    expect(client).toMatchObject({ action: 'okta:app.oauth2.client.lifecycle.create', category: 'credential', issued_credential_id: '0oa9ciDep1oyer0S697', issued_to: 'ci-deployer-service' });
    const secret = rowAt(rows, file, 1, '/5');
    expect(secret).toMatchObject({ category: 'credential', issued_credential_type: 'okta_client_secret', issued_to: 'ci-deployer-service', issued_credential_id: null });
    const grant = rowAt(rows, file, 1, '/6');
    expect(grant).toMatchObject({
      category: 'credential',
      action: 'okta:app.oauth2.as.token.grant.access_token',
      actor_id: 'ci-deployer-service',
      actor_type: 'service_account',
      credential_id: '0oa9ciDep1oyer0S697',
      credential_type: 'okta_oauth_client',
      target: 'deploy-api',
      issued_to: 'ci-deployer-service',
    });
    expect(grant.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: client.event_id });
    expect(grant.identity_chain.map((c) => c.id)).toEqual(['ci-deployer-service', 'alice@example.com']);

    const deny = rowAt(rows, file, 1, '/1');
    expect(deny).toMatchObject({ category: 'policy', outcome: 'denied', actor_id: 'mallory@example.com', target: 'Default Policy', src_ip: '203.0.113.66' });
    expect(deny.attrs).toMatchObject({ is_proxy: true, severity: 'WARN' });
  });

  it('splits an Event Hook delivery into its events', async () => {
    const file = 'okta_event_hook_delivery.json';
    const { rows, summary } = await ingestAndRead(tmp(), [join(MINE, file)]);
    expect(summary.files[0]).toMatchObject({ source: 'okta', accepted: 2, quarantined: 0 });
    const sso = rowAt(rows, file, 1, '/data/events/1');
    expect(sso).toMatchObject({ action: 'okta:user.authentication.sso', category: 'auth', target: 'AWS Production', credential_id: '102bOb5e55i0nIdX7y8z9A0b1' });
    expect(sso.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: rowAt(rows, file, 1, '/data/events/0').event_id });
  });

  it("quarantines the docs' example: September 31st is not a date", async () => {
    const file = 'okta_docs_example_logevent.json';
    const { bundle, summary } = await ingestAndRead(tmp(), [join(MINE, file)]);
    expect(summary.files[0]).toMatchObject({ source: 'okta', accepted: 0, quarantined: 1 });
    expect(quarantinedOf(bundle, file).map((q) => q.reason)).toEqual(['published is not a timestamp: "2017-09-31T22:23:07.777Z"']);
  });

  it('bad input: every record is accepted or quarantined with a reason; the parser never throws', async () => {
    const dir = tmp();
    const file = join(dir, 'okta-bad.jsonl');
    const good = { uuid: 'u-1', published: '2026-01-01T00:00:00.000Z', eventType: 'user.session.start', actor: { id: '00u1', type: 'User', alternateId: 'x@example.com' }, outcome: { result: 'SUCCESS' } };
    writeFileSync(
      file,
      [
        JSON.stringify(good),
        JSON.stringify({ ...good, uuid: 'u-2', eventType: 42 }),
        JSON.stringify({ ...good, uuid: 'u-3', published: 'yesterday' }),
        JSON.stringify({ ...good, uuid: 'u-4', published: '2026-01-01T00:00:00.500Z', actor: 'not an object', target: 'nope', client: [], outcome: null, authenticationContext: 5 }),
        '"just a string"',
        '{"eventType": "user.session.start", "published": "2026-01-01T00:00:01Z", "displayMessage": "x", "actor": {"alternateId": "\\u001b[31mred\\u001b[0m"}}',
      ].join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'okta', accepted: 3, quarantined: 3 });
    expect(rows.map((r) => r.source_event_id)).toEqual(['u-1', 'u-4', null]);
    expect(rows[1]).toMatchObject({ actor_id: null, outcome: 'unknown', target: null });
    expect(rows[2]!.actor_id).toBe('\u001b[31mred\u001b[0m'); // kept as evidence; escaped only when printed
    expect(quarantinedOf(bundle, 'okta-bad.jsonl').map((q) => [q.line, q.reason])).toEqual([
      [2, 'not an Okta System Log event: no eventType'],
      [3, 'published is not a timestamp: "yesterday"'],
      [5, 'not a JSON object'],
    ]);
    for (const v of [null, 1, 'x', [], {}, { eventType: {} }, { eventType: 'a.b', published: {} }]) expect(() => okta.parse(v, { line: 1, pointer: '' })).not.toThrow();
  });
});
