import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const K8S = join(SAMPLES, 'k8s_audit');
const FALCO = join(K8S, 'falco_trace_files_k8s_audit');

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

describe('Kubernetes audit parser on public samples', () => {
  it('accounts for every record of every sample file', async () => {
    const files = ['audit2rbac_demo_v1.log', 'audit2rbac_demo_v1beta1_original_2017.log', 'panther_kubernetes_rules_native_audit_tests.jsonl', 'panther_Amazon_EKS_Audit_rule_tests.jsonl'];
    const { summary } = await ingestAndRead(tmp(), [...files.map((f) => join(K8S, f)), FALCO]);
    for (const f of files) {
      const s = summary.files.find((x) => x.input.endsWith(f))!;
      expect(s.source, f).toBe('k8s_audit');
      expect(s.accepted + s.quarantined, f).toBe(lines(join(K8S, f)));
    }
    for (const name of readdirSync(FALCO).filter((n) => n.endsWith('.json'))) {
      const s = summary.files.find((x) => x.input.endsWith(`/${name}`))!;
      expect(s.accepted + s.quarantined, name).toBe(lines(join(FALCO, name)));
      // fal_01_003.json is Falco's deliberately malformed input ({"kind": 0}): unrecognized, quarantined whole.
      expect(s.status, name).toBe(name === 'fal_01_003.json' ? 'unrecognized' : 'ingested');
    }
    expect(summary.files.find((x) => x.input.endsWith('create_configmap_sensitive_values.json'))!.accepted).toBe(6);
    expect(summary.files.find((x) => x.input.endsWith('falco_k8s_audit_tests.yaml'))!.status).toBe('unrecognized');
  });

  it('reads user, impersonation, objectRef, status and decision field by field', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(K8S, 'audit2rbac_demo_v1.log')]);
    const first = rowAt(rows, 'audit2rbac_demo_v1.log', 1);
    expect(first).toMatchObject({
      source: 'k8s_audit',
      source_event_id: '033d17af-082d-4b24-aa22-627752e83d71',
      time: '2017-09-11T19:55:05Z',
      action: 'list pods',
      target: 'default/pods',
      outcome: 'denied',
      actor_id: 'system:admin',
      actor_type: 'human',
      src_ip: '::1',
      reason: 'Forbidden: pods is forbidden: User "bob" cannot list pods in the namespace "default"',
    });
    expect(first.attrs).toMatchObject({ impersonated_user: 'bob', response_code: 403, groups: ['system:masters', 'system:authenticated'], api_version: 'audit.k8s.io/v1' });
    const sa = rowAt(rows, 'audit2rbac_demo_v1.log', 6);
    expect(sa.attrs).toMatchObject({ impersonated_user: 'system:serviceaccount:ns1:sa1', impersonated_groups: ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated'] });
    const nonResource = rowAt(rows, 'audit2rbac_demo_v1.log', 21);
    expect(nonResource).toMatchObject({ action: 'get /apis/batch/v1', outcome: 'success', target: '/apis/batch/v1' });
  });

  it('reads v1beta1 with both stages, and the decision annotations of EKS records', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(K8S, 'audit2rbac_demo_v1beta1_original_2017.log'), join(K8S, 'panther_Amazon_EKS_Audit_rule_tests.jsonl')]);
    const stages = new Set(rows.filter((r) => r.attrs?.api_version === 'audit.k8s.io/v1beta1').map((r) => r.attrs?.stage));
    expect(stages).toEqual(new Set(['RequestReceived', 'ResponseComplete']));
    const received = rows.find((r) => r.attrs?.stage === 'RequestReceived')!;
    expect(received.outcome).toBe('unknown');
    const coredns = rows.find((r) => r.actor_id === 'system:serviceaccount:kube-system:coredns')!;
    expect(coredns).toMatchObject({ actor_type: 'service_account', k8s_namespace: 'kube-system', k8s_service_account: 'coredns', action: 'watch endpointslices' });
    expect(coredns.attrs).toMatchObject({ decision: 'allow', authz_reason: expect.stringContaining('ClusterRoleBinding "system:coredns"') });
  });

  it('reads Falco trace events: subresources and response codes', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(FALCO, 'attach_pod.json')]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: 'create pods/attach',
      target: 'default/pods/nginx-deployment-7998647bdf-phvq7/attach',
      time: '2018-10-26T13:42:46.764713Z',
      outcome: 'success',
      actor_id: 'minikube-user',
      src_ip: '192.168.99.1',
    });
  });

  it("a pod's creation logged with its response names the pod, its uid and service account (rule 1 evidence), not the creating controller's", async () => {
    const { rows } = await ingestAndRead(tmp(), [join(FALCO, 'create_nginx_pod_unprivileged.json')]);
    expect(rows[0]).toMatchObject({
      action: 'create pods',
      actor_id: 'system:serviceaccount:kube-system:replicaset-controller',
      k8s_pod_uid: 'a2ad81ba-d85f-11e8-88b6-080027728ac4',
      k8s_pod: 'nginx-deployment-78f5d695bd-nxqz5',
      k8s_namespace: 'default',
      k8s_service_account: 'default',
    });
    // the controller does not act from the pod it created
    expect(rows[0]!.identity_chain.map((c) => [c.id, c.via])).toEqual([['system:serviceaccount:kube-system:replicaset-controller', 'actor']]);
  });
});
