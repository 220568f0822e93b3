import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { compileJson, compileText, compileTime, FormatError, matchJson, matchText } from '../../src/ingest/sources/envoy-format.js';
import { envoy } from '../../src/ingest/sources/envoy.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { UsageError } from '../../src/util/errors.js';
import { ingestAndRead, readRows, rowAt } from '../helpers/bundle.js';
import { cli } from '../helpers/cli.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const MESH = join(SAMPLES, 'service_mesh');
const FIX = new URL('../fixtures/mesh/', import.meta.url).pathname;

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

interface DatadogTest {
  sample: string;
  result: { custom: Record<string, any>; timestamp: number; message: string };
}

/** The DataDog pipeline tests: each sample line beside the fields DataDog's parser extracted from it. */
function datadogTests(): DatadogTest[] {
  return (YAML.parse(readFileSync(join(MESH, 'datadog_envoy_tests.yaml'), 'utf8')) as { tests: DatadogTest[] }).tests;
}

/** The sample lines taken out of the YAML into a log file of their own (the YAML itself is not a log). */
function datadogLog(dir: string): string {
  const file = join(dir, 'datadog_envoy_samples.log');
  writeFileSync(file, `${datadogTests().map((t) => t.sample).join('\n')}\n`);
  return file;
}

/** The columns a request's row carries whichever way the proxy wrote it (text or JSON). */
function requestColumns(r: TimelineRow): Record<string, unknown> {
  const keep = ['time', 'category', 'action', 'outcome', 'target', 'reason', 'source_event_id', 'spiffe_id', 'k8s_namespace', 'k8s_pod', 'src_ip', 'src_port', 'dst_ip', 'dst_port', 'protocol', 'user_agent'];
  const attrs = { ...(r.attrs ?? {}) };
  delete attrs.format;
  return { ...Object.fromEntries(keep.map((k) => [k, r[k]])), attrs };
}

describe('Envoy / Istio access logs on public samples', () => {
  it('accounts for every record of every sample and fixture file', async () => {
    const dir = tmp();
    const files = [
      join(MESH, 'istio_docs_sidecar_default_text_format.log'),
      join(MESH, 'istio_docs_ztunnel_access.log'),
      datadogLog(dir),
      join(FIX, 'istio_pr27903_response_code_details.log'),
      join(FIX, 'istio_pr35337_downstream_peer_san.log'),
      join(FIX, 'ztunnel_policy_rejection.log'),
      join(FIX, 'istio_json_access.jsonl'),
    ];
    const { summary } = await ingestAndRead(dir, files);
    const expected: Record<string, [number, number]> = {
      'istio_docs_sidecar_default_text_format.log': [2, 0],
      'istio_docs_ztunnel_access.log': [6, 0],
      // 4 access lines and one line of Envoy's own log.
      'datadog_envoy_samples.log': [4, 1],
      'istio_pr27903_response_code_details.log': [5, 0],
      // Istio's format with the peer SAN added (istio/istio#35337): a built-in variant.
      'istio_pr35337_downstream_peer_san.log': [2, 0],
      'ztunnel_policy_rejection.log': [2, 0],
      'istio_json_access.jsonl': [3, 0],
    };
    for (const f of files) {
      const name = f.split('/').pop()!;
      const s = summary.files.find((x) => x.input === f)!;
      expect(s.source, name).toBe('envoy');
      expect(s.accepted + s.quarantined, name).toBe(lines(f));
      expect([s.accepted, s.quarantined], name).toEqual(expected[name]);
    }
  });

  it('reads the Istio docs default-format lines as the docs table transcribes them', async () => {
    const oracle = JSON.parse(readFileSync(join(MESH, 'istio_docs_sidecar_default_text_format.expected.json'), 'utf8')) as { expected: Record<string, string>[] };
    const { rows } = await ingestAndRead(tmp(), [join(MESH, 'istio_docs_sidecar_default_text_format.log')]);
    const unset = (v: string): string | undefined => (v === '-' ? undefined : v);
    oracle.expected.forEach((e, i) => {
      const r = rowAt(rows, 'istio_docs_sidecar_default_text_format.log', i + 1);
      const [remoteIp, remotePort] = e.DOWNSTREAM_REMOTE_ADDRESS!.split(':');
      expect(r.time).toBe(e.START_TIME);
      expect(r.source_event_id).toBe(e['REQ(X-REQUEST-ID)']);
      expect(r.user_agent).toBe(e['REQ(USER-AGENT)']);
      expect(r.action).toBe(`HTTP ${e['REQ(:METHOD)']} ${e['REQ(X-ENVOY-ORIGINAL-PATH?:PATH)']}`);
      expect(r.target).toBe(`${e['REQ(:AUTHORITY)']}${e['REQ(X-ENVOY-ORIGINAL-PATH?:PATH)']}`);
      expect([r.src_ip, r.src_port]).toEqual([remoteIp, Number(remotePort)]);
      expect(r.attrs).toMatchObject({
        method: e['REQ(:METHOD)'],
        path: e['REQ(X-ENVOY-ORIGINAL-PATH?:PATH)'],
        http_protocol: e.PROTOCOL,
        response_code: Number(e.RESPONSE_CODE),
        response_code_details: e.RESPONSE_CODE_DETAILS,
        bytes_received: Number(e.BYTES_RECEIVED),
        bytes_sent: Number(e.BYTES_SENT),
        duration_ms: Number(e.DURATION),
        upstream_service_time_ms: Number(e['RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)']),
        authority: e['REQ(:AUTHORITY)'],
        upstream_host: e.UPSTREAM_HOST,
        upstream_cluster: e.UPSTREAM_CLUSTER,
        upstream_local_address: e.UPSTREAM_LOCAL_ADDRESS,
        downstream_local_address: e.DOWNSTREAM_LOCAL_ADDRESS,
        downstream_remote_address: e.DOWNSTREAM_REMOTE_ADDRESS,
        route_name: e.ROUTE_NAME,
      });
      // '-' is unset: no column, no attr.
      for (const [k, attr] of [['RESPONSE_FLAGS', 'response_flags'], ['CONNECTION_TERMINATION_DETAILS', 'connection_termination_details'], ['UPSTREAM_TRANSPORT_FAILURE_REASON', 'upstream_transport_failure_reason'], ['REQ(X-FORWARDED-FOR)', 'x_forwarded_for'], ['REQUESTED_SERVER_NAME', 'requested_server_name']] as const) {
        expect(r.attrs?.[attr], attr).toBe(unset(e[k]!));
      }
    });
    // The client sidecar (outbound) and the server sidecar (inbound) of one request share its x-request-id.
    const [client, server] = [rowAt(rows, 'istio_docs_sidecar_default_text_format.log', 1), rowAt(rows, 'istio_docs_sidecar_default_text_format.log', 2)];
    expect(client).toMatchObject({ source: 'envoy', category: 'network', outcome: 'failure', reason: 'HTTP 418', protocol: 'tcp', dst_ip: '10.0.45.184', dst_port: 8000 });
    expect(client.attrs?.direction).toBe('outbound');
    expect(server).toMatchObject({ dst_ip: '10.44.1.27', dst_port: 80, src_ip: '10.44.1.23', src_port: 37652 });
    expect(server.attrs?.direction).toBe('inbound');
    // The server's downstream connection is the client sidecar's upstream connection.
    expect(`${server.src_ip}:${server.src_port}`).toBe(client.attrs?.upstream_local_address);
  });

  it('reads the DataDog pipeline samples as DataDog parsed them', async () => {
    const dir = tmp();
    const file = datadogLog(dir);
    const { rows, bundle } = await ingestAndRead(dir, [file]);
    const tests = datadogTests();
    for (const [i, t] of tests.entries()) {
      const http = t.result.custom.http as Record<string, any> | undefined;
      if (!http) continue; // line 5 is Envoy's own log, checked below
      const r = rowAt(rows, 'datadog_envoy_samples.log', i + 1);
      expect(Date.parse(r.time), `line ${i + 1}`).toBe(t.result.timestamp);
      expect(r.source_event_id).toBe(http.request_id);
      expect(r.user_agent).toBe(http.useragent);
      expect(r.action).toBe(`HTTP ${http.method} ${http.url_details.path}`);
      expect(r.attrs).toMatchObject({
        method: http.method,
        path: http.url,
        http_protocol: http.protocol,
        response_code: http.status_code,
        authority: http.authority,
        bytes_received: t.result.custom.network.bytes_read,
        bytes_sent: t.result.custom.network.bytes_written,
        duration_ms: t.result.custom.duration / 1e6,
      });
      expect(r.attrs?.x_forwarded_for).toBe(http._x_forwarded_for === '-' ? undefined : http._x_forwarded_for);
      expect(r.attrs?.upstream_service_time_ms).toBe(t.result.custom.response.x_envoy_upstream_service_time);
      expect(r.outcome).toBe(http.status_code < 400 ? 'success' : 'failure');
    }
    // DataDog folds the Istio 1.1 fields after the flags into "flags" and "upstream_host"; custody reads them.
    expect(rowAt(rows, 'datadog_envoy_samples.log', 1)).toMatchObject({ src_ip: '172.30.146.82', src_port: 60290, dst_ip: '172.21.13.94', dst_port: 8000 });
    expect(rowAt(rows, 'datadog_envoy_samples.log', 1).attrs).toMatchObject({ format: 'istio-mixer', direction: 'outbound', upstream_host: '172.30.146.73:80', upstream_cluster: 'outbound|8000||httpbin.default.svc.cluster.local' });
    expect(rowAt(rows, 'datadog_envoy_samples.log', 2).attrs).toMatchObject({ direction: 'inbound', requested_server_name: 'outbound_.8000_._.httpbin.default.svc.cluster.local' });
    // Envoy's default format: the upstream host is the only address; "-" leaves it null.
    expect(rowAt(rows, 'datadog_envoy_samples.log', 3)).toMatchObject({ dst_ip: '127.0.0.1', dst_port: 8000, src_ip: null, target: 'api.giphy.com/v1/gifs/search?q=totalmete+s&api_key=FyzFCUcvrJXvG&limit=20&offset=0&rating=pg&lang=en&country_code=US' });
    expect(rowAt(rows, 'datadog_envoy_samples.log', 3).attrs?.format).toBe('envoy');
    expect(rowAt(rows, 'datadog_envoy_samples.log', 4)).toMatchObject({ dst_ip: null, outcome: 'success' });
    const q = readFileSync(join(bundle, 'quarantine/envoy/q-000001.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(q).toEqual([expect.objectContaining({ line: 5, reason: "Envoy's own log line (not an access log)" })]);
  });

  it('reads ztunnel access logs: caller identity, workload and the connection', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(MESH, 'istio_docs_ztunnel_access.log')]);
    expect(rowAt(rows, 'istio_docs_ztunnel_access.log', 1)).toMatchObject({
      time: '2024-05-04T09:59:05.028709Z',
      category: 'network',
      action: 'tcp',
      outcome: 'success',
      target: 'productpage.default.svc.cluster.local:9080',
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/curl',
      actor_id: 'spiffe://cluster.local/ns/default/sa/curl',
      actor_type: 'workload',
      k8s_namespace: 'default',
      k8s_pod: 'curl-7656cf8794-r7zb9',
      src_ip: '10.244.1.12',
      src_port: 60059,
      dst_ip: '10.244.1.10',
      dst_port: 9080,
      protocol: 'tcp',
      source_event_id: null,
    });
    expect(rowAt(rows, 'istio_docs_ztunnel_access.log', 1).attrs).toEqual({
      format: 'ztunnel',
      level: 'info',
      message: 'connection complete',
      direction: 'inbound',
      dst_spiffe_id: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
      dst_workload: 'productpage-v1-87d54dd59-fn6vw',
      dst_namespace: 'productpage',
      dst_service: 'productpage.default.svc.cluster.local',
      src_addr: '10.244.1.12:60059',
      dst_addr: '10.244.1.10:9080',
      dst_hbone_addr: '10.244.1.10:9080',
      bytes_sent: 175,
      bytes_recv: 80,
      duration_ms: 1,
    });
    // Outbound: dst.addr is the peer ztunnel's HBONE port; the app was going to dst.hbone_addr.
    const out = rowAt(rows, 'istio_docs_ztunnel_access.log', 5);
    expect(out).toMatchObject({ dst_ip: '10.244.1.7', dst_port: 9080, src_port: 35536 });
    expect(out.attrs).toMatchObject({ direction: 'outbound', dst_addr: '10.244.1.7:15008', dst_workload: 'reviews-v1-5fd6d4f8f8-26j92', duration_ms: 2 });
  });

  it('marks RBAC denials as enforcement with the matched policy; TCP and protocol errors as failures', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(FIX, 'istio_pr27903_response_code_details.log')]);
    const f = 'istio_pr27903_response_code_details.log';
    expect(rowAt(rows, f, 1)).toMatchObject({ category: 'network', outcome: 'success', reason: null, action: 'HTTP GET /headers', src_ip: '172.17.0.6', src_port: 59022, dst_ip: '172.17.0.7', dst_port: 80 });
    expect(rowAt(rows, f, 1).attrs).toMatchObject({ direction: 'inbound', upstream_cluster: 'inbound|8000||', route_name: 'default' });
    expect(rowAt(rows, f, 2)).toMatchObject({
      category: 'network',
      action: 'tcp',
      outcome: 'failure',
      reason: 'NR (no route or filter chain); filter_chain_not_found',
      target: '172.17.0.7:80',
      source_event_id: null,
      user_agent: null,
    });
    expect(rowAt(rows, f, 3)).toMatchObject({ action: 'HTTP - -', outcome: 'failure', reason: 'DPE (downstream protocol error); http1.codec_error' });
    expect(rowAt(rows, f, 4)).toMatchObject({
      category: 'enforcement',
      outcome: 'denied',
      reason: 'none',
      action: 'HTTP GET /headers',
      target: 'httpbin:8000/headers',
      source_event_id: '07541777-6ee2-908f-a78b-867fe257ac80',
      src_ip: '172.17.0.6',
      src_port: 60898,
      dst_ip: '172.17.0.7',
      dst_port: 80,
    });
    expect(rowAt(rows, f, 4).attrs).toMatchObject({ response_code: 403, rbac: { matched_policy: 'none' }, direction: 'inbound' });
    expect(rowAt(rows, f, 5)).toMatchObject({ category: 'enforcement', outcome: 'denied', reason: 'ns[foo]-policy[httpbin]-rule[0]' });
    expect(rowAt(rows, f, 5).attrs?.rbac).toEqual({ matched_policy: 'ns[foo]-policy[httpbin]-rule[0]', namespace: 'foo', policy: 'httpbin', rule: '0' });
  });

  it('reads ztunnel policy rejections, and ztunnel JSON the same as its text', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(FIX, 'ztunnel_policy_rejection.log'), join(MESH, 'istio_docs_ztunnel_access.log')]);
    expect(rowAt(rows, 'ztunnel_policy_rejection.log', 1)).toMatchObject({
      category: 'enforcement',
      outcome: 'denied',
      reason: 'connection closed due to policy rejection: allow policies exist, but none allowed',
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
      k8s_pod: 'reviews-v1-6584ddcf65-k78wz',
      dst_ip: '10.244.1.9',
      dst_port: 9080,
    });
    expect(rowAt(rows, 'ztunnel_policy_rejection.log', 1).attrs).toMatchObject({ level: 'error', dst_spiffe_id: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage', duration_ms: 0 });
    expect(requestColumns(rowAt(rows, 'ztunnel_policy_rejection.log', 2))).toEqual(requestColumns(rowAt(rows, 'istio_docs_ztunnel_access.log', 1)));
    expect(rowAt(rows, 'ztunnel_policy_rejection.log', 2).attrs?.format).toBe('ztunnel-json');
  });

  it("reads Istio's JSON format, typed values and nulls, the same as its text format", async () => {
    const { rows } = await ingestAndRead(tmp(), [join(FIX, 'istio_json_access.jsonl'), join(MESH, 'istio_docs_sidecar_default_text_format.log')]);
    const f = 'istio_json_access.jsonl';
    expect(rowAt(rows, f, 1)).toMatchObject({
      time: '2022-12-15T03:49:38.504Z',
      outcome: 'failure',
      reason: 'UH (no healthy upstream); no_healthy_upstream',
      action: 'HTTP GET /',
      target: 'envoydummy.chapter11/',
      source_event_id: '4b39f4ca-ffe3-9c6a-a202-0650b0eea8ef',
      src_ip: '172.17.0.8',
      src_port: 52180,
      dst_ip: '10.98.203.175',
      dst_port: 80,
      user_agent: 'curl/7.86.0-DEV',
    });
    expect(rowAt(rows, f, 1).attrs).toMatchObject({ format: 'istio-json', response_code: 503, response_flags: 'UH', direction: 'outbound', duration_ms: 0, bytes_sent: 19 });
    expect(rowAt(rows, f, 1).attrs).not.toHaveProperty('upstream_host');
    expect(rowAt(rows, f, 2)).toMatchObject({ outcome: 'failure', reason: 'HTTP 404', src_ip: '172.17.0.1', dst_ip: '172.17.0.4', dst_port: 8080 });
    expect(rowAt(rows, f, 2).attrs).toMatchObject({ x_forwarded_for: '172.17.0.1', upstream_service_time_ms: 2, upstream_host: '172.17.0.9:8080' });
    expect(requestColumns(rowAt(rows, f, 3))).toEqual(requestColumns(rowAt(rows, 'istio_docs_sidecar_default_text_format.log', 1)));
  });

  it('quarantines hostile and foreign lines with a reason, and ingests the rest', async () => {
    const dir = tmp();
    const good = readFileSync(join(MESH, 'istio_docs_sidecar_default_text_format.log'), 'utf8').split('\n')[0]!;
    const file = join(dir, 'istio-proxy.log');
    const lines = [
      good,
      // An attacker's User-Agent with '"' in it: Envoy writes it unescaped; the split would be the attacker's.
      good.replace('"curl/7.73.0-DEV"', '"curl" "fake-request-id" "evil"'),
      good.replace('2020-11-25T21:26:18.409Z', '2020-13-45T21:26:18.409Z'),
      good.replace('"GET /status/418 HTTP/1.1" 418', '"GET /status/418 HTTP/1.1" 4l8'),
      '\x1b[31m[2020-11-25T21:26:18.409Z] "GET / HTTP/1.1" 200\x1b[0m',
      '2024-05-04T09:59:05.028709Z\tinfo\txds\tconnected to upstream XDS server: istiod.istio-system.svc:15012',
      '{"start_time":"yesterday","method":"GET","path":"/","protocol":"HTTP/1.1","response_code":200,"authority":"x"}',
      '{"not":"an access log"}',
      '{"start_time":',
      '2024-05-04T10:11:04.964851Z info    access  connection complete src.addr=10.244.1.12:35520 src.workload="unterminated',
      good.slice(0, 80),
      good,
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { summary, bundle, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'envoy', accepted: 2, quarantined: 10 });
    expect(rows.map((r) => r.source_ref.split(':').pop())).toEqual(['1', '12']);
    const q = readFileSync(join(bundle, 'quarantine/envoy/q-000001.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string });
    const reasons = Object.fromEntries(q.map((x) => [x.line, x.reason]));
    expect(reasons[2]).toBe(`access log line in a format custody does not know (it has 18 '"' where the format writes 14: a header value such as User-Agent carries a '"' Envoy wrote unescaped); pass the proxy's format with --envoy-format`);
    expect(reasons[3]).toBe('start time is not a time: "2020-13-45T21:26:18.409Z"');
    expect(reasons[4]).toMatch(/^access log line in a format custody does not know; pass/);
    expect(reasons[5]).toBe('not an Envoy, Istio or ztunnel access log line');
    expect(reasons[6]).toBe('Istio component log line (pilot-agent, proxy or ztunnel log), not an access log');
    expect(reasons[7]).toBe('start time is not a time: "yesterday"');
    expect(reasons[8]).toMatch(/^JSON line that is not an Istio\/Envoy access log/);
    expect(reasons[9]).toBe('invalid JSON');
    expect(reasons[10]).toBe('ztunnel access line with an unreadable field at "src.workload=\\"unterminated"');
    expect(reasons[11]).toMatch(/^access log line in a format custody does not know/);
  });

  it('a file that starts with Envoy\'s own log is still an Envoy file; other text is not', () => {
    expect(envoy.detect('[2021-03-12 15:31:30.492][1][warning][runtime] [source/common/runtime/runtime_features.cc:31] Unable to use runtime singleton')).toBe(true);
    expect(envoy.detect('[2020-11-25T21:26:18.409Z] "GET /custom-format-not-known-yet"')).toBe(true);
    for (const other of ['time="2024-01-01T00:00:00Z" level=info msg="SVID updated"', '{"eventVersion":"1.08","eventName":"GetObject"}', '{"rule":"x","priority":"Warning","output":"y","time":"2024-01-01T00:00:00Z"}', '# heading', '']) {
      expect(envoy.detect(other), other).toBe(false);
    }
  });
});

describe('Envoy format strings', () => {
  it('compiles START_TIME formats and reads them back', () => {
    expect(compileTime(undefined).parse('2020-11-25T21:26:18.409Z')).toBe(1606339578409000000n);
    expect(compileTime('%s.%3f').parse('1527590590.528')).toBe(1527590590528000000n);
    expect(compileTime('%s.%9f').parse('1527590590.528123456')).toBe(1527590590528123456n);
    // The example in Envoy's docs.
    expect(compileTime('%Y/%m/%dT%H:%M:%S%z %s').parse('2018/05/29T10:43:10+0000 1527590590')).toBe(1527590590000000000n);
    expect(compileTime('%Y-%m-%dT%H:%M:%E6S%z').parse('2024-01-02T03:04:05.123456+0200')).toBe(1704157445123456000n);
    expect(compileTime('%d/%b/%Y:%T %z').parse('02/Jan/2024:03:04:05 -0100')).toBe(1704168245000000000n);
    expect(compileTime('%Y-%m-%d').parse('2024-02-31')).toBeNull();
  });

  it('refuses formats it cannot read back, saying why', () => {
    expect(() => compileText('[%START_TIME%] %FOO', 'user')).toThrow(new FormatError('at character 16: "%FOO" is not an Envoy command operator (%NAME%, %NAME(ARG)% or %NAME(ARG):LENGTH%)'));
    expect(() => compileText('%REQ(:METHOD)% %RESPONSE_CODE%', 'user')).toThrow(/has no %START_TIME%/);
    expect(() => compileText('%START_TIME(%c)% %RESPONSE_CODE%', 'user')).toThrow(/%c cannot be read back/);
    expect(() => compileText('%START_TIME(%H:%M)% x', 'user')).toThrow(/has no year/);
    expect(() => compileText('%START_TIME% %REQ(:METHOD)%%REQ(:PATH)%', 'user')).toThrow(/cannot be told apart/);
    expect(() => compileJson('{"code":"%RESPONSE_CODE%"}')).toThrow(/no "%START_TIME%"/);
    expect(() => compileJson('[1]')).toThrow(/must be an object/);
    expect(() => envoy.configure!({ envoyFormat: '%START_TIME' })).toThrow(UsageError);
  });

  it('maps operators (aliases, header case, truncation) to the same fields as Istio JSON', () => {
    const f = compileText('%START_TIME(%s.%3f)% %REQUEST_HEADER(:Method)% %REQ(:PATH):64% %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS% "%REQ(USER-AGENT)%" %REQ(X-B3-TRACEID)% %DOWNSTREAM_PEER_URI_SAN%', 'user');
    expect(f.fields).toEqual(['start_time', 'method', 'path', 'response_code', 'downstream_remote_address', 'user_agent', 'REQ(X-B3-TRACEID)', 'downstream_peer_uri_san']);
    expect(Object.fromEntries(matchText(f, '1527590590.528 POST /v1/secret 200 10.0.0.7:41234 "grpc-go/1.60 (linux)" 80f198ee56343ba8 spiffe://example.org/ns/a/sa/b')!)).toEqual({
      start_time: '1527590590.528',
      method: 'POST',
      path: '/v1/secret',
      response_code: '200',
      downstream_remote_address: '10.0.0.7:41234',
      user_agent: 'grpc-go/1.60 (linux)',
      'REQ(X-B3-TRACEID)': '80f198ee56343ba8',
      downstream_peer_uri_san: 'spiffe://example.org/ns/a/sa/b',
    });
    expect(matchText(f, '1527590590.528 POST /v1/secret 2OO 10.0.0.7:41234 "x" - -')).toBeNull();
    const j = compileJson('{"ts":"%START_TIME%","req":{"m":"%REQ(:METHOD)%","id":"%REQ(X-REQUEST-ID)%"},"peer":"%DOWNSTREAM_PEER_URI_SAN%","note":"literal %RESPONSE_CODE% text"}');
    expect(Object.fromEntries(matchJson(j, { ts: '2024-01-01T00:00:00.000Z', req: { m: 'GET', id: 'r-1' }, peer: null, note: 'literal 200 text' }))).toEqual({ start_time: '2024-01-01T00:00:00.000Z', method: 'GET', request_id: 'r-1' });
  });

  it('a JSON format dictionary given with --envoy-format reads JSON lines with other keys', () => {
    const p = envoy.configure!({ envoyFormat: '{"when":"%START_TIME(%s.%6f)%","verb":"%REQ(:METHOD)%","uri":"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%","status":"%RESPONSE_CODE%","client":"%DOWNSTREAM_REMOTE_ADDRESS%","caller":"%DOWNSTREAM_PEER_URI_SAN%","rid":"%REQ(X-REQUEST-ID)%"}' });
    const line = '{"when":"1704067200.123456","verb":"DELETE","uri":"/api/users/7","status":403,"client":"10.1.2.3:5555","caller":"spiffe://example.org/ns/prod/sa/cleaner","rid":"abc"}';
    expect(p.detect(line)).toBe(true);
    expect(envoy.detect(line)).toBe(false);
    const r = p.parse(line, { line: 1, pointer: '' });
    expect(r).toMatchObject({
      ok: true,
      event: { time: 1704067200123456000n, action: 'HTTP DELETE /api/users/7', outcome: 'denied', spiffe_id: 'spiffe://example.org/ns/prod/sa/cleaner', src_ip: '10.1.2.3', src_port: 5555, source_event_id: 'abc' },
    });
  });
});

describe('custody ingest --envoy-format', () => {
  const FORMAT =
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %ROUTE_NAME%\n';

  it('a log in a format it does not know is quarantined with a pointer to --envoy-format, and read with it', async () => {
    const dir = tmp();
    const log = join(dir, 'custom.log');
    const custom = '%START_TIME% %REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_PEER_URI_SAN%';
    writeFileSync(log, '2026-03-10T10:05:09.207Z GET /admin/export 200 10.0.1.57:41262 spiffe://example.org/ns/ci/sa/deployer\n');
    const without = cli(['ingest', join(dir, 'a'), log, '--source', 'envoy', '--json']);
    expect(without.status).toBe(0);
    const a = JSON.parse(without.stdout) as { accepted: number; quarantined: number; reasons: { reason: string; count: number }[] };
    expect([a.accepted, a.quarantined]).toEqual([0, 1]);
    expect(a.reasons).toEqual([{ reason: 'not an Envoy, Istio or ztunnel access log line', count: 1 }]);
    expect(cli(['ingest', join(dir, 'b'), log, '--envoy-format', custom, '--json']).status).toBe(0);
    const [row] = await readRows(join(dir, 'b'));
    expect(row).toMatchObject({ action: 'HTTP GET /admin/export', src_ip: '10.0.1.57', src_port: 41262, spiffe_id: 'spiffe://example.org/ns/ci/sa/deployer', outcome: 'success' });
  });

  it('reads a proxy log written with a format given on the command line', async () => {
    const dir = tmp();
    const log = join(dir, 'access.log');
    writeFileSync(log, readFileSync(join(FIX, 'istio_pr35337_downstream_peer_san.log')));

    const r = cli(['ingest', join(dir, 'b'), log, '--envoy-format', FORMAT]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^envoy\s+1\s+2\s+0$/m);
    const rows = await readRows(join(dir, 'b'));
    expect(rows).toHaveLength(2);
    const [client, server] = [rowAt(rows, 'access.log', 1), rowAt(rows, 'access.log', 2)];
    expect(client).toMatchObject({ spiffe_id: null, source_event_id: '51531b24-e16f-4ac9-ab6c-667711893a60', src_ip: '10.244.0.11', src_port: 39818, dst_ip: '10.96.116.201', dst_port: 80, outcome: 'success' });
    expect(client.attrs).toMatchObject({ format: 'user', direction: 'outbound', upstream_local_address: '10.244.0.11:35560', route_name: 'default' });
    expect(server).toMatchObject({
      spiffe_id: 'spiffe://cluster.local/ns/default/sa/default',
      actor_id: 'spiffe://cluster.local/ns/default/sa/default',
      actor_type: 'workload',
      source_event_id: '51531b24-e16f-4ac9-ab6c-667711893a60',
      src_ip: '10.244.0.11',
      src_port: 35560,
      dst_ip: '10.244.0.12',
      dst_port: 80,
      target: 'echo/',
    });
    expect(server.attrs).toMatchObject({ direction: 'inbound', downstream_peer_uri_san: 'spiffe://cluster.local/ns/default/sa/default' });

    // The same format given through reconstruct's printer: the caller's SPIFFE id is on the row.
    const nd = cli(['reconstruct', join(dir, 'b'), '--format', 'ndjson']);
    expect(nd.status).toBe(0);
    const printed = nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(printed.map((p) => p.spiffe_id)).toEqual([null, 'spiffe://cluster.local/ns/default/sa/default']);
  });

  it('the format reaches the worker threads that parse large inputs', () => {
    const dir = tmp();
    const log = join(dir, 'big-access.log');
    const two = readFileSync(join(FIX, 'istio_pr35337_downstream_peer_san.log'), 'utf8');
    // Over the 8 MiB at which ingest parses on worker threads (the CLI runs the compiled workers).
    const copies = Math.ceil((9 << 20) / two.length);
    writeFileSync(log, two.repeat(copies));
    const r = cli(['ingest', join(dir, 'b'), log, '--envoy-format', FORMAT, '--json']);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as { accepted: number; quarantined: number };
    expect([s.accepted, s.quarantined]).toEqual([copies * 2, 0]);
  });

  it('a format it cannot use is a usage error (exit 2) naming the problem', () => {
    const dir = tmp();
    const r = cli(['ingest', join(dir, 'b'), join(FIX, 'istio_pr35337_downstream_peer_san.log'), '--envoy-format', '[%START_TIME%] %RESPONSE_CODE %BYTES_SENT%']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('custody ingest: --envoy-format: at character 16: "%RESPONSE_CODE %BYTES_SE" is not an Envoy command operator (%NAME%, %NAME(ARG)% or %NAME(ARG):LENGTH%)\n  give the proxy\'s access log format as configured');
  });
});
