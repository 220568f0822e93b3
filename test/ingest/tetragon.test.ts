import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bareContainerId, splitArguments } from '../../src/ingest/sources/tetragon.js';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const T = join(SAMPLES, 'tetragon');
const DOCS = 'tetragon_docs_content_examples.jsonl';
const BOOK = 'tetragon_docs_security_observability_book.combined.jsonl';
const BOOK_DIR = join(T, 'tetragon_docs_security_observability_book');
const GKE = 'tetragon_testdata_events.json';

function lines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).length;
}

/** The normalized columns of a row, without where it came from. */
function columns(r: TimelineRow): Record<string, unknown> {
  const { event_id: _e, source_ref: _s, links: _l, identity_chain: _i, bundle: _b, filename: _f, ...rest } = r;
  return rest;
}

describe('Tetragon events on public samples', () => {
  it('accounts for every record of every sample file', async () => {
    const files = [join(T, DOCS), join(T, BOOK), join(T, GKE)];
    const { summary } = await ingestAndRead(tmp(), [...files, BOOK_DIR]);
    for (const f of files) {
      const s = summary.files.find((x) => x.input === f)!;
      expect(s.source, f).toBe('tetragon');
      expect([s.accepted, s.quarantined], f).toEqual([lines(f), 0]);
    }
    const pretty = readdirSync(BOOK_DIR).filter((n) => n.endsWith('.json'));
    expect(pretty).toHaveLength(40);
    for (const name of pretty) {
      const s = summary.files.find((x) => x.input.endsWith(`/${name}`))!;
      // One pretty-printed event per file.
      expect([s.source, s.status, s.accepted, s.quarantined], name).toEqual(['tetragon', 'ingested', 1, 0]);
    }
  });

  it('reads the 40 pretty-printed book events exactly as their compact copies', async () => {
    const { rows, summary } = await ingestAndRead(tmp(), [join(T, BOOK), BOOK_DIR]);
    const names = readdirSync(BOOK_DIR).filter((n) => n.endsWith('.json')).sort();
    names.forEach((name, i) => {
      // Long names are shortened in raw/: find the row by the raw file its input became.
      const raw = summary.files.find((f) => f.input === join(BOOK_DIR, name))!.raw!;
      const pretty = rows.filter((r) => r.source_ref === `${raw}:1`);
      expect(pretty, name).toHaveLength(1);
      expect(columns(pretty[0]!), name).toEqual(columns(rowAt(rows, BOOK, i + 1)));
    });
  });

  it('process_exec: process key, lineage, pod, container and argv', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(T, GKE), join(T, DOCS)]);
    // The first GKE event has no "time": an exec happens at its process's start time.
    expect(rowAt(rows, GKE, 1)).toMatchObject({
      source: 'tetragon',
      time: '2022-10-18T03:16:18.273546829Z',
      host: 'my-node',
      k8s_node: 'my-node',
      category: 'process',
      action: 'exec',
      outcome: 'success',
      target: '/usr/bin/netserver',
      process_key: 'Z2tlLW1pY2hpLTIyMDM4LWRlZmF1bHQtcG9vbC00MzczMGZhYi1sOHpyOjEzNjY1ODIyNjI0ODU2OjY4Nzkw',
      parent_key: 'Z2tlLW1pY2hpLTIyMDM4LWRlZmF1bHQtcG9vbC00MzczMGZhYi1sOHpyOjEzNjYwNDgwNjUxNTk1OjY4NTk4',
      pid: 68790,
      ppid: 68598,
      uid: 0,
      exe: '/usr/bin/netserver',
      argv: ['/usr/bin/netserver', '-D'],
      k8s_namespace: 'default',
      k8s_pod: 'tiefighter',
      container_id: '19a02291e106ce6227b684197be232ea57c4e1a5ab2604a12608c325d701c7f4',
    });
    expect(rowAt(rows, GKE, 1).attrs).toMatchObject({
      event: 'process_exec',
      arguments: '-D',
      argv0: 'binary',
      cwd: '/',
      flags: 'execve rootcwd clone',
      auid: 4294967295,
      container_name: 'spaceship',
      container_image: 'docker.io/tgraf/netperf:latest',
      pod_labels: { 'app.kubernetes.io/name': 'tiefighter', class: 'tiefighter', org: 'empire' },
      parent_binary: '/usr/bin/containerd-shim-runc-v2',
    });
    expect(rowAt(rows, GKE, 2)).toMatchObject({ time: '2022-10-18T03:16:21.373327754Z', argv: ['/starwars-docker', '--port', '80', '--host', '0.0.0.0'], k8s_pod: 'deathstar-6f87496b94-qdlh8' });
    expect(rowAt(rows, DOCS, 3)).toMatchObject({ host: 'gke-john-632-default-pool-7041cac0-9s95', exe: '/usr/bin/curl', argv: ['/usr/bin/curl', 'https://ebpf.io/applications/#tetragon'], uid: 0 });
    expect(rowAt(rows, DOCS, 3).attrs).toMatchObject({ workload: 'xwing', tid: 52699, parent_arguments: '-c "curl https://ebpf.io/applications/#tetragon"' });
    // A kernel-started helper: its parent is <kernel>, pid 0; no pod.
    expect(rowAt(rows, DOCS, 8)).toMatchObject({ exe: '/sbin/modprobe', argv: ['/sbin/modprobe', '-q', '--', 'fs-xfs'], ppid: 0, k8s_pod: null, k8s_node: null, container_id: null });
  });

  it('process_exit, connect/close/listen and the exec_id chain of the book', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(T, BOOK)]);
    // lifecycle.sh (line 10) runs nc (14), which connects (13), closes (12) and exits (15).
    const sh = rowAt(rows, BOOK, 10);
    const nc = rowAt(rows, BOOK, 14);
    expect(sh).toMatchObject({ action: 'exec', exe: '/usr/bin/sh', argv: ['/usr/bin/sh', 'lifecycle.sh'], pid: 38312 });
    expect(nc).toMatchObject({ action: 'exec', exe: '/usr/bin/nc', argv: ['/usr/bin/nc', 'raiz3gjkgtfhkkc.not-reverse-shell.com', '443'], ppid: 38312, parent_key: sh.process_key });
    expect(rowAt(rows, BOOK, 13)).toMatchObject({
      time: '2022-02-01T18:01:56.419Z',
      category: 'network',
      action: 'connect',
      outcome: 'success',
      target: '64.225.45.153:443',
      src_ip: '10.88.0.6',
      src_port: 48416,
      dst_ip: '64.225.45.153',
      dst_port: 443,
      protocol: 'tcp',
      process_key: nc.process_key,
      container_id: 'e6af4dff4ea3b8d50313c59fbaa442e377da35671e79f43b8dc53c5efcc9b659',
      k8s_pod: 'elasticsearch-56f8fc6988-65smb',
      k8s_namespace: 'tenant-jobs',
    });
    expect(rowAt(rows, BOOK, 12)).toMatchObject({ action: 'close', process_key: nc.process_key, src_port: 48416 });
    expect(rowAt(rows, BOOK, 12).attrs?.stats).toEqual({ segs_in: 1, segs_out: 2, retransmits_segs: 1 });
    expect(rowAt(rows, BOOK, 15)).toMatchObject({ action: 'exit', outcome: 'success', process_key: nc.process_key, reason: null });
    expect(rowAt(rows, BOOK, 15).attrs?.exit_status).toBe(0);
    expect(rowAt(rows, BOOK, 6)).toMatchObject({ category: 'network', action: 'listen', target: '0.0.0.0:9080', src_ip: '0.0.0.0', src_port: 9080, dst_ip: null });
    // The old container ids are docker:// ids: the same bare hex a cgroup path gives.
    expect(rowAt(rows, BOOK, 1).container_id).toBe('86eb9e29a77d432afc7a15b424db1d24a382f3caae26f860ab22df8cb5e96054');
    // A shell script: the kernel puts the script path in argv[1], and Tetragon logs it.
    expect(rowAt(rows, BOOK, 20).argv).toEqual(['/docker-entrypoint.sh', '/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(rowAt(rows, BOOK, 20).attrs?.arguments).toBe('/docker-entrypoint.sh nginx -g "daemon off;"');
  });

  it('kprobes: file, credential and capability hooks, with policy and return value', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(T, DOCS), join(T, BOOK)]);
    expect(rowAt(rows, DOCS, 4)).toMatchObject({
      time: '2024-04-14T02:18:14.376304204Z',
      category: 'file',
      action: 'security_file_permission',
      outcome: 'success',
      target: '/etc/passwd',
      exe: '/bin/vi',
      k8s_pod: 'file-access',
    });
    expect(rowAt(rows, DOCS, 4).attrs).toMatchObject({
      hook: 'kprobe',
      policy_name: 'file-monitoring',
      kprobe_action: 'KPROBE_ACTION_POST',
      return: { int_arg: 0 },
      args: [{ file_arg: { path: '/etc/passwd', permission: '-rw-r--r--' } }, { int_arg: 2 }],
      workload_kind: 'Pod',
    });
    expect(rowAt(rows, DOCS, 12)).toMatchObject({ category: 'credential', action: 'commit_creds', outcome: 'unknown', target: 'uid=0 euid=0 gid=0', uid: 11, exe: '/tmp/su' });
    expect(rowAt(rows, DOCS, 14)).toMatchObject({ category: 'credential', action: '__x64_sys_setuid', target: 'uid=0', exe: '/bin/su' });
    expect(rowAt(rows, DOCS, 13)).toMatchObject({ category: 'credential', action: '__x64_sys_setgid', target: 'gid=0' });
    // cap_capable returned -EPERM: the capability check refused CAP_SYSLOG to dmesg.
    expect(rowAt(rows, DOCS, 19)).toMatchObject({ category: 'credential', action: 'cap_capable', outcome: 'denied', target: 'CAP_SYSLOG', reason: 'returned -1', exe: '/bin/dmesg' });
    expect(rowAt(rows, DOCS, 7)).toMatchObject({ category: 'process', action: 'security_kernel_module_request', outcome: 'success', target: 'fs-xfs' });
    // The book's write of /etc/passwd by vi: bytes_arg (base64) kept, cut, in attrs.
    const write = rowAt(rows, BOOK, 5);
    expect(write).toMatchObject({ category: 'file', action: '__x64_sys_write', outcome: 'unknown', target: 'etc/passwd', exe: '/usr/bin/vi' });
    expect(String((write.attrs?.args as Record<string, string>[])[1]!.bytes_arg)).toMatch(/^ZGFlbW9uOng6MjoyOmRhZW1vbjovc2Jpbjovc2Jpbi9ub2xvZ2lu/);
  });

  it('throttle events are gaps: a window of lost evidence', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(T, DOCS)]);
    expect(rowAt(rows, DOCS, 1)).toMatchObject({ category: 'gap', action: 'throttle start', target: 'session-429.scope', host: 'ubuntu-22', process_key: null, argv: null });
    expect(rowAt(rows, DOCS, 2)).toMatchObject({ category: 'gap', action: 'throttle stop', time: '2024-07-26T13:07:55.501718877Z' });
  });

  it('enforcement actions and kills (sample events with the action and signal a Sigkill policy sets)', async () => {
    const dir = tmp();
    const docs = readFileSync(join(T, DOCS), 'utf8').split('\n');
    // Derived: the docs' file-monitoring event with the action the *_enforce.yaml policy sets,
    // and the docs' exit event as Tetragon writes it for a killed process.
    const kprobe = JSON.parse(docs[3]!);
    kprobe.process_kprobe.action = 'KPROBE_ACTION_SIGKILL';
    const exit = JSON.parse(docs[17]!);
    exit.process_exit.signal = 'SIGKILL';
    const nonzero = JSON.parse(docs[17]!);
    nonzero.process_exit.status = 1;
    const file = join(dir, 'enforce.jsonl');
    writeFileSync(file, [kprobe, exit, nonzero].map((o) => JSON.stringify(o)).join('\n'));
    const { rows } = await ingestAndRead(dir, [file]);
    expect(rowAt(rows, 'enforce.jsonl', 1)).toMatchObject({ category: 'enforcement', outcome: 'denied', target: '/etc/passwd', reason: 'file-monitoring: sigkill (configured action)' });
    expect(rowAt(rows, 'enforce.jsonl', 2)).toMatchObject({ action: 'exit', outcome: 'failure', reason: 'signal SIGKILL' });
    expect(rowAt(rows, 'enforce.jsonl', 3)).toMatchObject({ action: 'exit', outcome: 'failure', reason: 'exit status 1' });
  });

  it('socket kprobes (the book\'s connect as a tcp_connect kprobe with sock_arg, KprobeSock in Tetragon\'s API)', async () => {
    const dir = tmp();
    const book = readFileSync(join(T, BOOK), 'utf8').split('\n');
    // Derived: line 13 (process_connect of nc, the early event type) re-shaped as the kprobe a
    // tcp_connect tracing policy emits today, with the same addresses.
    const connect = JSON.parse(book[12]!).process_connect;
    const kprobe = {
      process_kprobe: {
        process: connect.process,
        parent: connect.parent,
        function_name: 'tcp_connect',
        args: [{ sock_arg: { family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: connect.source_ip, daddr: connect.destination_ip, sport: connect.source_port, dport: connect.destination_port, cookie: '18446635042282135808', state: 'TCP_SYN_SENT' } }],
        action: 'KPROBE_ACTION_POST',
        policy_name: 'connect',
      },
      node_name: 'minikube',
      time: '2022-02-01T18:01:56.419Z',
    };
    const file = join(dir, 'kprobe.jsonl');
    writeFileSync(file, `${JSON.stringify(kprobe)}\n`);
    const { rows } = await ingestAndRead(dir, [file, join(T, BOOK)]);
    const k = rowAt(rows, 'kprobe.jsonl', 1);
    expect(k).toMatchObject({ category: 'network', action: 'tcp_connect', outcome: 'unknown', target: '64.225.45.153:443', protocol: 'tcp' });
    // The same connection, the same 5-tuple and process, whichever way Tetragon reported it.
    const pick = (r: TimelineRow) => [r.src_ip, r.src_port, r.dst_ip, r.dst_port, r.protocol, r.process_key, r.pid, r.container_id];
    expect(pick(k)).toEqual(pick(rowAt(rows, BOOK, 13)));
  });

  it('quarantines what is not a usable Tetragon event', async () => {
    const dir = tmp();
    const docs = readFileSync(join(T, DOCS), 'utf8').split('\n');
    const good = docs[2]!;
    const noTime = JSON.parse(docs[3]!);
    delete noTime.time;
    const badTime = JSON.parse(good);
    badTime.time = '2023-10-06T25:03:57Z';
    const two = JSON.parse(good);
    two.process_exit = two.process_exec;
    const noProc = JSON.parse(docs[3]!);
    delete noProc.process_kprobe.process;
    const file = join(dir, 'export.jsonl');
    const lines = [
      good,
      JSON.stringify(noTime),
      JSON.stringify(badTime),
      JSON.stringify(two),
      JSON.stringify(noProc),
      '{"test":{"arg0":"1"},"node_name":"n","time":"2024-01-01T00:00:00Z"}',
      '"process_exec"',
      '{"process_exec": "\\u001b[2Jnot an object"}',
      good,
    ];
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { summary, bundle } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'tetragon', accepted: 2, quarantined: 7 });
    const q = readFileSync(join(bundle, 'quarantine/tetragon/q-000001.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { line: number; reason: string });
    expect(Object.fromEntries(q.map((x) => [x.line, x.reason]))).toEqual({
      2: 'Tetragon event without a time',
      3: 'time is not a timestamp: "2023-10-06T25:03:57Z"',
      4: 'not a Tetragon event: no single process_* (or rate_limit_info) event object',
      5: 'process_kprobe without a process',
      6: 'Tetragon test event (holds no evidence)',
      7: 'not a JSON object',
      8: 'not a Tetragon event: no single process_* (or rate_limit_info) event object',
    });
  });
});

describe('Tetragon arguments and container ids', () => {
  it('splits arguments back the way Tetragon joined them', () => {
    expect(splitArguments('-c "PORT=9080 python app.py"')).toEqual({ argv: ['-c', 'PORT=9080 python app.py'], ambiguous: false });
    expect(splitArguments(' "a b" c')).toEqual({ argv: ['a b', 'c'], ambiguous: false });
    expect(splitArguments('sh -c "clear; (bash || ash || sh)"')).toEqual({ argv: ['sh', '-c', 'clear; (bash || ash || sh)'], ambiguous: false });
    expect(splitArguments('a ')).toEqual({ argv: ['a', ''], ambiguous: false });
    expect(splitArguments('"x" y')).toEqual({ argv: ['"x"', 'y'], ambiguous: false });
    // `x" y` joined is ` "x" y"`; so is nothing else with that leading space, but the quote inside is flagged.
    expect(splitArguments(' "x" y"')).toEqual({ argv: ['x" y'], ambiguous: true });
    expect(splitArguments('')).toEqual({ argv: [], ambiguous: false });
  });

  it('strips runtime prefixes from container ids', () => {
    expect(bareContainerId('containerd://19a02291e106ce6227b684197be232ea57c4e1a5ab2604a12608c325d701c7f4')).toBe('19a02291e106ce6227b684197be232ea57c4e1a5ab2604a12608c325d701c7f4');
    expect(bareContainerId('docker://86eb9e29')).toBe('86eb9e29');
    expect(bareContainerId('cri-o://abc')).toBe('abc');
    expect(bareContainerId('abc')).toBe('abc');
    expect(bareContainerId('containerd://')).toBeUndefined();
  });
});
