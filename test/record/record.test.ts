/**
 * `custody record` end to end, for real: the built CLI loads the BPF programs, runs workloads,
 * and the bundle it seals is read back with `custody reconstruct` and `custody verify`.
 * Needs root (or CAP_BPF + CAP_PERFMON), BTF and the built recorder; skipped with the reason
 * otherwise, unless CUSTODY_REQUIRE_BPF=1, which makes a missing prerequisite a failure.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupV2Root } from '../../src/record/attribution.js';
import { parseTimeNs } from '../../src/model/time.js';
import { recorderProblems } from '../../src/record/native.js';
import { record } from '../../src/record/record.js';
import { Db } from '../../src/util/duckdb.js';
import { cli } from '../helpers/cli.js';
import { REPO, useTmpDir } from '../helpers/tmp.js';

const REQUIRE_BPF = process.env.CUSTODY_REQUIRE_BPF === '1';
const problems = recorderProblems();
const RUN = join(REPO, 'bin/run.js');

if (problems.length > 0 && !REQUIRE_BPF) {
  console.warn(`test/record/record.test.ts skipped: ${problems.join('; ')}`);
}

type Row = Record<string, unknown> & { attrs: Record<string, unknown> | null };

function rows(bundle: string): Row[] {
  const r = cli(['reconstruct', bundle, '--format', 'ndjson']);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}

function manifest(bundle: string): {
  entries: { path: string; kind: string; rows: number | null }[];
  drops: { total: number; by_kind: Record<string, number> };
  hosts: { name: string; boot_id: string; kernel: string; runs: unknown[]; clock_offsets: { segment: string; boot_to_utc_ns: string }[] }[];
} {
  return JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
}

/** The CLI started in the background (for signals and metrics). */
function start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const done = once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  return { child, done };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function hasHost(bundle: string): boolean {
  try {
    return manifest(bundle).hosts.length > 0;
  } catch {
    return false;
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe.skipIf(problems.length > 0 && !REQUIRE_BPF)('custody record (root, real BPF)', () => {
  const tmp = useTmpDir();
  let server: Server;
  let openPort: number;
  let closedPort: number;

  beforeAll(async () => {
    expect(problems, 'CUSTODY_REQUIRE_BPF=1 but the recorder cannot run here').toEqual([]);
    server = createServer((s) => s.destroy());
    openPort = await listen(server);
    const probe = createServer();
    closedPort = await listen(probe);
    probe.close();
    await once(probe, 'close');
  });

  afterAll(() => {
    server?.close();
  });

  it('records a command: its exec and argv, connects (accepted, refused, non-blocking), an accept, a credential read, setuid, a signal; exits with its code', () => {
    const dir = tmp();
    const secrets = join(dir, 'secrets');
    spawnSync('mkdir', [secrets]);
    writeFileSync(join(secrets, 'token'), 'not-a-real-token\n');
    const bundle = join(dir, 'b');
    // bash's /dev/tcp connects blocking, so the connect row itself carries the refusal.
    const script = [
      `cat ${secrets}/token >/dev/null`,
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${openPort}'`,
      `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${closedPort}' 2>/dev/null`,
      // a server and its client in one process: accept (accept4) and a non-blocking connect
      `${process.execPath} -e "const n=require('net');const s=n.createServer(c=>{c.destroy();s.close()}).listen(0,'127.0.0.1',()=>n.connect(s.address().port,'127.0.0.1').on('error',()=>{}))"`,
      'setpriv --reuid=65534 /bin/true',
      'sleep 5 & kill -TERM $!; wait',
      'kill -CHLD $$', // a SIGCHLD a process sends is evidence; the kernel's own SIGCHLD for each exit is not recorded
      'exit 7',
    ].join('; ');
    const r = cli(['record', '-o', bundle, '--cred-prefix', `${secrets}/`, '--', 'sh', '-c', script]);
    expect(r.status, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/recorded into .* \(command exited 7\)/);
    expect(cli(['verify', bundle]).status).toBe(0);

    const all = rows(bundle);
    expect(all.every((x) => x.source === 'kernel')).toBe(true);
    const execs = all.filter((x) => x.action === 'exec');
    const sh = execs.find((x) => x.exe === '/usr/bin/sh' || x.exe === '/bin/sh');
    expect(sh?.argv).toEqual(['sh', '-c', script]);
    // the command's own exit, with its code
    const shExit = all.find((x) => x.action === 'exit' && x.process_key === sh!.process_key);
    expect(shExit).toMatchObject({ outcome: 'failure', reason: 'exit 7' });
    expect(shExit!.attrs).toMatchObject({ exit_code: 7 });

    const cat = execs.find((x) => x.exe === '/usr/bin/cat' || x.exe === '/bin/cat');
    const open = all.find((x) => x.action === 'open' && x.target === `${secrets}/token`);
    expect(open).toMatchObject({ category: 'file', outcome: 'success', pid: cat!.pid, process_key: cat!.process_key });
    expect(open!.attrs).toMatchObject({ cred_prefix: `${secrets}/` });

    const connects = all.filter((x) => x.action === 'connect');
    expect(connects.find((x) => x.dst_port === openPort)).toMatchObject({ category: 'network', outcome: 'success', dst_ip: '127.0.0.1', src_ip: '127.0.0.1', protocol: 'tcp' });
    expect(connects.find((x) => x.dst_port === closedPort)).toMatchObject({ outcome: 'failure', reason: 'ECONNREFUSED', dst_ip: '127.0.0.1' });

    // accept: src is the peer (the client), dst the listener, as a mesh proxy logs a connection
    const accept = all.find((x) => x.action === 'accept');
    expect(accept).toMatchObject({ category: 'network', outcome: 'success', src_ip: '127.0.0.1', dst_ip: '127.0.0.1', protocol: 'tcp' });
    const client = connects.find((x) => x.dst_port === accept!.dst_port && x.pid === accept!.pid);
    expect(client).toMatchObject({ outcome: 'unknown', reason: 'EINPROGRESS' }); // non-blocking: the result is in tcp_state rows
    const established = all.find((x) => x.action === 'tcp_state' && x.dst_port === accept!.dst_port && (x.attrs!.new_state as string) === 'ESTABLISHED' && x.src_port === accept!.src_port);
    expect(established, 'the client side reaching ESTABLISHED from the port the server saw').toBeDefined();
    expect(all.find((x) => x.action === 'setuid' && x.outcome === 'success')?.uid).toBe(65534);
    // the shell's kill of its background child (forked; it may not have exec'd sleep yet)
    const kill = all.find((x) => x.action === 'signal' && x.reason === 'SIGTERM');
    expect(kill).toMatchObject({ process_key: sh!.process_key, outcome: 'success' });
    expect(all.some((x) => x.action === 'fork' && x.process_key === kill!.target && x.parent_key === sh!.process_key)).toBe(true);
    expect(all.find((x) => x.action === 'exit' && x.process_key === kill!.target)).toMatchObject({ outcome: 'failure', reason: 'SIGTERM' });
    const chld = all.filter((x) => x.action === 'signal' && x.reason === 'SIGCHLD');
    expect(chld).toHaveLength(1);
    expect(chld[0]).toMatchObject({ process_key: sh!.process_key, target: sh!.process_key });

    // process tree: every exec's parent is in the tree or is custody's gate
    const keys = new Set(all.map((x) => x.process_key));
    expect(execs.filter((x) => x.process_key !== sh!.process_key).every((x) => keys.has(x.parent_key))).toBe(true);
    // attribution: the cgroup path of the workload (it runs where this test runs)
    const cg = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);
    expect(sh!.attrs!.cgroup_path).toBe(cg);

    // the manifest: host entry with boot id, kernel release and the offset each segment used
    const m = manifest(bundle);
    expect(m.hosts[0]).toMatchObject({ boot_id: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() });
    const seg = m.entries.find((e) => e.kind === 'kernel')!;
    expect(seg.path).toMatch(/^kernel\/[^/]+\/seg-000001\.parquet$/);
    expect(seg.rows).toBe(all.length);
    expect(m.hosts[0]!.clock_offsets[0]!.segment).toBe(seg.path);
    expect(m.hosts[0]!.kernel).toBe(release());
    expect(m.hosts[0]!.runs).toHaveLength(1);
    // boot→UTC: the offset the segment used turns the row's boot ns into its time
    const offset = BigInt(m.hosts[0]!.clock_offsets[0]!.boot_to_utc_ns);
    expect(BigInt(sh!.attrs!.boot_ns as string) + offset).toBe(parseTimeNs(sh!.time as string));
    expect(m.entries.some((e) => e.kind === 'snapshot')).toBe(true);
    expect(sh!.source_ref).toBe(`${seg.path}:${sh!.source_ref!.toString().split(':').pop()}`);
  });

  it('scopes to the command: a process running beside it is not recorded', async () => {
    const dir = tmp();
    const beside = spawn('sh', ['-c', 'while :; do /bin/echo unrelated-marker-77 >/dev/null; sleep 0.02; done'], { stdio: 'ignore' });
    try {
      const bundle = join(dir, 'b');
      const r = cli(['record', '-o', bundle, '--', 'sh', '-c', 'for i in 1 2 3 4 5; do /bin/echo scoped >/dev/null; sleep 0.05; done']);
      expect(r.status, r.stderr).toBe(0);
      const all = rows(bundle);
      expect(all.filter((x) => x.action === 'exec' && (x.argv as string[]).includes('scoped'))).toHaveLength(5);
      expect(all.some((x) => Array.isArray(x.argv) && (x.argv as string[]).includes('unrelated-marker-77'))).toBe(false);
      expect(all.some((x) => x.pid === beside.pid)).toBe(false);
    } finally {
      beside.kill('SIGKILL');
    }
  });

  it('--cgroup scopes to a cgroup subtree; rows carry the cgroup id and path, and the snapshot names them', async () => {
    const root = cgroupV2Root();
    const name = `custody-rec-test-${process.pid}`;
    const parent = join(root, name);
    try {
      mkdirSync(parent);
    } catch (err) {
      if (REQUIRE_BPF) throw err;
      console.warn(`--cgroup test skipped: cannot create a cgroup under ${root}: ${(err as Error).message}`);
      return;
    }
    const leaf = join(parent, 'leaf');
    mkdirSync(leaf);
    try {
      const bundle = join(tmp(), 'b');
      const rec = start(['record', '-o', bundle, '--cgroup', name, '--events', 'exec']);
      await until('the recorder to attach (the manifest names the host after it)', () => hasHost(bundle));
      const inside = spawn('sh', ['-c', 'read _go; /bin/echo in-leaf; /bin/echo in-leaf'], { stdio: ['pipe', 'ignore', 'ignore'] });
      writeFileSync(join(leaf, 'cgroup.procs'), String(inside.pid));
      inside.stdin!.end('go\n');
      spawnSync('/bin/echo', ['outside-leaf']);
      await once(inside, 'exit');
      rec.child.kill('SIGTERM');
      const { code, stderr } = await rec.done;
      expect(code, stderr).toBe(0);
      const all = rows(bundle);
      const leafId = statSync(leaf, { bigint: true }).ino;
      expect(all.filter((x) => x.action === 'exec').map((x) => (x.argv as string[]).join(' '))).toEqual(['/bin/echo in-leaf', '/bin/echo in-leaf']);
      for (const x of all) {
        expect(BigInt(x.cgroup_id as number)).toBe(leafId);
        expect(x.attrs!.cgroup_path).toBe(`/${name}/leaf`);
      }
      const snap = manifest(bundle).entries.find((e) => e.kind === 'snapshot')!;
      const db = await Db.open({ threads: 1 });
      try {
        const r = await db.conn.runAndReadAll('SELECT cgroup_id, cgroup_path, typeof(cgroup_id) AS t FROM read_parquet($1)', [join(bundle, snap.path)]);
        expect(r.getRowObjects()).toEqual([{ cgroup_id: leafId, cgroup_path: `/${name}/leaf`, t: 'UBIGINT' }]);
      } finally {
        db.close();
      }
    } finally {
      rmdirSync(leaf);
      rmdirSync(parent);
    }
  });

  it('rotates segments by size: consecutive numbers, one clock offset each, row refs restart per segment', async () => {
    const bundle = join(tmp(), 'b');
    const r = await record({ bundle, command: ['sh', '-c', 'for i in $(seq 40); do /bin/true; done'], groups: ['exec'], segmentBytes: 16 << 10 });
    expect(r.exitCode).toBe(0);
    const m = manifest(bundle);
    const segs = m.entries.filter((e) => e.kind === 'kernel');
    expect(segs.length).toBeGreaterThanOrEqual(3);
    expect(segs.map((e) => e.path.replace(/^.*seg-/, ''))).toEqual(segs.map((_, i) => `${String(i + 1).padStart(6, '0')}.parquet`));
    expect(m.hosts[0]!.clock_offsets.map((c) => c.segment)).toEqual(segs.map((e) => e.path));
    const all = rows(bundle);
    expect(all).toHaveLength(r.stats.rows);
    expect(segs.reduce((a, e) => a + e.rows!, 0)).toBe(all.length);
    for (const seg of segs) {
      const refs = all.filter((x) => (x.source_ref as string).startsWith(`${seg.path}:`)).map((x) => Number((x.source_ref as string).split(':').pop()));
      expect(refs.sort((a, b) => a - b)).toEqual(Array.from({ length: seg.rows! }, (_, i) => i + 1));
    }
    expect(cli(['verify', bundle]).status).toBe(0);
  });

  it('a full disk ends the recording: exit 2 naming the error, no temporary files left, the bundle verifies', () => {
    const mnt = join(tmp(), 'tiny');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) {
      // Root that cannot mount a tmpfs is not the CI machine: there this must run, not pass empty.
      if (REQUIRE_BPF) throw new Error(`CUSTODY_REQUIRE_BPF=1 but cannot mount a tmpfs for the disk-full test: ${m.stderr.trim()}`);
      console.warn(`disk-full test skipped: cannot mount a tmpfs: ${m.stderr.trim()}`);
      return;
    }
    try {
      const bundle = join(mnt, 'b');
      const r = cli(['record', '-o', bundle, '--events', 'exec', '--', 'sh', '-c', 'for i in $(seq 300); do /bin/true; done']);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`recording into ${bundle} failed: ENOSPC`);
      const v = cli(['verify', bundle]);
      expect(v.status, v.stdout).toBe(0);
      expect(v.stdout).not.toContain('incomplete');
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('reconstruct links recorded rows: a credential read to the connection the same process made next (rule 2)', () => {
    const dir = tmp();
    const secrets = join(dir, 'secrets');
    mkdirSync(secrets);
    writeFileSync(join(secrets, 'token'), 'not-a-real-token\n');
    const bundle = join(dir, 'b');
    const r = cli(['record', '-o', bundle, '--cred-prefix', `${secrets}/`, '--', 'bash', '-c', `exec 4<${secrets}/token; exec 3<>/dev/tcp/127.0.0.1/${openPort}`]);
    expect(r.status, r.stderr).toBe(0);
    const all = rows(bundle);
    const open = all.find((x) => x.action === 'open' && x.target === `${secrets}/token`)!;
    const connect = all.find((x) => x.action === 'connect' && x.dst_port === openPort)!;
    expect(connect.process_key).toBe(open.process_key);
    expect(connect.links).toContainEqual(expect.objectContaining({ rule: 'credential-material', event_id: open.event_id }));
  });

  it('a credential read cannot hide behind its name: relative, through a symlink, //, /proc/self/root, across a mount, or failing; matched on the opened file (or its directory), the name passed kept', () => {
    const dir = tmp();
    const secrets = join(dir, 'secrets');
    mkdirSync(join(secrets, 'deep/er'), { recursive: true });
    writeFileSync(join(secrets, 'token'), 'not-a-real-token\n');
    writeFileSync(join(secrets, 'deep/er/key'), 'not-a-real-key\n');
    writeFileSync(join(dir, 'plain'), 'not a credential\n');
    symlinkSync(join(secrets, 'token'), join(dir, 'link'));
    const mnt = join(secrets, 'mnt');
    mkdirSync(mnt);
    const script = [
      `cd ${secrets} && cat token`,
      `cd ${secrets}/deep && cat er/key`,
      `cat ${dir}/link`,
      `cat /${secrets}/token`, // `//tmp/...`
      `cat /proc/self/root${secrets}/token`,
      `cd ${dir} && cat plain && cat plain-missing; cat secrets/missing`,
      // a tmpfs mounted over a directory under the prefix, in a private mount namespace: the walk crosses the mount
      `unshare -m sh -c 'mount -t tmpfs none ${mnt} && echo t > ${mnt}/sa-token && cd ${mnt} && cat sa-token'`,
    ].join('; ');
    const bundle = join(dir, 'b');
    const r = cli(['record', '-o', bundle, '--events', 'exec,cred', '--cred-prefix', `${secrets}/`, '--', 'sh', '-c', script]);
    expect(r.status, r.stderr).toBe(0);
    const opens = rows(bundle).filter((x) => x.action === 'open');
    const seen = opens.map((x) => [x.target, x.attrs!.path_given ?? null]);
    expect(seen).toEqual([
      [`${secrets}/token`, 'token'],
      [`${secrets}/deep/er/key`, 'er/key'],
      [`${secrets}/token`, `${dir}/link`],
      [`${secrets}/token`, `/${secrets}/token`],
      [`${secrets}/token`, `/proc/self/root${secrets}/token`],
      [`${secrets}/missing`, 'secrets/missing'], // failed: its directory walked, the name appended as passed
      [`${mnt}/sa-token`, null], // the shell's `>` names it absolutely: matched as passed
      [`${mnt}/sa-token`, 'sa-token'],
    ]);
    for (const o of opens) expect(o).toMatchObject({ category: 'file', attrs: expect.objectContaining({ cred_prefix: `${secrets}/` }) });
    expect(opens.filter((o) => o.outcome !== 'success').map((o) => [o.target, o.outcome, o.reason])).toEqual([[`${secrets}/missing`, 'failure', 'ENOENT']]);
    // `plain` is no credential; nor is a missing file outside the prefixes, named relatively
    expect(opens.some((x) => String(x.target).includes('plain'))).toBe(false);
  });

  it("the demo's kernel recording (fixtures/demo/record-kernel.sh): the pod's token reads and connection, attributed to ci/build-7f9c and linked", () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
    const bundle = join(dir, 'bundle');
    expect(cli(['ingest', bundle, join(dir, 'logs')]).status).toBe(0);
    const r = spawnSync('bash', [join(REPO, 'fixtures/demo/record-kernel.sh'), bundle], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(cli(['verify', bundle]).status).toBe(0);
    const kernel = rows(bundle).filter((x) => x.source === 'kernel');
    expect(kernel.length).toBeGreaterThan(0);
    for (const x of kernel.filter((k) => k.process_key)) {
      expect(x).toMatchObject({ k8s_pod_uid: '5f0d6c1e-8a57-4c1b-9d6e-7b3a2f1c9e01', actor_type: 'workload' });
      expect(x.attrs).toMatchObject({ runtime: 'containerd', qos: 'burstable' });
    }
    const connect = kernel.find((x) => x.action === 'connect')!;
    const read = kernel.find((x) => x.action === 'open' && x.target === '/var/run/secrets/eks.amazonaws.com/serviceaccount/token')!;
    expect(connect.links).toContainEqual(expect.objectContaining({ rule: 'credential-material', event_id: read.event_id }));
    expect(connect.links).toContainEqual(expect.objectContaining({ rule: 'process-workload' }));
    expect((connect.identity_chain as { id: string }[]).map((c) => c.id)).toEqual(expect.arrayContaining(['ci/build-7f9c', 'system:serviceaccount:ci:deployer']));
  });

  it('record -- false exits 1', () => {
    const r = cli(['record', '-o', join(tmp(), 'b'), '--', 'false']);
    expect(r.status).toBe(1);
  });

  it('SIGINT flushes and seals the open segment, exits 0, and the bundle verifies', async () => {
    const dir = tmp();
    const bundle = join(dir, 'b');
    const marker = join(dir, 'custodymark');
    copyFileSync('/bin/true', marker);
    const rec = start(['record', '-o', bundle, '--comm', 'custodymark', '--events', 'exec']);
    await until('the recorder to attach (the manifest names the host after it)', () => hasHost(bundle));
    for (let i = 0; i < 5; i++) spawnSync(marker);
    rec.child.kill('SIGINT');
    const { code, stderr } = await rec.done;
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/interrupted/);
    expect(cli(['verify', bundle]).status).toBe(0);
    const marks = rows(bundle).filter((x) => x.action === 'exec' && x.comm === 'custodymark');
    expect(marks).toHaveLength(5);
  });

  it('SIGKILL mid-run: what was sealed still verifies', async () => {
    const dir = tmp();
    const bundle = join(dir, 'b');
    const marker = join(dir, 'custodymark');
    copyFileSync('/bin/true', marker);
    const rec = start(['record', '-o', bundle, '--comm', 'custodymark', '--segment-duration', '300ms']);
    try {
      await until('a sealed segment', () => {
        spawnSync(marker);
        return existsSync(join(bundle, 'manifest.json')) && manifest(bundle).entries.some((e) => e.kind === 'kernel');
      });
      spawnSync(marker); // something in the open window
    } finally {
      rec.child.kill('SIGKILL');
    }
    await rec.done;
    const v = cli(['verify', bundle]);
    expect(v.status, v.stdout).toBe(0);
    expect(rows(bundle).filter((x) => x.comm === 'custodymark').length).toBeGreaterThan(0);
  });

  it('a flood against a tiny ring and a low rate limit: drops become gap rows that sum to the manifest drops', () => {
    const bundle = join(tmp(), 'b');
    const r = cli(['record', '-o', bundle, '--ring-size', '4096', '--rate-limit', 'exec=5', '--events', 'exec', '--', 'sh', '-c', 'for i in $(seq 120); do /bin/true; done']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/DROPPED/);
    const m = manifest(bundle);
    expect(m.drops.total).toBeGreaterThan(0);
    const gaps = rows(bundle).filter((x) => x.category === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    for (const g of gaps) expect(g).toMatchObject({ source: 'kernel', action: 'drop', outcome: 'unknown' });
    expect(gaps.reduce((a, g) => a + (g.attrs!.drop_count as number), 0)).toBe(m.drops.total);
    const byKind: Record<string, number> = {};
    for (const g of gaps) byKind[g.attrs!.kind as string] = (byKind[g.attrs!.kind as string] ?? 0) + (g.attrs!.drop_count as number);
    expect(byKind).toEqual(m.drops.by_kind);
    expect(gaps.some((g) => g.reason === 'rate_limited' && g.attrs!.kind === 'exec')).toBe(true);
    expect(m.entries.some((e) => e.kind === 'gaps')).toBe(true);
    expect(cli(['verify', bundle]).status).toBe(0);
  });

  it('serves Prometheus /metrics with the recorder families', async () => {
    const probe = createServer();
    const port = await listen(probe);
    probe.close();
    await once(probe, 'close');
    const bundle = join(tmp(), 'b');
    const rec = start(['record', '-o', bundle, '--metrics-addr', `127.0.0.1:${port}`, '--events', 'exec']);
    let text = '';
    await until('the recorder to attach (the manifest names the host after it)', () => hasHost(bundle));
    const execCount = () => Number(/custody_record_events_total\{kind="exec"\} (\d+)/.exec(text)?.[1] ?? 0);
    // an exec the recorder sees, then scrape until it is counted
    for (let i = 0; i < 100 && execCount() === 0; i++) {
      spawnSync('/bin/true');
      try {
        text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      } catch {
        // not listening yet
      }
      if (execCount() === 0) await new Promise((r) => setTimeout(r, 100));
    }
    rec.child.kill('SIGTERM');
    const { code, stderr } = await rec.done;
    expect(code, stderr).toBe(0);
    for (const family of [
      'custody_record_events_total',
      'custody_record_drops_total',
      'custody_record_undecodable_records_total',
      'custody_record_ring_fill_ratio',
      'custody_record_segments_sealed_total',
      'custody_record_bytes_written_total',
    ]) {
      expect(text).toContain(`# TYPE ${family}`);
    }
    expect(execCount()).toBeGreaterThan(0);
    expect(text).toContain('custody_record_drops_total{kind="exec",reason="ring_full"} 0');
    expect(text).toContain('custody_record_undecodable_records_total 0');
    expect(text).toMatch(/custody_record_ring_fill_ratio \d/);
  });
});

describe('custody record preflight', () => {
  const tmp = useTmpDir();

  it.skipIf(process.getuid?.() !== 0)('without CAP_BPF + CAP_PERFMON (root with its capabilities dropped): exit 2 naming them', () => {
    // Capabilities, not the uid, decide: root in a container without them cannot load eBPF either.
    // (Staying uid 0 also keeps the checkout readable wherever CI put it.)
    const dir = tmp();
    const r = spawnSync('setpriv', ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--', process.execPath, RUN, 'record', '-o', join(dir, 'b'), '--', 'true'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('root without CAP_BPF + CAP_PERFMON');
    expect(existsSync(join(dir, 'b'))).toBe(false);
  });

  it('an output that cannot be written: exit 2 naming it', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'file'), '');
    const r = cli(['record', '-o', join(dir, 'file', 'b'), '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`output ${join(dir, 'file', 'b')} is not writable: ${join(dir, 'file')} is not a directory`);
  });

  it('nothing after --: exit 2', () => {
    const r = cli(['record', '-o', join(tmp(), 'b'), '--']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('nothing after --');
  });
});
