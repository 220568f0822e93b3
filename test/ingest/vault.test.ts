import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { cleanVaultError, vault } from '../../src/ingest/sources/vault.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { quarantinedOf } from '../helpers/quarantine.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const SAMPLE = join(SAMPLES, 'vault_audit', 'datadog_vault_tests.yaml');
const MINE = new URL('../fixtures/sources/vault/', import.meta.url).pathname;
const DOCS = 'vault_docs_audit_log_examples.jsonl';
const K8S = 'vault_k8s_auth_flow.jsonl';

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

describe('Vault audit parser on the public sample', () => {
  it('the DataDog test YAML is not a log; its one audit entry, taken out verbatim, is', async () => {
    const tests = (parseYaml(readFileSync(SAMPLE, 'utf8')) as { tests: { sample: string }[] }).tests;
    const audit = tests.filter((t) => t.sample.trimStart().startsWith('{'));
    expect(audit).toHaveLength(1);
    // The fixture is that sample's text, unchanged.
    expect(readFileSync(join(MINE, 'datadog_vault_audit_request.json'), 'utf8')).toBe(`${audit[0]!.sample}\n`);
    expect(readFileSync(join(MINE, 'datadog_vault_server.log'), 'utf8').split('\n').filter(Boolean)).toEqual(tests.filter((t) => !t.sample.trimStart().startsWith('{')).map((t) => t.sample));

    const { summary, rows } = await ingestAndRead(tmp(), [SAMPLE, join(MINE, 'datadog_vault_audit_request.json'), join(MINE, 'datadog_vault_server.log')]);
    expect(summary.files.find((f) => f.input === SAMPLE)).toMatchObject({ status: 'unrecognized', quarantined: 1 });
    // Vault server log lines are not audit entries.
    expect(summary.files.find((f) => f.input.endsWith('datadog_vault_server.log'))).toMatchObject({ status: 'unrecognized' });
    expect(summary.files.find((f) => f.input.endsWith('datadog_vault_audit_request.json'))).toMatchObject({ source: 'vault', accepted: 1, quarantined: 0 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      source: 'vault',
      source_event_id: '9adb5544-637f-3d42-9459-3684f5d21996',
      time: '2019-11-05T00:40:27.638711Z',
      category: 'api',
      action: 'vault:update sys/policies/acl/admin',
      target: 'sys/policies/acl/admin',
      outcome: 'unknown',
      actor_id: 'root',
      actor_type: 'human',
      credential_id: 'hmac-sha256:2630a7b8e996b0c451db4924f32cec8793d0eb69609f777d89a5c8188a742f52',
      credential_type: 'vault_token',
      src_ip: '127.0.0.1',
    });
    expect(rows[0]!.attrs).toMatchObject({ entry_type: 'request', token_type: 'service', policies: ['root'], namespace_id: 'root' });
    expect(JSON.stringify(rows[0])).not.toContain('6291b17ab99eb5bf3fd44a41d3a0bf0213976f26c72d12676b33408459a89885'); // the client token's HMAC
  });
});

describe("Vault audit parser on the docs' examples and a Kubernetes auth flow", () => {
  it('accounts for every entry, pretty-printed or one per line', async () => {
    const files = [DOCS, K8S, 'datadog_vault_audit_request.json'];
    const { summary } = await ingestAndRead(tmp(), files.map((f) => join(MINE, f)));
    expect(summary.files.find((f) => f.input.endsWith(DOCS))).toMatchObject({ source: 'vault', accepted: lines(join(MINE, DOCS)), quarantined: 0 });
    expect(summary.files.find((f) => f.input.endsWith(K8S))).toMatchObject({ source: 'vault', accepted: lines(join(MINE, K8S)), quarantined: 0 });
  });

  it('request and response are both rows; the response says how it ended', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(MINE, DOCS)]);
    // Transit key deletion: the request row (no decision logged), then the refusing response.
    const req = rowAt(rows, DOCS, 10);
    const resp = rowAt(rows, DOCS, 11);
    expect(req).toMatchObject({ source_event_id: '864309d9-6af8-3477-629e-20fff99212d3', outcome: 'unknown', reason: null, action: 'vault:delete transit/keys/customer-key' });
    expect(resp).toMatchObject({
      source_event_id: '864309d9-6af8-3477-629e-20fff99212d3',
      time: '2022-03-07T18:35:58.811941507Z',
      outcome: 'failure',
      reason: 'deletion is not allowed for this key',
      actor_id: 'eaaa1d84-ddb8-046e-af99-2c7adf3c7b64',
      actor_name: 'oidc-user@email.com',
      actor_type: 'human',
      credential_id: 'hmac-sha256:5473cc64458f840d6105a4b11a8d2a9e61b4ebd21d1c327fb6436ae4651ace52',
      credential_expires: '2022-04-08T18:15:34Z', // token_issue_time + token_ttl (2764800 s)
      src_ip: '192.168.105.22',
    });
    expect(resp.attrs).toMatchObject({ entry_type: 'response', mount_type: 'transit', metadata: { role: 'okta_admin' }, error: '1 error occurred:\n\t* deletion is not allowed for this key\n\n' });
    // Userpass login with the plugin disabled: refused at the request, and the response says why.
    expect(rowAt(rows, DOCS, 3)).toMatchObject({ category: 'auth', outcome: 'failure', reason: 'missing client token', actor_id: null, credential_id: null });
    expect(rowAt(rows, DOCS, 4)).toMatchObject({ category: 'auth', outcome: 'failure', reason: 'invalid request' });
    // Plugin enabled, wrong password: no top-level error, only an HMACed response.data.error.
    expect(rowAt(rows, DOCS, 5)).toMatchObject({ outcome: 'failure', reason: 'response.data.error (HMAC-hashed in the audit log)', issued_credential_id: null });
  });

  it("a login issues a token: its accessor joins later requests (the docs' login spells ' response' with a space)", async () => {
    const { rows } = await ingestAndRead(tmp(), [join(MINE, DOCS)]);
    const login = rowAt(rows, DOCS, 7);
    expect(login).toMatchObject({
      category: 'auth',
      action: 'vault:update auth/userpass/login/mitchellh',
      outcome: 'success',
      actor_id: '9fb72b4e-aeb1-a4c9-2290-0b807468f48f',
      actor_name: 'userpass-mitchellh',
      actor_type: 'human',
      credential_id: null,
      issued_credential_id: 'hmac-sha256:9ccf9ae5955fb4ab816bf872dfe2fcf330e647802639c22474efd8951da26d9d',
      issued_credential_type: 'vault_token',
      issued_to: '9fb72b4e-aeb1-a4c9-2290-0b807468f48f',
    });
    expect(rowAt(rows, DOCS, 6)).toMatchObject({ category: 'auth', outcome: 'unknown', actor_id: null, issued_credential_id: null });
  });

  it('Kubernetes auth: the login ties the token to the service account; reads, denials and leases follow it', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(MINE, K8S)]);
    const accessor = rowAt(rows, K8S, 2).issued_credential_id as string;
    expect(accessor).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(rowAt(rows, K8S, 1)).toMatchObject({ category: 'auth', outcome: 'allowed', actor_id: null, src_ip: '10.42.1.17', src_port: 51234 });
    const login = rowAt(rows, K8S, 2);
    expect(login).toMatchObject({
      time: '2026-03-10T10:02:11.531804225Z',
      category: 'auth',
      outcome: 'success',
      actor_id: '5d2c8a4e-0f1b-6c3e-9a7d-2b4e6f8a1c3d',
      actor_name: 'kubernetes-payments-payments-api',
      actor_type: 'service_account',
      k8s_namespace: 'payments',
      k8s_service_account: 'payments-api',
      k8s_pod_uid: null, // the Kubernetes auth method logs the service account's uid, not the pod's
      issued_credential_type: 'vault_token',
      issued_credential_expires: '2026-03-10T11:02:11.531804225Z',
      issued_to: '5d2c8a4e-0f1b-6c3e-9a7d-2b4e6f8a1c3d',
    });
    expect(login.attrs).toMatchObject({ service_account_uid: '4a1a5d2e-7c5f-4a5b-9d3e-2f6c8b1e0a77', mount_type: 'kubernetes', metadata: { role: 'payments' } });

    const read = rowAt(rows, K8S, 4);
    expect(read).toMatchObject({ action: 'vault:read secret/data/payments/db', outcome: 'success', credential_id: accessor, k8s_namespace: 'payments', k8s_service_account: 'payments-api' });
    expect(read.links).toContainEqual({ rule: 'credential-issuance', confidence: 'exact', event_id: login.event_id });
    expect(read.identity_chain[0]).toMatchObject({ id: '5d2c8a4e-0f1b-6c3e-9a7d-2b4e6f8a1c3d', via: 'actor' });
    expect(rowAt(rows, K8S, 3)).toMatchObject({ outcome: 'allowed', credential_id: accessor });
    expect(rowAt(rows, K8S, 3).attrs).toMatchObject({ granting_policies: ['payments-db'], policy_allowed: true });

    expect(rowAt(rows, K8S, 5)).toMatchObject({ action: 'vault:read secret/data/prod/root-ca', outcome: 'denied', reason: 'permission denied', credential_id: accessor });
    expect(rowAt(rows, K8S, 6)).toMatchObject({ outcome: 'denied', reason: 'permission denied' });
    const lease = rowAt(rows, K8S, 7);
    expect(lease).toMatchObject({
      category: 'credential',
      action: 'vault:read database/creds/payments-ro',
      issued_credential_id: 'database/creds/payments-ro/2mVhkR8yq0bZLdnB3cUx7e4W',
      issued_credential_type: 'vault_lease',
      issued_to: '5d2c8a4e-0f1b-6c3e-9a7d-2b4e6f8a1c3d',
      credential_id: accessor,
    });
    expect(rowAt(rows, K8S, 8)).toMatchObject({ category: 'auth', outcome: 'denied', reason: 'permission denied', issued_credential_id: null, src_ip: '10.42.3.9' });
    // No secret leaves the audit log's HMACs: the JWT, the password, the client token.
    expect(JSON.stringify(rows)).not.toMatch(/eyJhbGci|s3cr3t|client_token/);
  });

  it('bad input: quarantined with reasons, never thrown', async () => {
    const dir = tmp();
    const file = join(dir, 'vault-bad.log');
    const ok = { time: '2026-01-01T00:00:00Z', type: 'request', auth: { accessor: 'hmac-sha256:aa' }, request: { id: 'r1', operation: 'read', path: 'secret/x' } };
    writeFileSync(
      file,
      [
        JSON.stringify(ok),
        JSON.stringify({ ...ok, type: 'audit' }),
        JSON.stringify({ ...ok, request: 'read secret/x' }),
        JSON.stringify({ ...ok, time: 'at noon' }),
        JSON.stringify({ ...ok, time: undefined }),
        'vault-audit: {"prefixed": true}',
        JSON.stringify({ ...ok, type: 'response', request: { id: 'r2', operation: 7, path: ['x'] }, auth: { metadata: 'nope', policies: 'root' }, response: { auth: [] }, error: 42 }),
      ].join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'vault', accepted: 2, quarantined: 5 });
    expect(rows.map((r) => [r.source_event_id, r.action, r.outcome])).toEqual([
      ['r1', 'vault:read secret/x', 'unknown'],
      ['r2', 'vault:?', 'success'],
    ]);
    expect(quarantinedOf(bundle, 'vault-bad.log').map((q) => [q.line, q.reason.replace(/ \(.*$/, '').split(':')[0]])).toEqual([
      [2, 'not a Vault audit entry'],
      [3, 'Vault audit entry without a request object'],
      [4, 'time is not a timestamp'],
      [5, 'Vault audit entry without time'],
      [6, 'invalid JSON'],
    ]);
    expect(cleanVaultError('2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n')).toBe('permission denied; invalid token');
    for (const v of [null, 'x', [], { type: 'request', request: {} }, { type: 'response', request: { path: 'auth/x/login' }, time: '2026-01-01T00:00:00Z', response: { auth: 5 } }]) {
      expect(() => vault.parse(v, { line: 1, pointer: '' })).not.toThrow();
    }
  });
});
