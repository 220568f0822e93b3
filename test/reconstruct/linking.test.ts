import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Timeline, type TimelineRow } from '../../src/reconstruct/index.js';
import { ingestAndRead } from '../helpers/bundle.js';
import { REPO, SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

async function demo(): Promise<{ bundle: string; rows: TimelineRow[] }> {
  const dir = tmp();
  execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
  return ingestAndRead(dir, [join(dir, 'logs')]);
}

const chainIds = (r: TimelineRow) => r.identity_chain.map((c) => [c.id, c.type, c.via]);

describe('identity chains (DESIGN.md rules 1 and 3)', () => {
  it('the demo download links back to the pod, its service account and its credential', async () => {
    const { rows } = await demo();
    const byEvent = new Map(rows.map((r) => [r.event_id, r]));
    const download = rows.find((r) => r.action === 's3:GetObject' && r.target === 's3://prod-secrets/db.env' && r.src_ip === '198.51.100.20')!;
    expect(download.credential_id).toBe('ASIAQNZGKIQY3DEPLOYX');
    expect(chainIds(download)).toEqual([
      ['arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773136935', 'role_session', 'actor'],
      ['arn:aws:iam::111122223333:role/ci-deployer', 'role', 'session-issuer'],
      ['system:serviceaccount:ci:deployer', 'service_account', 'credential-issuance'],
      ['ci/build-7f9c', 'workload', 'web-identity-token'],
      ['system:node:ip-10-0-1-23.ec2.internal', 'agent', 'k8s-token-requester'],
      ['alice@example.com', 'human', 'created-by'], // rule 5: the rolebinding she created the day before
    ]);
    // Each step carries its evidence row and confidence.
    const [, , sa, pod] = download.identity_chain;
    expect(byEvent.get(sa!.event_id!)!.action).toBe('sts:AssumeRoleWithWebIdentity');
    expect(sa!.confidence).toBe('exact');
    const token = byEvent.get(pod!.event_id!)!;
    expect(token).toMatchObject({ action: 'create serviceaccounts/token', k8s_pod: 'build-7f9c', issued_to: 'system:serviceaccount:ci:deployer' });
    expect(pod!.confidence).toBe('strong');
    const binding = rows.find((r) => r.action === 'create rolebindings')!;
    const trust = rows.find((r) => r.action === 'iam:UpdateAssumeRolePolicy')!;
    expect(download.links).toEqual([
      { rule: 'credential-issuance', confidence: 'exact', event_id: sa!.event_id },
      // rule 5: alice set up ci-deployer's trust policy (through her SAML session) and bound ci:deployer
      { rule: 'created-by', confidence: 'exact', event_id: trust.event_id },
      { rule: 'created-by', confidence: 'exact', event_id: binding.event_id },
    ]);

    // The later use from outside resolves to the same workload.
    const outside = rows.find((r) => r.src_ip === '203.0.113.66' && r.action === 's3:GetObject')!;
    expect(chainIds(outside)).toEqual(chainIds(download));
  });

  it('keeps the innocent workload on the same role apart: sessions are linked by credential, not role name', async () => {
    const { rows } = await demo();
    const innocent = rows.find((r) => r.target === 's3://build-artifacts/reports/daily.json')!;
    expect(innocent.credential_id).toBe('ASIAQNZGKIQY7REPORTZ');
    expect(innocent.session_issuer).toBe('arn:aws:iam::111122223333:role/ci-deployer');
    expect(chainIds(innocent)).toEqual([
      ['arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1773137010', 'role_session', 'actor'],
      ['arn:aws:iam::111122223333:role/ci-deployer', 'role', 'session-issuer'],
      ['system:serviceaccount:monitoring:reporter', 'service_account', 'credential-issuance'],
      ['monitoring/metrics-exporter-5d8b', 'workload', 'web-identity-token'],
      ['system:node:ip-10-0-2-41.ec2.internal', 'agent', 'k8s-token-requester'],
      ['alice@example.com', 'human', 'created-by'], // she set up the role's trust, not this workload's rights
    ]);
    const deployerRows = rows.filter((r) => r.identity_chain.some((c) => c.id === 'ci/build-7f9c'));
    expect(deployerRows.some((r) => r.credential_id === 'ASIAQNZGKIQY7REPORTZ')).toBe(false);
  });

  it('a Kubernetes request by a service account names its pod (exact) and its token issuance', async () => {
    const { rows } = await demo();
    const get = rows.find((r) => r.action === 'get secrets')!;
    expect(chainIds(get)).toEqual([
      ['system:serviceaccount:ci:deployer', 'service_account', 'actor'],
      ['ci/build-7f9c', 'workload', 'k8s-pod-binding'],
      ['system:node:ip-10-0-1-23.ec2.internal', 'agent', 'k8s-token-requester'],
      ['alice@example.com', 'human', 'created-by'],
    ]);
    const issuance = rows.find((r) => r.issued_credential_id === 'JTI=0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d')!;
    const binding = rows.find((r) => r.action === 'create rolebindings')!;
    expect(get.links).toEqual([
      { rule: 'credential-issuance', confidence: 'exact', event_id: issuance.event_id },
      { rule: 'created-by', confidence: 'exact', event_id: binding.event_id },
    ]);
  });

  it('a call with a key AssumeRole issued to an IAM user has that user in its chain', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(SAMPLES, 'aws_cloudtrail/awsdocs_iam_cloudtrail_examples_valid.jsonl')]);
    const del = rows.find((r) => r.action === 's3:DeleteBucket')!;
    expect(del.credential_id).toBe('AKIAQRSTUVWXYZEXAMPLE');
    const ids = del.identity_chain.map((c) => c.id);
    expect(ids[0]).toBe('arn:aws:sts::777788889999:assumed-role/AssumeNothing/devdsk');
    expect(ids).toContain('arn:aws:iam::777788889999:user/JohnDoe');
    const user = del.identity_chain.find((c) => c.id === 'arn:aws:iam::777788889999:user/JohnDoe')!;
    expect(user.via).toBe('credential-issuance');
    expect(rows.find((r) => r.event_id === user.event_id)!.action).toBe('sts:AssumeRole');
    expect(ids.some((id) => id.includes('system:serviceaccount'))).toBe(false);
  });

  it('OTRF EC2 credential theft: every call made with the stolen session key links to the AssumeRole that issued it', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(SAMPLES, 'aws_cloudtrail/otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json')]);
    const issuing = rows.find((r) => r.issued_credential_id === 'ASIA5FLZVX4OPVKKVBMX')!;
    const uses = rows.filter((r) => r.credential_id === 'ASIA5FLZVX4OPVKKVBMX');
    expect(uses).toHaveLength(11);
    for (const u of uses) {
      expect(u.src_ip).toBe('1.2.3.4');
      expect(u.links).toEqual([{ rule: 'credential-issuance', confidence: 'exact', event_id: issuing.event_id }]);
      expect(chainIds(u)).toEqual([
        ['arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40', 'role_session', 'actor'],
        ['arn:aws:iam::123456789123:role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0', 'role', 'session-issuer'],
        ['ec2.amazonaws.com', 'agent', 'credential-issuance'],
      ]);
    }
  });
});

describe('filters resolve through the identity graph, as bound parameters', () => {
  it('--workload finds actions made with credentials the pod obtained, and only those', async () => {
    const { bundle } = await demo();
    const tl = await Timeline.open([bundle]);
    try {
      const rows = await (await tl.query({ workload: 'ci/build-7f9c' })).page(0, 100);
      const actions = rows.map((r) => r.action);
      expect(actions).toContain('sts:AssumeRoleWithWebIdentity');
      expect(actions.filter((a) => a === 's3:GetObject')).toHaveLength(2);
      expect(rows.some((r) => r.credential_id === 'ASIAQNZGKIQY7REPORTZ')).toBe(false);
      expect(await (await tl.query({ workload: 'system:serviceaccount:monitoring:reporter' })).count()).toBe(4);
      // alice acted herself (Okta, SAML federation, the rolebinding) and through her platform-admin session.
      expect((await (await tl.query({ actor: 'alice@example.com' })).page(0, 50)).map((r) => r.action)).toEqual([
        'okta:user.session.start',
        'okta:user.authentication.sso',
        'sts:AssumeRoleWithSAML',
        'create rolebindings',
        'iam:UpdateAssumeRolePolicy',
      ]);
      expect(await (await tl.query({ credential: 'ASIAQNZGKIQY3DEPLOYX' })).count()).toBe(7);
      const window = await tl.query({ since: 1773137000000000000n, until: 1773137040000000000n });
      expect((await window.page(0, 10)).map((r) => r.time)).toEqual(['2026-03-10T10:03:30Z', '2026-03-10T10:03:33Z', '2026-03-10T10:03:35Z']);
    } finally {
      tl.close();
    }
  });

  it('hostile filter text is data, never SQL', async () => {
    const { bundle } = await demo();
    const tl = await Timeline.open([bundle]);
    try {
      for (const evil of ["' OR 1=1 --", "x'); DROP TABLE actor_credentials; --", '%', '\\', '"; SELECT 1']) {
        expect(await (await tl.query({ grep: evil })).count()).toBe(0);
        expect(await (await tl.query({ actor: evil })).count()).toBe(0);
        expect(await (await tl.query({ workload: evil })).count()).toBe(0);
      }
      expect(await (await tl.query({})).count()).toBe(36);
    } finally {
      tl.close();
    }
  });
});

describe('paging', () => {
  it('any page equals the same slice of the full ordered timeline, near either end or deep inside', async () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'bench/gen-cloudtrail.mjs'), join(dir, 'gen'), '600', '--s3-per-file=600']);
    const { bundle, rows: all } = await ingestAndRead(dir, [join(dir, 'gen', 'cloudtrail.jsonl')]);
    expect(all).toHaveLength(600);
    const tl = await Timeline.open([bundle], { nearEnd: 5 });
    try {
      const q = await tl.query({});
      for (const [off, lim] of [[0, 50], [15, 10], [100, 37], [299, 100], [550, 50], [580, 40], [599, 5], [700, 10]] as const) {
        const page = await q.page(off, lim);
        expect(page.map((r) => r.event_id), `${off}+${lim}`).toEqual(all.slice(off, off + lim).map((r) => r.event_id));
      }
      const filtered = await tl.query({ grep: 'GetObject' });
      const expected = all.filter((r) => r.action === 's3:GetObject').map((r) => r.event_id);
      expect(expected.length).toBeGreaterThan(25);
      expect((await filtered.page(8, 6)).map((r) => r.event_id)).toEqual(expected.slice(8, 14));
      // near either end with a filter (its bound values are used by every copy of the page query)
      expect((await filtered.page(0, 4)).map((r) => r.event_id)).toEqual(expected.slice(0, 4));
      expect((await filtered.page(expected.length - 3, 3)).map((r) => r.event_id)).toEqual(expected.slice(-3));
      // the head `--limit` prints, filtered or not
      const head = async (query: typeof q, limit: number) => {
        const ids: string[] = [];
        for await (const batch of query.rows(7, limit)) ids.push(...batch.map((r) => r.event_id));
        return ids;
      };
      expect(await head(q, 33)).toEqual(all.slice(0, 33).map((r) => r.event_id));
      expect(await head(filtered, 12)).toEqual(expected.slice(0, 12));
    } finally {
      tl.close();
    }
  });
});
