import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { ingestAndRead } from '../helpers/bundle.js';
import { REPO, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
let rows: TimelineRow[];
const byId = (id: string) => rows.find((r) => r.event_id === id)!;
const chain = (r: TimelineRow) => r.identity_chain.map((c) => [c.id, c.via, c.confidence ?? null]);
const linksOf = (r: TimelineRow, rule: string) => r.links.filter((l) => l.rule === rule);

/** The demo's story across planes (fixtures/demo/make-logs.mjs + planes.mjs), ingested for real. */
describe('cross-plane linking on the demo (DESIGN.md rules 3, 5 and 6)', () => {
  beforeAll(async () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
    rows = (await ingestAndRead(dir, [join(dir, 'logs')])).rows;
  });

  it('IdP → cloud: the SAML federation links to the Okta session it came from, and the session’s calls carry it', () => {
    const saml = rows.find((r) => r.action === 'sts:AssumeRoleWithSAML')!;
    const okta = rows.find((r) => r.action === 'okta:user.session.start')!;
    expect(linksOf(saml, 'idp-federation')).toEqual([{ rule: 'idp-federation', confidence: 'strong', event_id: okta.event_id }]);
    const trust = rows.find((r) => r.action === 'iam:UpdateAssumeRolePolicy')!;
    expect(chain(trust)).toEqual([
      ['arn:aws:sts::111122223333:assumed-role/platform-admin/alice@example.com', 'actor', null],
      ['arn:aws:iam::111122223333:role/platform-admin', 'session-issuer', null],
      ['alice@example.com', 'credential-issuance', 'exact'],
      ['okta:102AlIcE7vQ2mP9xKd4RzT8wLb', 'idp-federation', 'strong'],
    ]);
    expect(byId(trust.identity_chain[2]!.event_id!).action).toBe('sts:AssumeRoleWithSAML');
  });

  it('Vault: a secret read links to the Kubernetes-auth login that issued its token, and through it to the service account and pod', () => {
    const read = rows.find((r) => r.action === 'vault:read secret/data/ci/registry' && r.outcome === 'success')!;
    const login = rows.find((r) => r.action === 'vault:update auth/kubernetes/login' && r.outcome === 'success')!;
    expect(linksOf(read, 'credential-issuance')).toEqual([{ rule: 'credential-issuance', confidence: 'exact', event_id: login.event_id }]);
    expect(chain(read).slice(0, 3)).toEqual([
      ['8e6f3a1c-2b4d-4e5f-9a7b-0c1d2e3f4a5b', 'actor', null],
      ['system:serviceaccount:ci:deployer', 'workload-attribute', 'exact'],
      ['ci/build-7f9c', 'k8s-token-binding', 'strong'],
    ]);
    const token = byId(read.identity_chain[2]!.event_id!);
    expect(token).toMatchObject({ action: 'create serviceaccounts/token', k8s_pod: 'build-7f9c' });
  });

  it('SPIRE: the caller’s SPIFFE id in a mesh log resolves through its registration entry to the service account and pod', () => {
    const call = rows.find((r) => r.source === 'envoy' && r.outcome === 'success' && r.dst_port === 9090)!;
    expect(call.spiffe_id).toBe('spiffe://example.org/ns/ci/sa/deployer');
    expect(chain(call).slice(0, 3)).toEqual([
      ['spiffe://example.org/ns/ci/sa/deployer', 'actor', null],
      ['system:serviceaccount:ci:deployer', 'spiffe-svid', 'strong'],
      ['ci/build-7f9c', 'k8s-token-binding', 'strong'],
    ]);
    const entry = byId(linksOf(call, 'spiffe-svid')[0]!.event_id);
    expect(entry).toMatchObject({ source: 'spire', spiffe_id: 'spiffe://example.org/ns/ci/sa/deployer', k8s_namespace: 'ci', k8s_service_account: 'deployer' });
  });

  it('decision ↔ execution: the OPA deny bypassed on another port is an enforcement gap; the Kubernetes forbid held', () => {
    const deny = rows.find((r) => r.source === 'opa' && r.outcome === 'denied')!;
    const blocked = rows.find((r) => r.source === 'envoy' && r.outcome === 'denied')!;
    const bypass = rows.find((r) => r.source === 'envoy' && r.dst_port === 9090)!;
    expect(blocked).toMatchObject({ category: 'enforcement', dst_port: 8080, action: 'HTTP GET /admin/export' });
    expect(bypass).toMatchObject({ outcome: 'success', action: 'HTTP GET /admin/export' });
    expect(linksOf(deny, 'enforcement-gap')).toEqual([{ rule: 'enforcement-gap', confidence: 'strong', event_id: bypass.event_id }]);
    expect(linksOf(blocked, 'enforcement-gap')).toEqual([{ rule: 'enforcement-gap', confidence: 'strong', event_id: bypass.event_id }]);
    expect(linksOf(bypass, 'enforcement-gap').map((l) => l.event_id).sort()).toEqual([deny.event_id, blocked.event_id].sort());
    const forbid = rows.find((r) => r.action === 'list secrets')!;
    expect(linksOf(forbid, 'enforced')).toEqual([{ rule: 'enforced', confidence: 'exact', event_id: forbid.event_id }]);
    expect(linksOf(forbid, 'enforcement-gap')).toEqual([]);
    // The health check before the incident is neither.
    const health = rows.find((r) => r.action === 'HTTP GET /healthz')!;
    expect(health.links.some((l) => l.rule.startsWith('enforce'))).toBe(false);
  });

  it('human → non-human: who set up the role and bound the service account behind the download', () => {
    const download = rows.find((r) => r.target === 's3://prod-secrets/db.env' && r.src_ip === '203.0.113.66')!;
    const created = linksOf(download, 'created-by').map((l) => byId(l.event_id).action).sort();
    expect(created).toEqual(['create rolebindings', 'iam:UpdateAssumeRolePolicy']);
    expect(download.identity_chain.at(-1)).toMatchObject({ id: 'alice@example.com', type: 'human', via: 'created-by' });
  });
});
