import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { falco } from '../../src/ingest/sources/falco.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const F = join(SAMPLES, 'falco');
const CAT_JSON = 'falco_test_output_single_rule_with_cat_write.json';
const CAT_TXT = 'falco_test_output_single_rule_with_cat_write.txt';
const DOCS = 'falco_website_doc_alerts.jsonl';

function textLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
}

function quarantine(bundle: string): { line: number; reason: string; text: string }[] {
  return readFileSync(join(bundle, 'quarantine/falco/q-000001.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('Falco alerts on public samples', () => {
  it('accounts for every record of every sample file', async () => {
    const files = [join(F, CAT_JSON), join(F, CAT_TXT), join(F, DOCS)];
    const { summary } = await ingestAndRead(tmp(), files);
    const expected: Record<string, [number, number]> = {
      [CAT_JSON]: [8, 0],
      // Text output: recognized, quarantined line by line (see below).
      [CAT_TXT]: [0, 8],
      // Line 5 is Falcosidekick's test event, whose time ("...Z+2") is not a time.
      [DOCS]: [15, 1],
    };
    for (const f of files) {
      const name = f.split('/').pop()!;
      const s = summary.files.find((x) => x.input === f)!;
      expect(s.source, name).toBe('falco');
      expect(s.accepted + s.quarantined, name).toBe(textLines(f).length);
      expect([s.accepted, s.quarantined], name).toEqual(expected[name]);
    }
  });

  it("Falco's text output is quarantined, and is the same alerts as its JSON output", async () => {
    const { rows, bundle } = await ingestAndRead(tmp(), [join(F, CAT_JSON), join(F, CAT_TXT)]);
    const txt = textLines(join(F, CAT_TXT));
    const q = quarantine(bundle);
    expect(q).toHaveLength(8);
    q.forEach((x, i) => {
      expect(x).toMatchObject({ line: i + 1, text: txt[i], reason: 'Falco text output: no rule name, source or fields to normalize; run Falco with json_output: true' });
      // The oracle pairing: the text line is the JSON alert's output, and that is the row's reason.
      expect(rowAt(rows, CAT_JSON, i + 1).reason).toBe(txt[i]);
    });
    expect(rowAt(rows, CAT_JSON, 1)).toMatchObject({
      source: 'falco',
      time: '2016-08-04T16:17:57.881781397Z',
      host: 'test-falco-hostname',
      category: 'process',
      action: 'falco:open_from_cat',
      outcome: 'unknown',
      argv: null,
      source_event_id: null,
    });
    expect(rowAt(rows, CAT_JSON, 1).attrs).toEqual({ rule: 'open_from_cat', priority: 'Warning', source: 'syscall', tags: ['filesystem', 'process', 'testing'], cmdline: 'cat /dev/null', fields: undefined });
  });

  it('syscall alerts: process, container, pod and the connection from fd.name', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(F, DOCS)]);
    expect(rowAt(rows, DOCS, 16)).toMatchObject({
      time: '2023-05-25T13:44:05.478445995Z',
      host: 'falco-xczjd',
      category: 'process',
      action: 'falco:Terminal shell in container',
      outcome: 'unknown',
      target: 'sh',
      reason: '13:44:05.478445995: Critical A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 k8s.ns=default k8s.pod=kubecon container=ee97d9c4186f shell=sh parent=runc cmdline=sh -c clear; (bash || ash || sh) terminal=34816 container_id=ee97d9c4186f image=docker.io/library/alpine)',
      k8s_namespace: 'default',
      k8s_pod: 'kubecon',
      container_id: 'ee97d9c4186f',
      comm: 'sh',
      argv: null,
      actor_id: null,
    });
    expect(rowAt(rows, DOCS, 16).attrs).toMatchObject({
      priority: 'Critical',
      source: 'syscall',
      tags: ['container', 'mitre_execution', 'shell'],
      cmdline: 'sh -c clear; (bash || ash || sh)',
      user_name: 'root',
      container_id_truncated: true,
      fields: { 'container.image.repository': 'docker.io/library/alpine', 'proc.pname': 'runc', 'proc.tty': 34816, 'user.loginuid': -1 },
    });
    // Alerts written before Falco had a "source" field are syscall alerts.
    expect(rowAt(rows, DOCS, 10)).toMatchObject({
      category: 'network',
      action: 'falco:Contact K8S API Server From Container',
      target: '10.96.0.1:443',
      src_ip: '172.17.0.9',
      src_port: 43812,
      dst_ip: '10.96.0.1',
      dst_port: 443,
      protocol: 'tcp',
      k8s_namespace: 'openfaas-fn',
      k8s_pod: 'falco-pod-delete-7dc9f5fbb8-gbfk7',
      container_id: '12fc4de5ccc3',
    });
    expect(rowAt(rows, DOCS, 10).attrs).toMatchObject({ fd_name: '172.17.0.9:43812->10.96.0.1:443', cmdline: 'handler' });
    expect(rowAt(rows, DOCS, 10).attrs?.source).toBeUndefined();
    // <NA> and null are Falco's "could not fill": left out.
    expect(rowAt(rows, DOCS, 8).attrs?.fields).toEqual({ 'container.image.repository': null, 'proc.pname': null, 'proc.tty': 34817, 'user.loginuid': -1 });
  });

  it('k8s_audit alerts: the API user, verb and target', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(F, DOCS)]);
    expect(rowAt(rows, DOCS, 6)).toMatchObject({
      time: '2023-05-10T14:09:17.699479Z',
      category: 'api',
      action: 'falco:K8s Serviceaccount Created',
      outcome: 'unknown',
      target: 'default/serviceaccounts/default',
      actor_id: 'system:node:ip-192-168-34-135.ec2.internal',
      actor_type: 'agent',
      k8s_node: 'ip-192-168-34-135.ec2.internal',
      host: 'falco-k8saudit-eks-96d7f6f99-vwjgc',
    });
    expect(rowAt(rows, DOCS, 6).attrs).toMatchObject({ source: 'k8s_audit', response_code: 201, decision: 'allow', priority: 'Informational' });
    expect(rowAt(rows, DOCS, 4)).toMatchObject({ target: 'hello-app/pods/nginx-676b6c5bbc-4xc6t/exec', actor_id: 'kubernetes-admin', actor_type: 'human' });
    expect(rowAt(rows, DOCS, 4).attrs?.fields).toEqual({ 'ka.uri.param[command]': 'cat' });
    expect(rowAt(rows, DOCS, 2)).toMatchObject({ target: 'events/my-pool-1.18051c0a88716868', actor_id: 'yacht' });
    expect(rowAt(rows, DOCS, 2).attrs).toMatchObject({ verb: 'patch', request_uri: '/api/v1/namespaces/default/events/my-pool-1.18051c0a88716868', response_code: 403 });
  });

  it('server and client fields, file alerts, and what is not an alert', async () => {
    const dir = tmp();
    const docs = textLines(join(F, DOCS));
    // Derived: line 15's connection as Falco's fd.cip/cport/sip/sport fields, and the cat_write
    // alert with the file it opened (what %fd.name in the rule's output would have logged).
    const conn = JSON.parse(docs[14]!);
    delete conn.output_fields['fd.name'];
    Object.assign(conn.output_fields, { 'fd.cip': '192.168.43.223', 'fd.cport': 39526, 'fd.sip': '10.100.0.1', 'fd.sport': 443, 'fd.l4proto': 'tcp', 'container.id': 'host' });
    const open = JSON.parse(textLines(join(F, CAT_JSON))[0]!);
    Object.assign(open.output_fields, { 'fd.name': '/dev/null', 'evt.type': 'openat', 'proc.pid': 4242, 'proc.ppid': 1, 'user.uid': 0, 'proc.exepath': '/usr/bin/cat' });
    const noTime = JSON.parse(docs[0]!);
    delete noTime.time;
    const file = join(dir, 'falco.jsonl');
    const lines = [
      JSON.stringify(conn),
      JSON.stringify(open),
      JSON.stringify(noTime),
      '{"rule": "r", "priority": "Warning"}',
      '{"output": "\\u001b]0;owned\\u0007 escape in an alert", "priority": "Warning", "rule": "r", "time": "2024-01-01T00:00:00Z"}',
      '{"rule": "truncated',
      '16:17:57.881781397: Warning An open was seen (command=cat /dev/null)',
      'Mon Jan  1 00:00:00 2024: Falco initialized with configuration file /etc/falco/falco.yaml',
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { rows, bundle, summary } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'falco', accepted: 3, quarantined: 5 });
    expect(rowAt(rows, 'falco.jsonl', 1)).toMatchObject({ category: 'network', src_ip: '192.168.43.223', src_port: 39526, dst_ip: '10.100.0.1', dst_port: 443, protocol: 'tcp', container_id: null });
    expect(rowAt(rows, 'falco.jsonl', 2)).toMatchObject({ category: 'file', target: '/dev/null', pid: 4242, ppid: 1, uid: 0, exe: '/usr/bin/cat' });
    expect(rowAt(rows, 'falco.jsonl', 2).attrs).toMatchObject({ evt_type: 'openat', fd_name: '/dev/null' });
    // Escapes in evidence are kept as evidence; printers make them visible.
    expect(rowAt(rows, 'falco.jsonl', 5).reason).toBe('\u001b]0;owned\u0007 escape in an alert');
    expect(Object.fromEntries(quarantine(bundle).map((x) => [x.line, x.reason]))).toEqual({
      3: 'Falco alert without a time',
      4: 'not a Falco alert: no rule, priority and output',
      6: expect.stringMatching(/^invalid JSON: /),
      7: 'Falco text output: no date (HH:MM:SS only), rule name or fields; run Falco with json_output: true',
      8: 'not a Falco alert',
    });
  });

  it('recognizes Falco files by their first line, and nothing else', () => {
    expect(falco.detect(textLines(join(F, CAT_TXT))[0])).toBe(true);
    expect(falco.detect('09:15:40.698757000: Warning K8s Operation performed by user not in allowed list')).toBe(true);
    for (const other of ['{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}', '{"process_exec":{}}', '[2020-11-25T21:26:18.409Z] "GET / HTTP/1.1" 200', '12:00:00: Warning no nanoseconds']) {
      expect(falco.detect(other), other).toBe(false);
    }
  });
});
