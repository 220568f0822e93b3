/**
 * DESIGN.md linking rules 1 (process → workload) and 2 (process → credential material) on kernel
 * evidence written as the recorder contract specifies (test/helpers/kernel.ts), merged with the
 * demo's real Kubernetes audit, SPIRE and CloudTrail logs (fixtures/demo): pod ci/build-7f9c,
 * service account ci:deployer.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, verifyBundle } from '../../src/bundle/index.js';
import { Timeline, type TimelineRow } from '../../src/reconstruct/index.js';
import { ingest } from '../../src/ingest/ingest.js';
import { readRows } from '../helpers/bundle.js';
import { demoBundle } from '../helpers/demo.js';
import { processKey, writeKernelSegment, type KernelEvent, type KernelProcess } from '../helpers/kernel.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

const POD_UID = '5f0d6c1e-8a57-4c1b-9d6e-7b3a2f1c9e01'; // fixtures/demo/make-logs.mjs DEMO.pod.uid
const CONTAINER = 'c0ffee'.padEnd(64, '0');
const POD_CGROUP = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_UID.replaceAll('-', '_')}.slice/cri-containerd-${CONTAINER}.scope`;
const OTHER_CONTAINER = 'ab'.repeat(32);
const S = 1_000_000_000n;
/** Boot at 09:00:00 UTC on the demo day; `at` values are seconds after boot. */
const BOOT_TO_UTC = BigInt(Date.parse('2026-03-10T09:00:00Z')) * 1_000_000n;
const at = (seconds: number) => BigInt(seconds) * S;

// The compromised runner: a shell whose python reads the pod's token and connects; `cat` reads AWS
// credentials that its sibling `curl` then uses.
const shell: KernelProcess = { pid: 4100, start: at(3600), exe: '/bin/sh', argv: ['/bin/sh', '-c', 'run.sh'], comm: 'sh', cgroupId: 7001n, cgroupPath: POD_CGROUP };
const python: KernelProcess = { pid: 4210, start: at(3610), parent: shell, exe: '/usr/bin/python3', argv: ['python3', '/work/exfil.py'], comm: 'python3', cgroupId: 7001n, cgroupPath: POD_CGROUP };
const cat: KernelProcess = { pid: 4300, start: at(3620), parent: shell, exe: '/usr/bin/cat', argv: ['cat', '/root/.aws/credentials'], comm: 'cat', cgroupId: 7001n, cgroupPath: POD_CGROUP };
const curl: KernelProcess = { pid: 4301, start: at(3621), parent: shell, exe: '/usr/bin/curl', argv: ['curl', 'https://sts.amazonaws.com/'], comm: 'curl', cgroupId: 7001n, cgroupPath: POD_CGROUP };
// The same pid as python, later: another process (different start time), under another parent.
const daemon: KernelProcess = { pid: 300, start: at(5), exe: '/usr/sbin/cron', argv: ['cron'], comm: 'cron', cgroupId: 7001n, cgroupPath: POD_CGROUP };
const reused: KernelProcess = { pid: 4210, start: at(3640), parent: daemon, exe: '/usr/bin/wget', argv: ['wget', 'http://10.0.9.9/'], comm: 'wget', cgroupId: 7001n, cgroupPath: POD_CGROUP };
// Unrelated: host services under systemd, a login session, and a container of a pod no audit evidence names.
const systemd: KernelProcess = { pid: 1, start: at(0), exe: '/usr/lib/systemd/systemd', argv: ['/sbin/init'], comm: 'systemd', cgroupId: 2n, cgroupPath: '/init.scope' };
const sshd: KernelProcess = { pid: 812, start: at(12), parent: systemd, exe: '/usr/sbin/sshd', argv: ['sshd', '-D'], comm: 'sshd', cgroupId: 40n, cgroupPath: '/system.slice/ssh.service' };
const login: KernelProcess = { pid: 900, start: at(3607), parent: sshd, exe: '/bin/bash', argv: ['-bash'], comm: 'bash', cgroupId: 50n, cgroupPath: '/user.slice/user-0.slice/session-3.scope' };
const loginCurl: KernelProcess = { pid: 901, start: at(3609), parent: login, exe: '/usr/bin/curl', argv: ['curl', 'https://example.com/'], comm: 'curl', cgroupId: 50n, cgroupPath: '/user.slice/user-0.slice/session-3.scope' };
const agent: KernelProcess = { pid: 830, start: at(14), parent: systemd, exe: '/usr/bin/node-agent', argv: ['node-agent'], comm: 'node-agent', cgroupId: 42n, cgroupPath: '/system.slice/node-agent.service' };
const stranger: KernelProcess = { pid: 5100, start: at(3605), exe: '/app/server', argv: ['/app/server'], comm: 'server', cgroupId: 7100n, cgroupPath: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0e7e1f2a_3b4c_4d5e_8f90_a1b2c3d4e5f6.slice/cri-containerd-${OTHER_CONTAINER}.scope` };

// A host backup job that read an SSH key two hours before it connected: outside the window.
const backup: KernelProcess = { pid: 2200, start: at(90), parent: systemd, exe: '/usr/bin/rsync', argv: ['rsync', '-e', 'ssh', '/srv', 'backup:'], comm: 'rsync', cgroupId: 41n, cgroupPath: '/system.slice/backup.service' };

const EVENTS: KernelEvent[] = [
  { kind: 'open', proc: shell, at: at(3601), path: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' },
  { kind: 'exec', proc: python, at: at(3610) },
  { kind: 'open', proc: python, at: at(3612), path: '/var/run/secrets/kubernetes.io/serviceaccount/token' },
  { kind: 'open', proc: python, at: at(3613), path: '/root/.kube/config', outcome: 'failure' },
  { kind: 'connect', proc: python, at: at(3615), dst: ['10.96.0.1', 443], src: ['10.0.1.57', 51544] },
  { kind: 'exec', proc: cat, at: at(3620) },
  { kind: 'open', proc: cat, at: at(3620) + 1000n, path: '/root/.aws/credentials' },
  { kind: 'exec', proc: curl, at: at(3621) },
  { kind: 'connect', proc: curl, at: at(3622), dst: ['52.94.236.248', 443], src: ['10.0.1.57', 51550] },
  { kind: 'exec', proc: reused, at: at(3640) },
  { kind: 'connect', proc: reused, at: at(3641), dst: ['10.0.9.9', 80], src: ['10.0.1.57', 51560] },
  { kind: 'open', proc: sshd, at: at(3606), path: '/etc/shadow' },
  { kind: 'connect', proc: sshd, at: at(3608), dst: ['192.0.2.50', 22], outcome: 'failure', reason: 'ECONNREFUSED' },
  { kind: 'connect', proc: loginCurl, at: at(3610), dst: ['93.184.215.14', 443] },
  { kind: 'connect', proc: agent, at: at(3607), dst: ['192.0.2.70', 443] },
  { kind: 'exec', proc: stranger, at: at(3605) },
  { kind: 'open', proc: backup, at: at(100), path: '/root/.ssh/id_ed25519' },
  { kind: 'connect', proc: backup, at: at(7300), dst: ['192.0.2.60', 22] },
];

async function scenario(): Promise<{ bundle: string; rows: TimelineRow[] }> {
  const bundle = await demoBundle(tmp());
  await writeKernelSegment(bundle, EVENTS, { bootToUtcNs: BOOT_TO_UTC });
  return { bundle, rows: await readRows(bundle) };
}

const chainOf = (r: TimelineRow) => r.identity_chain.map((c) => [c.id, c.type, c.via]);
function kernelRow(rows: TimelineRow[], p: KernelProcess, action: string, target?: string): TimelineRow {
  const hit = rows.find((r) => r.source === 'kernel' && r.process_key === processKey(p) && r.action === action && (target === undefined || r.target === target));
  if (!hit) throw new Error(`no kernel ${action} row of pid ${p.pid}`);
  return hit;
}
const linksOf = (r: TimelineRow, rule: string) => r.links.filter((l) => l.rule === rule);

describe('the kernel fixture', () => {
  it('is a sealed kernel segment the manifest names, with the host\'s boot id and clock offset, and the bundle verifies', async () => {
    const { bundle } = await scenario();
    const m = await readManifest(bundle);
    const seg = m.entries.find((e) => e.kind === 'kernel')!;
    expect(seg).toMatchObject({ path: 'kernel/node-1/seg-000001.parquet', rows: EVENTS.length });
    expect(m.hosts).toEqual([expect.objectContaining({ name: 'node-1', boot_id: expect.any(String), clock_offsets: [expect.objectContaining({ segment: seg.path, boot_to_utc_ns: String(BOOT_TO_UTC) })] })]);
    const report = await verifyBundle(bundle);
    expect(report).toMatchObject({ ok: true, problems: [], incomplete: [] });
  });
});

describe('rule 1, process-workload: a kernel row → container → pod → service account (Kubernetes audit by pod uid)', () => {
  it("an exec in build-7f9c's container resolves to ci/build-7f9c, ci:deployer and its SPIFFE id", async () => {
    const { rows } = await scenario();
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    const exec = kernelRow(rows, python, 'exec');
    expect(exec).toMatchObject({ k8s_pod_uid: POD_UID, container_id: CONTAINER, source_ref: 'kernel/node-1/seg-000001.parquet:2', exe: '/usr/bin/python3', argv: ['python3', '/work/exfil.py'] });
    expect(chainOf(exec)).toEqual([
      [processKey(python), 'process', 'actor'],
      [CONTAINER, 'container', 'process-workload'],
      ['ci/build-7f9c', 'workload', 'process-workload'],
      ['system:serviceaccount:ci:deployer', 'service_account', 'process-workload'],
      ['spiffe://example.org/ns/ci/sa/deployer', 'workload', 'spiffe-svid'],
      ['alice@example.com', 'human', 'created-by'], // rule 5: she bound ci:deployer the day before
      ['uid:0 (/opt/spire/bin/spire-server)', 'human', 'created-by'], // and the SPIRE admin who registered its SPIFFE id
    ]);
    // the pod step's evidence is a Kubernetes audit row of that pod uid
    const [link] = linksOf(exec, 'process-workload');
    expect(link?.confidence).toBe('exact');
    const evidence = byId.get(link!.event_id)!;
    expect(evidence).toMatchObject({ source: 'k8s_audit', k8s_pod_uid: POD_UID, k8s_namespace: 'ci', k8s_pod: 'build-7f9c', k8s_service_account: 'deployer' });
    expect(exec.identity_chain[2]!.event_id).toBe(link!.event_id);
    // the timeline names the workload on the row
    expect(exec).toMatchObject({ k8s_namespace: 'ci', k8s_pod: 'build-7f9c', k8s_service_account: 'deployer' });
    // every kernel row of the pod's container carries it, whatever its kind
    for (const r of rows.filter((x) => x.source === 'kernel' && x.k8s_pod_uid === POD_UID)) expect(r.k8s_pod).toBe('build-7f9c');
  });

  it("a pod's creation (a real audit record, replicaset controller) is evidence too", async () => {
    const bundle = join(tmp(), 'bundle');
    await ingest({ bundle, inputs: [join(SAMPLES, 'k8s_audit/falco_trace_files_k8s_audit/create_nginx_pod_unprivileged.json')] });
    const nginx: KernelProcess = { pid: 2310, start: 50n * S, exe: '/usr/sbin/nginx', argv: ['nginx', '-g', 'daemon off;'], comm: 'nginx', cgroupId: 9100n, cgroupPath: `/kubepods/besteffort/poda2ad81ba-d85f-11e8-88b6-080027728ac4/${'e1'.repeat(32)}` };
    await writeKernelSegment(bundle, [{ kind: 'exec', proc: nginx, at: 60n * S }], { bootToUtcNs: BigInt(Date.parse('2018-10-25T14:09:00Z')) * 1_000_000n });
    const rows = await readRows(bundle);
    const exec = kernelRow(rows, nginx, 'exec');
    const create = rows.find((r) => r.action === 'create pods')!;
    expect(chainOf(exec)).toEqual([
      [processKey(nginx), 'process', 'actor'],
      ['e1'.repeat(32), 'container', 'process-workload'],
      ['default/nginx-deployment-78f5d695bd-nxqz5', 'workload', 'process-workload'],
      ['system:serviceaccount:default:default', 'service_account', 'process-workload'],
    ]);
    expect(exec.links).toEqual([{ rule: 'process-workload', confidence: 'exact', event_id: create.event_id }]);
  });

  it('a host process and a container of a pod no evidence names get no workload', async () => {
    const { rows } = await scenario();
    const host = kernelRow(rows, sshd, 'connect');
    expect(chainOf(host)).toEqual([[processKey(sshd), 'process', 'actor']]);
    expect(linksOf(host, 'process-workload')).toEqual([]);
    expect(host.k8s_pod).toBeNull();
    const other = kernelRow(rows, stranger, 'exec');
    expect(chainOf(other)).toEqual([
      [processKey(stranger), 'process', 'actor'],
      [OTHER_CONTAINER, 'container', 'process-workload'],
    ]);
    expect(other.links).toEqual([]);
    expect(other.k8s_pod).toBeNull();
  });

  it('--workload ci/build-7f9c (or ci:deployer) selects the kernel rows of that pod, not the others', async () => {
    const { bundle } = await scenario();
    const tl = await Timeline.open([bundle]);
    try {
      for (const w of ['ci/build-7f9c', 'build-7f9c', 'ci/deployer']) {
        const q = await tl.query({ workload: w, sources: ['kernel'] });
        const rows: TimelineRow[] = [];
        for await (const batch of q.rows()) rows.push(...batch);
        expect(rows.length).toBe(EVENTS.filter((e) => e.proc.cgroupPath === POD_CGROUP).length);
        expect(rows.every((r) => r.k8s_pod_uid === POD_UID)).toBe(true);
      }
      const none = await tl.query({ workload: 'monitoring/metrics-exporter-5d8b', sources: ['kernel'] });
      expect(await none.count()).toBe(0);
    } finally {
      tl.close();
    }
  });
});

describe('rule 2, credential-material: a connect → the credential opens before it by the process or its ancestry', () => {
  it("python's connect links to its own earlier read of the pod's token (strong), both ways", async () => {
    const { rows } = await scenario();
    const connect = kernelRow(rows, python, 'connect');
    const token = kernelRow(rows, python, 'open', '/var/run/secrets/kubernetes.io/serviceaccount/token');
    const irsa = kernelRow(rows, shell, 'open');
    expect(linksOf(connect, 'credential-material')).toEqual(expect.arrayContaining([
      { rule: 'credential-material', confidence: 'strong', event_id: token.event_id, material: 'k8s-service-account-token' },
      // its parent shell's read of the IRSA web identity token: an ancestor's read, strong too
      { rule: 'credential-material', confidence: 'strong', event_id: irsa.event_id, material: 'aws-web-identity-token' },
    ]));
    expect(linksOf(connect, 'credential-material')).toHaveLength(2);
    expect(linksOf(token, 'credential-material')).toContainEqual({ rule: 'credential-material', confidence: 'strong', event_id: connect.event_id, material: 'k8s-service-account-token' });
    // the failed open of a kubeconfig read nothing
    const failed = kernelRow(rows, python, 'open', '/root/.kube/config');
    expect(linksOf(failed, 'credential-material')).toEqual([]);
    // and the connection's workload is the token's: ci:deployer
    expect(connect.identity_chain.map((c) => c.id)).toContain('system:serviceaccount:ci:deployer');
  });

  it("curl's connect links to the AWS credentials its sibling cat read in the same shell (inferred)", async () => {
    const { rows } = await scenario();
    const connect = kernelRow(rows, curl, 'connect');
    const creds = kernelRow(rows, cat, 'open');
    // python, another child of the same shell, read the pod's token before curl connected: a sibling's read too
    const token = kernelRow(rows, python, 'open', '/var/run/secrets/kubernetes.io/serviceaccount/token');
    const links = linksOf(connect, 'credential-material');
    expect(links).toHaveLength(3);
    expect(links).toEqual(expect.arrayContaining([
      { rule: 'credential-material', confidence: 'strong', event_id: kernelRow(rows, shell, 'open').event_id, material: 'aws-web-identity-token' },
      { rule: 'credential-material', confidence: 'inferred', event_id: creds.event_id, material: 'aws-credentials' },
      { rule: 'credential-material', confidence: 'inferred', event_id: token.event_id, material: 'k8s-service-account-token' },
    ]));
    expect(linksOf(creds, 'credential-material')).toEqual([{ rule: 'credential-material', confidence: 'inferred', event_id: connect.event_id, material: 'aws-credentials' }]);
  });

  it('a reused pid (same pid, later start time) does not pick up the earlier process\'s opens', async () => {
    const { rows } = await scenario();
    const connect = kernelRow(rows, reused, 'connect');
    expect(connect.pid).toBe(python.pid);
    expect(linksOf(connect, 'credential-material')).toEqual([]);
    // still the same pod: rule 1 is by cgroup, not pid
    expect(connect.k8s_pod).toBe('build-7f9c');
  });

  it('a credential read longer ago than the window is not linked', async () => {
    const { rows } = await scenario();
    expect(linksOf(kernelRow(rows, backup, 'connect'), 'credential-material')).toEqual([]);
    expect(linksOf(kernelRow(rows, backup, 'open'), 'credential-material')).toEqual([]);
  });

  it('a host process\'s read of /etc/shadow links to its own connect only: not the pod\'s, its session\'s or another service\'s', async () => {
    const { rows } = await scenario();
    const shadow = kernelRow(rows, sshd, 'open');
    const connect = kernelRow(rows, sshd, 'connect');
    expect(linksOf(shadow, 'credential-material')).toEqual([{ rule: 'credential-material', confidence: 'strong', event_id: connect.event_id, material: 'password-hashes' }]);
    // not its login session's child (an ancestor, but another cgroup), nor another service started by systemd (a sibling, another cgroup)
    expect(linksOf(kernelRow(rows, loginCurl, 'connect'), 'credential-material')).toEqual([]);
    expect(linksOf(kernelRow(rows, agent, 'connect'), 'credential-material')).toEqual([]);
  });
});
