import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLogrusText, parseSelectors, spire } from '../../src/ingest/sources/spire.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { quarantinedOf } from '../helpers/quarantine.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

/*
 * Inputs (origin of every line: test/fixtures/sources/MANIFEST.md):
 *  - samples/spire/spiffe_io_spire_0.8.2_k8s_server_and_agent.log: spiffe.io getting-started page, SPIRE 0.8.2.
 *  - spire_real_log_lines.log: lines pasted by users in spiffe/spire#3092 (1-4), spiffe/spire-tutorials#75 (5-9),
 *    tiiuae/ghaf#1853 (10, journalctl), spiffe/spire#6257 (11, agent 1.12.4), spiffe/spire#7272 (12, agent 1.15.3).
 *  - spire_server_api_and_svids.log: line 1 from Cosmian/kms#1075 (time added); lines 2-5 composed from spiffe/spire
 *    pkg/server/api/audit, entry/v1 and svid/v1 sources; 6-7 lines 4 (of the file above) and 2 in logrus JSON.
 *  - spire_agent_workload_events.log: composed from spiffe/spire#4599, #863, #6179, #3092.
 *  - spire_agent_terminal_format.log: spiffe/spire#4599, verbatim (logrus TTY format).
 */

const tmp = useTmpDir();
const SPIRE = join(SAMPLES, 'spire');
const MINE = new URL('../fixtures/sources/spire/', import.meta.url).pathname;
const SAMPLE = 'spiffe_io_spire_0.8.2_k8s_server_and_agent.log';
const REAL = 'spire_real_log_lines.log';
const SERVER = 'spire_server_api_and_svids.log';
const AGENT = 'spire_agent_workload_events.log';
const TTY = 'spire_agent_terminal_format.log';

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

const AGENT_ID = 'spiffe://example.org/spire/agent/k8s_sat/demo-cluster/578c8d2a-4713-468c-9619-35d5b3ec848e';

describe('SPIRE log parser on the public sample', () => {
  it('accounts for every line; the Markdown page is not a log', async () => {
    const { summary, bundle } = await ingestAndRead(tmp(), [join(SPIRE, SAMPLE), join(SPIRE, 'spiffe_io_getting-started-k8s_at_b956d90.md')]);
    const s = summary.files.find((f) => f.input.endsWith(SAMPLE))!;
    expect(s).toMatchObject({ source: 'spire', accepted: 8, quarantined: 6 });
    expect(s.accepted + s.quarantined).toBe(lines(join(SPIRE, SAMPLE)));
    expect(summary.files.find((f) => f.input.endsWith('.md'))).toMatchObject({ status: 'unrecognized' });
    expect(quarantinedOf(bundle, SAMPLE).map((q) => q.line)).toEqual([1, 2, 3, 4, 13, 14]);
    expect(quarantinedOf(bundle, SAMPLE)[0]!.reason).toBe('SPIRE log line is not an identity event (start-up, listener or internal state): "Initializing API endpoints"');
  });

  it('reads node attestation and the agent SVID it signed (no serial in 0.8.2: spiffe id + expiry)', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(SPIRE, SAMPLE)]);
    expect(rowAt(rows, SAMPLE, 6)).toMatchObject({
      source: 'spire',
      time: '2019-10-17T20:48:55Z',
      category: 'credential',
      action: 'spire-server:svid.x509.sign',
      outcome: 'success',
      spiffe_id: AGENT_ID,
      issued_credential_id: `${AGENT_ID}@2019-10-17T21:48:55Z`,
      issued_credential_type: 'x509_svid',
      issued_credential_expires: '2019-10-17T21:48:55Z',
      issued_to: AGENT_ID,
    });
    expect(rowAt(rows, SAMPLE, 6).attrs).toMatchObject({ credential_id_basis: 'spiffe_id+expiry', subsystem: 'ca', level: 'debug', component: 'spire-server' });
    expect(rowAt(rows, SAMPLE, 7)).toMatchObject({
      category: 'auth',
      action: 'spire-server:node.attest',
      outcome: 'success',
      actor_id: AGENT_ID,
      actor_type: 'agent',
      spiffe_id: AGENT_ID,
      src_ip: '10.0.2.15',
      src_port: 41048,
    });
    expect(rowAt(rows, SAMPLE, 7).attrs).toMatchObject({ fields: { attestor: 'k8s_sat' } });
    expect(rowAt(rows, SAMPLE, 5)).toMatchObject({ action: 'spire-server:svid.agent.csr', category: 'credential', spiffe_id: AGENT_ID });
    expect(rowAt(rows, SAMPLE, 8)).toMatchObject({ action: 'spire-agent:lifecycle.start', outcome: 'success' });
    expect(rowAt(rows, SAMPLE, 8).attrs).toMatchObject({ msg: 'Starting agent with data directory: "/run/spire"' });
    // A workload attestor is an agent plugin; a node attestor or key manager could be either.
    expect(rowAt(rows, SAMPLE, 11)).toMatchObject({ action: 'spire-agent:plugin.load', target: 'WorkloadAttestor/k8s' });
    expect(rowAt(rows, SAMPLE, 9)).toMatchObject({ action: 'spire:plugin.load', target: 'NodeAttestor/k8s_sat' });
  });
});

describe('SPIRE log parser on current SPIRE lines', () => {
  it('accounts for every line of every input', async () => {
    const files = [REAL, SERVER, AGENT, TTY];
    const { summary } = await ingestAndRead(tmp(), files.map((f) => join(MINE, f)));
    for (const f of files) {
      const s = summary.files.find((x) => x.input.endsWith(`/${f}`))!;
      expect(s.source, f).toBe('spire');
      expect(s.accepted + s.quarantined, f).toBe(lines(join(MINE, f)));
    }
    expect(summary.files.find((x) => x.input.endsWith(REAL))).toMatchObject({ accepted: 7, quarantined: 5 });
    expect(summary.files.find((x) => x.input.endsWith(SERVER))).toMatchObject({ accepted: 7, quarantined: 0 });
    expect(summary.files.find((x) => x.input.endsWith(AGENT))).toMatchObject({ accepted: 4, quarantined: 1 });
    // The terminal format carries no wall-clock time: detected as SPIRE, every line quarantined with that reason.
    expect(summary.files.find((x) => x.input.endsWith(TTY))).toMatchObject({ accepted: 0, quarantined: 4 });
  });

  it('workload attestation: k8s selectors become the pod columns', async () => {
    const { rows, bundle } = await ingestAndRead(tmp(), [join(MINE, REAL)]);
    const attested = rowAt(rows, REAL, 12);
    expect(attested).toMatchObject({
      time: '2026-09-07T22:07:31.976203029Z',
      category: 'auth',
      action: 'spire-agent:workload.attest',
      outcome: 'success',
      actor_id: 'default/spire-svid-checker-c89vv',
      actor_type: 'workload',
      pid: 12293,
      k8s_namespace: 'default',
      k8s_service_account: 'default',
      k8s_pod: 'spire-svid-checker-c89vv',
      k8s_pod_uid: 'f0489b5b-fc26-4a18-a030-11a1d0837b7c',
      k8s_node: 'minikube',
    });
    expect((attested.attrs!.selectors as string[]).slice(0, 3)).toEqual(['k8s:sa:default', 'k8s:ns:default', 'k8s:node-name:minikube']);
    expect(attested.attrs!.selectors).toHaveLength(15);
    // journald and test-harness prefixes: the line behind them is read, the syslog host kept.
    expect(rowAt(rows, REAL, 10)).toMatchObject({
      host: 'ghaf-0967625029',
      action: 'spire-agent:node.attest',
      actor_id: 'spiffe://ghaf.internal/spire/agent/x509pop/5f0ea0d6ed6da20526c9c41b4cd4fa17d1b1ee2e',
      actor_type: 'agent',
    });
    expect(rowAt(rows, REAL, 10).attrs).toMatchObject({ fields: { reattestable: 'true', trust_domain_id: 'spiffe://ghaf.internal' } });
    expect(rowAt(rows, REAL, 11)).toMatchObject({ action: 'spire-agent:lifecycle.start' });
    expect(rowAt(rows, REAL, 11).attrs).toMatchObject({ fields: { version: '1.12.4', data_dir: '/var/lib/spire-agent' } });
    expect(rowAt(rows, REAL, 5)).toMatchObject({ action: 'spire:log.warning', outcome: 'unknown', reason: 'Current umask 0022 is too permissive; setting umask 0027' });
    expect(rowAt(rows, REAL, 4)).toMatchObject({ action: 'spire-server:svid.x509.sign', issued_to: 'spiffe://example.org/spire/agent/k8s_sat/demo-cluster/1be11f43-e9e7-41b6-80a4-4dc816b1e889' });
    expect(quarantinedOf(bundle, REAL).map((q) => q.line)).toEqual([1, 2, 3, 8, 9]);
  });

  it('server: SVID serials, the agent that asked, registration entries and who changed them', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(MINE, SERVER)]);
    const workloadId = 'spiffe://example.org/ns/payments/sa/payments-api';
    const agentId = 'spiffe://example.org/spire/agent/k8s_psat/prod/7e1f3a5c-9b2d-4f6e-8a0c-2e4f6a8b0c1d';
    expect(rowAt(rows, SERVER, 4)).toMatchObject({
      source_event_id: 'f1e2d3c4-b5a6-4978-8f0e-1d2c3b4a5f6e',
      action: 'spire-server:svid.x509.sign',
      spiffe_id: workloadId,
      issued_credential_id: '219430172947561028377465320175019283746',
      issued_credential_expires: '2026-03-10T11:01:58Z',
      issued_to: workloadId,
      actor_id: agentId,
      actor_type: 'agent',
      src_ip: '10.42.0.12',
      src_port: 39514,
    });
    expect(rowAt(rows, SERVER, 4).attrs).toMatchObject({ credential_id_basis: 'serial' });
    expect(rowAt(rows, SERVER, 5)).toMatchObject({
      action: 'spire-server:svid.jwt.sign',
      issued_credential_type: 'jwt_svid',
      issued_credential_id: `${workloadId}@2026-03-10T10:07:03Z`,
      issued_credential_expires: '2026-03-10T10:07:03Z',
    });
    expect(rowAt(rows, SERVER, 1)).toMatchObject({
      source_event_id: '92959cd6-c6d1-4cb3-9837-d8d91430e374',
      action: 'spire-server:node.attest',
      actor_id: 'spiffe://cosmian-test-a.local/spire/agent/join_token/bc1abb25-7262-4e40-9c2e-0117549d7fbc',
      src_ip: '::1',
      src_port: 40690,
    });
    expect(rowAt(rows, SERVER, 1).attrs).toMatchObject({ fields: { node_attestor_type: 'join_token', authorized_via: '' } });
    const created = rowAt(rows, SERVER, 2);
    expect(created).toMatchObject({
      category: 'api',
      action: 'spire-server:api.BatchCreateEntry',
      outcome: 'success',
      actor_id: 'uid:0 (/opt/spire/bin/spire-server)',
      actor_type: 'human',
      uid: 0,
      exe: '/opt/spire/bin/spire-server',
      spiffe_id: workloadId,
      target: workloadId,
      k8s_namespace: 'payments',
      k8s_service_account: 'payments-api',
    });
    expect(created.attrs).toMatchObject({ selectors: ['k8s:ns:payments', 'k8s:sa:payments-api'], fields: { entry_id: '5a4b9c2e-7d1f-4e3a-8b6c-0d2e4f6a8b1c', type: 'audit' } });
    expect(rowAt(rows, SERVER, 3)).toMatchObject({
      action: 'spire-server:api.BatchDeleteEntry',
      outcome: 'denied',
      reason: 'PermissionDenied: authorization denied for method /spire.api.server.entry.v1.Entry/BatchDeleteEntry',
      actor_id: 'spiffe://example.org/ns/ci/sa/deployer',
      actor_type: 'workload',
      src_ip: '10.42.3.9',
    });
    // JSON format gives the same columns as text.
    const fromJson = rowAt(rows, SERVER, 7);
    const { event_id: _a, source_ref: _b, attrs: jsonAttrs, links: _c, identity_chain: _d, ...jsonCols } = fromJson;
    const { event_id: _e, source_ref: _f, attrs: textAttrs, links: _g, identity_chain: _h, ...textCols } = created;
    expect(jsonCols).toEqual(textCols);
    expect(jsonAttrs).toMatchObject({ log_format: 'json' });
    expect(textAttrs).toMatchObject({ log_format: 'text' });
    expect(rowAt(rows, SERVER, 6)).toMatchObject({ action: 'spire-server:svid.x509.sign', issued_credential_id: 'spiffe://example.org/spire/agent/k8s_sat/demo-cluster/1be11f43-e9e7-41b6-80a4-4dc816b1e889@2022-05-18T12:07:47Z' });
  });

  it('agent: SVID creation and rotation, a workload refused an identity, a failed attestation', async () => {
    const { rows, bundle } = await ingestAndRead(tmp(), [join(MINE, AGENT)]);
    expect(rowAt(rows, AGENT, 1)).toMatchObject({ action: 'spire-agent:svid.x509.create', category: 'credential', spiffe_id: 'spiffe://example.org/ns/payments/sa/payments-api', issued_to: 'spiffe://example.org/ns/payments/sa/payments-api', issued_credential_id: null });
    expect(rowAt(rows, AGENT, 2)).toMatchObject({ action: 'spire-agent:svid.x509.renew', category: 'credential' });
    expect(rowAt(rows, AGENT, 3)).toMatchObject({
      action: 'spire-agent:workload.svid.fetch',
      outcome: 'denied',
      actor_id: 'default/debug-shell',
      k8s_pod_uid: '3f9a1c2e-8b7d-4e6f-a5c4-0d1e2f3a4b5c',
      pid: 48211,
    });
    expect(rowAt(rows, AGENT, 4)).toMatchObject({
      action: 'spire-agent:workload.attest',
      outcome: 'failure',
      reason: 'workload attestor "k8s" failed: rpc error: code = DeadlineExceeded desc = workloadattestor(k8s): no selectors found after max poll attempts',
      pid: 48244,
    });
    expect(quarantinedOf(bundle, AGENT).map((q) => [q.line, q.reason])).toEqual([[5, 'malformed logrus key=value line']]);
  });

  it('bad input: quarantined with reasons, never thrown; escapes kept as evidence', async () => {
    const dir = tmp();
    const file = join(dir, 'spire-bad.log');
    writeFileSync(
      file,
      [
        'time="2026-01-01T00:00:00Z" level=info msg="Node attestation was successful" spiffe_id="spiffe://example.org/spire/agent/x/\\x1b[2Jevil" subsystem_name=attestor',
        'time="not a time" level=info msg="Signed X509 SVID" spiffe_id="spiffe://example.org/a" subsystem_name=ca',
        'level=info msg="Signed X509 SVID" spiffe_id="spiffe://example.org/a"',
        'time="2026-01-01T00:00:01Z" level=info spiffe_id="spiffe://example.org/a"',
        '{"level":"info","msg":"Signed X509 SVID","time":"2026-01-01T00:00:02Z"',
        'panic: runtime error: invalid memory address or nil pointer dereference',
        'time="2026-01-01T00:00:03Z" level=info msg="bad \\q escape"',
      ].join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'spire', accepted: 1, quarantined: 6 });
    expect(rows[0]!.spiffe_id).toBe('spiffe://example.org/spire/agent/x/\u001b[2Jevil');
    expect(quarantinedOf(bundle, 'spire-bad.log').map((q) => [q.line, q.reason])).toEqual([
      [2, 'time is not a timestamp: "not a time"'],
      [3, 'log line without time'],
      [4, 'log line without msg'],
      [5, 'malformed JSON line'],
      [6, 'not a SPIRE log line (expected logrus key=value text or JSON)'],
      [7, 'malformed logrus key=value line'],
    ]);
    expect(parseLogrusText('time="x" a=1 b="two words" c=')).toEqual({ time: 'x', a: '1', b: 'two words', c: '' });
    expect(parseSelectors('k8s:ns:a,k8s:sa:b,unix:uid:0')).toMatchObject({ namespace: 'a', serviceAccount: 'b', uid: 0 });
    for (const v of [null, 7, {}, '', '=', 'time=', 'time="', '"', 'x'.repeat(10_000)]) expect(() => spire.parse(v, { line: 1, pointer: '' })).not.toThrow();
    // A generic logrus line from another program is not taken for SPIRE.
    expect(spire.detect('time="2026-01-01T00:00:00Z" level=info msg="Starting containerd" version=1.7')).toBe(false);
    expect(spire.detect('time="2026-01-01T00:00:00Z" level=info msg="API accessed"')).toBe(false);
    expect(spire.detect('time="2026-01-01T00:00:00Z" level=info msg="Starting server" addr=":8080"')).toBe(false);
    expect(spire.detect('INFO[0000] Starting server on :8080')).toBe(false);
    expect(spire.detect('# bypass-global-date-remapper-parse-failure-checks')).toBe(false);
    // What a SPIRE file's first line usually is, with no subsystem or SPIFFE id on it.
    expect(spire.detect('time="2022-04-25T22:04:43Z" level=warning msg="Current umask 0022 is too permissive; setting umask 0027"')).toBe(true);
    expect(spire.detect('time="2025-10-01T11:33:20Z" level=info msg="Starting agent" data_dir=/var/lib/spire-agent version=1.12.4')).toBe(true);
  });
});
