import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decisionOf, opa } from '../../src/ingest/sources/opa.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { quarantinedOf } from '../helpers/quarantine.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const OPA = join(SAMPLES, 'opa_decision');
const MINE = new URL('../fixtures/sources/opa/', import.meta.url).pathname;
const UPLOAD = 'opa_docs_decision_log_upload_example.json';
const CONSOLE = 'osm_opa_envoy_console_decision_logs.jsonl';
const ISTIO = 'opa_envoy_istio_console.log';
const BODY = 'opa_decision_upload_body.json';

describe('OPA decision log parser on public samples', () => {
  it('accounts for every decision; the Markdown page is not a log', async () => {
    const { summary } = await ingestAndRead(tmp(), [join(OPA, UPLOAD), join(OPA, CONSOLE), join(OPA, 'osm_external_auth_opa_at_138f735.md')]);
    const upload = JSON.parse(readFileSync(join(OPA, UPLOAD), 'utf8')) as unknown[];
    const consoleLines = readFileSync(join(OPA, CONSOLE), 'utf8').split('\n').filter(Boolean).length;
    expect(summary.files.find((f) => f.input.endsWith(UPLOAD))).toMatchObject({ source: 'opa', accepted: upload.length, quarantined: 0 });
    expect(summary.files.find((f) => f.input.endsWith(CONSOLE))).toMatchObject({ source: 'opa', accepted: consoleLines, quarantined: 0 });
    expect(summary.files.find((f) => f.input.endsWith('.md'))).toMatchObject({ status: 'unrecognized' });
  });

  it("reads the upload body as published, template placeholder and string result included", async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OPA, UPLOAD)]);
    const d = rowAt(rows, UPLOAD, 1, '/0');
    expect(d).toMatchObject({
      source: 'opa',
      source_event_id: '4ca636c1-55e4-417a-b1d8-4aceb67960d1',
      time: '2018-01-01T00:00:00Z',
      category: 'policy',
      action: 'opa:data.http.example.authz.allow',
      outcome: 'allowed',
      target: 'GET /salary/bob',
      actor_id: null,
    });
    // "result": "true" is a string in the docs; it is read as the boolean it spells, and said so.
    // "{{ current_version }}" is a docs template never rendered: kept verbatim and flagged.
    expect(d.attrs).toMatchObject({
      result_type: 'string',
      bundles: { authz: 'W3sibCI6InN5cy9jYXRhbG9nIiwicyI6NDA3MX1d' },
      labels: { app: 'my-example-app', id: '1780d507-aea2-45cc-ae50-fa153c8e4a5a', version: '{{ current_version }}' },
      unrendered_template: ['labels.version'],
      requested_by: '[::1]:59943',
    });
  });

  it('reads Envoy ext_authz console decisions: method and path, peer addresses, deny and allow', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(OPA, CONSOLE)]);
    expect(rowAt(rows, CONSOLE, 1)).toMatchObject({
      source_event_id: '1df154b5-658a-47bf-ac18-be52998605da',
      time: '2021-05-04T01:21:18.197180800Z', // "2021-05-04T01:21:18.1971808Z", ns precision
      action: 'opa:data.envoy.authz.allow',
      outcome: 'denied',
      target: 'GET /books-bought',
      src_ip: '10.244.2.10',
      src_port: 53488,
      dst_ip: '10.0.16.44',
      dst_port: 14001,
      spiffe_id: null, // OSM did not pass a principal
      user_agent: 'Go-http-client/1.1',
      protocol: 'http/1.1',
    });
    expect(rowAt(rows, CONSOLE, 1).attrs).toMatchObject({
      host: 'bookstore.bookstore:14001',
      headers: { x_request_id: '69b80716-6af4-4986-bf8c-8f209d96f131' },
      ext_authz: 'v3',
      labels: { version: '0.28.0-envoy' },
      log_type: 'openpolicyagent.org/decision_logs',
    });
    expect(rowAt(rows, CONSOLE, 2)).toMatchObject({ outcome: 'allowed', target: 'GET /buy-a-book/new', src_port: 48860 });
  });
});

describe('OPA decision log parser on mesh and generic decisions', () => {
  it('Istio mTLS: the caller is the source principal; server log lines are quarantined, not lost', async () => {
    const { rows, bundle, summary } = await ingestAndRead(tmp(), [join(MINE, ISTIO)]);
    expect(summary.files[0]).toMatchObject({ source: 'opa', accepted: 4, quarantined: 2 });
    expect(quarantinedOf(bundle, ISTIO).map((q) => [q.line, q.reason])).toEqual([
      [1, 'OPA server log line, not a decision: "Initializing server."'],
      [6, 'OPA server log line, not a decision: "OPA is out of date."'],
    ]);
    const denied = rowAt(rows, ISTIO, 2);
    expect(denied).toMatchObject({
      outcome: 'denied',
      target: 'GET /admin/config',
      actor_id: 'spiffe://cluster.local/ns/default/sa/sleep',
      actor_type: 'workload',
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/sleep',
      src_ip: '10.42.1.23',
      src_port: 47212,
      dst_ip: '10.42.2.31',
      dst_port: 8000,
    });
    expect(denied.attrs).toMatchObject({ dst_principal: 'spiffe://cluster.local/ns/default/sa/httpbin', host: 'httpbin.default.svc.cluster.local:8000' });
    expect(rowAt(rows, ISTIO, 3)).toMatchObject({ outcome: 'allowed', target: 'GET /headers', spiffe_id: 'spiffe://cluster.local/ns/default/sa/sleep' });

    // ext_authz v2 input; object result with allowed/http_status/body.
    const v2 = rowAt(rows, ISTIO, 4);
    expect(v2).toMatchObject({ action: 'opa:data.istio.authz.allow', outcome: 'denied', reason: 'Unauthorized Request', src_ip: '172.17.0.10', src_port: 36472, dst_ip: '172.17.0.17', dst_port: 9080, target: 'GET /api/v1/products?lang=en' });
    expect(v2.attrs).toMatchObject({ result_type: 'object.allowed', http_status: 403 });
    // v3 primer input: its destination "172.17.06" is not an address; kept aside, not put in dst_ip.
    const v3 = rowAt(rows, ISTIO, 5);
    expect(v3).toMatchObject({ outcome: 'allowed', dst_ip: null, dst_port: 8000, src_ip: '172.17.0.1', target: 'POST /people?lang=en' });
    expect(v3.attrs).toMatchObject({ dst_address: '172.17.06' });
    // Credentials in request headers never reach a column or attrs.
    expect(JSON.stringify(rows)).not.toMatch(/YWxpY2U6cGFzc3dvcmQ|eyJhbGciOiJIUzI1Ni|x-forwarded-client-cert/);
  });

  it('generic inputs: principal fields, object and boolean results, undefined results and ad-hoc queries', async () => {
    const { rows, summary } = await ingestAndRead(tmp(), [join(MINE, BODY)]);
    expect(summary.files[0]).toMatchObject({ source: 'opa', accepted: 4, quarantined: 0 });
    const a = rowAt(rows, BODY, 1, '/0');
    expect(a).toMatchObject({ action: 'opa:data.finance.authz.allow', outcome: 'allowed', reason: 'owner may read own salary', actor_id: 'alice', actor_type: 'unknown', target: 'GET /finance/salary/alice' });
    expect(a.attrs).toMatchObject({ result_type: 'object.allow', erased: ['/input/password'], req_id: 41, policy_path: 'finance/authz/allow' });
    expect(rowAt(rows, BODY, 1, '/1')).toMatchObject({
      outcome: 'denied',
      actor_id: 'spiffe://example.org/ns/payments/sa/payments-api',
      actor_type: 'workload',
      spiffe_id: 'spiffe://example.org/ns/payments/sa/payments-api',
      target: 'read secret/data/prod/root-ca',
    });
    expect(rowAt(rows, BODY, 1, '/2')).toMatchObject({ action: 'opa:data.system.main', outcome: 'unknown', reason: 'result is undefined (no decision was returned)', target: 'DELETE /finance/ledger' });
    expect(rowAt(rows, BODY, 1, '/3')).toMatchObject({ action: 'opa:query', outcome: 'unknown', reason: 'result is an array (query result sets), not a decision', actor_id: 'bob' });
  });

  it('bad input: quarantined with reasons, never thrown', async () => {
    const dir = tmp();
    const file = join(dir, 'opa-bad.jsonl');
    const ok = { decision_id: 'd1', path: 'a/b', input: { method: 'GET', path: '/x' }, result: true, timestamp: '2026-01-01T00:00:00Z' };
    writeFileSync(
      file,
      [
        JSON.stringify(ok),
        JSON.stringify({ ...ok, decision_id: 'd2', timestamp: 'soon' }),
        JSON.stringify({ ...ok, decision_id: 'd3', timestamp: undefined }),
        JSON.stringify({ hello: 'world' }),
        JSON.stringify({ ...ok, decision_id: 'd5', timestamp: '2026-01-01T00:00:01Z', input: { attributes: { source: { address: 'x' }, request: 5 } }, result: { allowed: 'yes' } }),
        '{"decision_id": "d6", "path": ',
      ].join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'opa', accepted: 2, quarantined: 4 });
    expect(rows.map((r) => [r.source_event_id, r.outcome])).toEqual([
      ['d1', 'allowed'],
      ['d5', 'unknown'],
    ]);
    expect(quarantinedOf(bundle, 'opa-bad.jsonl').map((q) => [q.line, q.reason.split(':')[0]])).toEqual([
      [2, 'timestamp is not a time'],
      [3, 'OPA decision without timestamp'],
      [4, 'not an OPA decision log event'],
      [6, 'invalid JSON'],
    ]);
    expect(decisionOf({ decision: 'deny' }, true).outcome).toBe('denied');
    expect(decisionOf(null, true)).toMatchObject({ outcome: 'unknown', resultType: 'null' });
    for (const v of [null, 7, 'x', [], { decision_id: 'x', path: 'p', input: { attributes: null } }]) expect(() => opa.parse(v, { line: 1, pointer: '' })).not.toThrow();
  });
});
