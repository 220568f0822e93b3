/**
 * Privileged tests: real BPF programs, real processes. Run as root. Skipped
 * when the recorder cannot run here, unless CUSTODY_REQUIRE_BPF=1, which
 * turns every missing prerequisite into a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADDON_PATH,
  BPF_OBJECT_PATH,
  KernelRecorder,
  recorderProblems,
  type RecorderOptions,
} from '../../src/record/native.js';
import {
  decodeBatch,
  FLAG,
  type EventByKind,
  type ExecEvent,
  type KindName,
  type WireEvent,
} from '../../src/record/wire.js';

const REQUIRE_BPF = process.env.CUSTODY_REQUIRE_BPF === '1';
const problems = recorderProblems();
const TIMEOUT = 20_000;

type Capture = {
  events: WireEvent[];
  counters: ReturnType<KernelRecorder['counters']>;
  info: ReturnType<KernelRecorder['info']>;
};

/** Runs `work` with a started recorder; stops it and decodes every batch. */
async function capture(
  options: Omit<RecorderOptions, 'onBatch'>,
  work: (rec: KernelRecorder) => Promise<unknown>,
  onBatch?: (batch: Buffer) => void,
): Promise<Capture> {
  const batches: Buffer[] = [];
  const rec = new KernelRecorder({
    ...options,
    onBatch: (b) => {
      batches.push(b);
      onBatch?.(b);
    },
  });
  rec.start();
  const info = rec.info();
  try {
    await work(rec);
  } finally {
    await rec.stop();
  }
  return { events: batches.flatMap((b) => decodeBatch(b)), counters: rec.counters(), info };
}

/** A shell that waits on stdin before running `script`, so it can be put in scope first. */
function gatedShell(script: string, env: Record<string, string> = {}): { child: ChildProcess; go: () => Promise<number> } {
  const child = spawn('sh', ['-c', `read _go; ${script}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number);
  return {
    child,
    go: async () => {
      child.stdin?.end('go\n');
      const code = await exited;
      if (code !== 0) throw new Error(`workload exited ${code}: ${stderr}`);
      return code;
    },
  };
}

const ofKind = <K extends KindName>(events: WireEvent[], kind: K) =>
  events.filter((e): e is EventByKind[K] => e.kind === kind);

function countByKind(events: WireEvent[]): Partial<Record<KindName, number>> {
  const out: Partial<Record<KindName, number>> = {};
  for (const e of events) out[e.kind] = (out[e.kind] ?? 0) + 1;
  return out;
}

/** Every emitted record reached JS: the kernel's emitted counter equals what was decoded. */
function expectAccounted(c: Capture): void {
  const decoded = countByKind(c.events);
  for (const [kind, counters] of Object.entries(c.counters)) {
    expect(decoded[kind as KindName] ?? 0, `${kind} decoded vs emitted`).toBe(counters.emitted);
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe.skipIf(problems.length > 0 && !REQUIRE_BPF)('kernel recorder (root, real BPF)', () => {
  let dir: string;
  let server: Server;
  let openPort: number;
  let closedPort: number;
  const accepted: Promise<void>[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'custody-rec-'));
    writeFileSync(join(dir, 'token'), 'secret\n');
    server = createServer((sock) => {
      accepted.push(once(sock, 'close').then(() => undefined));
      sock.end();
    });
    openPort = await listen(server);
    const closed = createServer();
    closedPort = await listen(closed);
    closed.close();
    await once(closed, 'close');
  });

  afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has what it needs (root, BTF, built addon and object)', () => {
    expect(problems).toEqual([]);
  });

  it(
    'records a process tree: exec, fork, exit, connect, TCP states, credential open, setuid, signal',
    async () => {
      const token = join(dir, 'token');
      const script = [
        '/bin/true a b',
        'cat "$TOKEN" > /dev/null',
        'cat /etc/hostname > /dev/null',
        "sh -c 'exit 7'",
        'bash -c "exec 3<>/dev/tcp/127.0.0.1/$OPEN_PORT; exec 3>&-"',
        'bash -c "exec 3<>/dev/tcp/127.0.0.1/$CLOSED_PORT" 2>/dev/null || true',
        'setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true',
        'sleep 5 & kill -USR1 $!; wait $! || true',
      ].join('; ');
      const { child, go } = gatedShell(script, {
        TOKEN: token,
        OPEN_PORT: String(openPort),
        CLOSED_PORT: String(closedPort),
      });
      const shPid = child.pid!;
      const c = await capture({ pids: [], credPrefixes: [`${dir}/`] }, async (rec) => {
        rec.addPid(shPid);
        await go();
      });
      const { events } = c;
      expect(c.info.attached).toEqual(expect.arrayContaining(['handle_exec', 'handle_sys_enter', 'handle_signal_generate']));
      expect(c.info.warnings).toEqual([]);
      // only the tree: the shell and what it started
      const treeTgids = new Set([shPid, ...ofKind(events, 'fork').map((f) => f.childTgid)]);
      for (const e of events) {
        if (e.flags & FLAG.noTask) continue;
        expect(treeTgids.has(e.tgid) || (e.kind === 'signal' && treeTgids.has(e.targetTgid)), `${e.kind} from ${e.tgid}`).toBe(true);
      }

      const execs = ofKind(events, 'exec');
      const execOf = (pred: (e: ExecEvent) => boolean) => {
        const found = execs.find(pred);
        expect(found, `exec among ${JSON.stringify(execs.map((e) => e.argv))}`).toBeDefined();
        return found!;
      };
      // exec of /bin/true with its argv, child of the shell, its fork and exit
      const trueExec = execOf((e) => e.filename === '/bin/true' && e.argv.join(' ') === '/bin/true a b');
      expect(trueExec).toMatchObject({ ppid: shPid, argc: 3, uid: 0, comm: 'true' });
      expect(trueExec.startNs).toBeGreaterThan(0n);
      const fork = ofKind(events, 'fork').find((f) => f.childTgid === trueExec.tgid);
      expect(fork).toMatchObject({ tgid: shPid, parentTgid: shPid, childStartNs: trueExec.startNs });
      expect(trueExec.parentStartNs).toBe(fork!.startNs);
      const exits = ofKind(events, 'exit');
      expect(exits.find((x) => x.tgid === trueExec.tgid)).toMatchObject({ exitCode: 0, signal: null, startNs: trueExec.startNs });
      const exit7 = execOf((e) => e.argv.join(' ') === 'sh -c exit 7');
      expect(exits.find((x) => x.tgid === exit7.tgid)).toMatchObject({ exitCode: 7, leader: true });
      expect(exits.find((x) => x.tgid === shPid)).toMatchObject({ exitCode: 0 });

      // connect: accepted, and refused by a closed port
      const connects = ofKind(events, 'connect');
      const ok = connects.find((e) => e.tuple.dport === openPort);
      expect(ok).toMatchObject({ ret: 0, comm: 'bash', tuple: { family: 2, protocol: 6, daddr: '127.0.0.1', saddr: '127.0.0.1' } });
      expect(ok!.tuple.sport).toBeGreaterThan(0);
      const refused = connects.find((e) => e.tuple.dport === closedPort);
      expect(refused).toMatchObject({ ret: -111, comm: 'bash', tuple: { daddr: '127.0.0.1' } });

      // TCP: handshake states of the good one; the failed handshake and the reset of the refused one
      const states = ofKind(events, 'tcp_state');
      // (CLOSE>SYN_SENT comes before connect picks the local port: sport is still 0 there)
      const okStates = states.filter((s) => s.tuple.dport === openPort && s.tgid === ok!.tgid);
      expect(okStates.map((s) => `${s.oldState}>${s.newState}`)).toEqual(
        expect.arrayContaining(['CLOSE>SYN_SENT', 'SYN_SENT>ESTABLISHED']),
      );
      const failed = states.find((s) => s.tuple.dport === closedPort && s.oldState === 'SYN_SENT' && s.newState === 'CLOSE');
      expect(failed).toMatchObject({ tgid: refused!.tgid, comm: 'bash' });
      expect(failed!.flags & FLAG.owner).toBe(FLAG.owner);
      const reset = ofKind(events, 'tcp_reset').find((r) => r.tuple.dport === closedPort);
      expect(reset).toMatchObject({ direction: 'received', tgid: refused!.tgid, state: 'SYN_SENT' });

      // credential open: by the cat that read the token; the other path is not reported
      const opens = ofKind(events, 'open');
      const catToken = execOf((e) => e.comm === 'cat' && e.argv.includes(token));
      const open = opens.find((o) => o.path === token);
      expect(open).toMatchObject({ tgid: catToken.tgid, dfd: -100, prefixId: 0 });
      expect(open!.ret).toBeGreaterThanOrEqual(0);
      expect(opens.filter((o) => !o.path.startsWith(`${dir}/`))).toEqual([]);

      // setuid by setpriv: ids before and after, result
      const setpriv = execOf((e) => e.comm === 'setpriv');
      const creds = ofKind(events, 'cred').filter((e) => e.tgid === setpriv.tgid);
      const setuid = creds.find((e) => e.newIds.uid === 65534);
      expect(setuid, JSON.stringify(creds.map((e) => [e.op, e.ret, e.args]))).toBeDefined();
      expect(['setuid', 'setreuid', 'setresuid']).toContain(setuid!.op);
      expect(setuid).toMatchObject({ ret: 0, oldIds: { uid: 0 }, newIds: { uid: 65534 } });
      expect(creds.find((e) => e.newIds.gid === 65534 && e.ret === 0)).toBeDefined();
      expect(creds.find((e) => e.op === 'setgroups')).toMatchObject({ ret: 0, args: [0, 0, 0] });

      // kill -USR1 from the shell to its background child, which dies of it
      const usr1 = ofKind(events, 'signal').find((s) => s.sig === 10 && s.tgid === shPid);
      expect(usr1).toMatchObject({ siCode: 0, result: 0 });
      expect(exits.find((x) => x.tgid === usr1!.targetTgid)).toMatchObject({ signal: 10, exitCode: null });

      expectAccounted(c);
      expect(c.counters.exec.ringFull + c.counters.open.ringFull).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'records accept with the peer, by a tracked listener',
    async () => {
      const script = 'bash -c "exec 3<>/dev/tcp/127.0.0.1/$OPEN_PORT; read -u 3 x; exec 3>&-"';
      const before = accepted.length;
      const c = await capture(
        { pids: [process.pid], recordSelf: true, kinds: ['accept', 'connect'] },
        async () => {
          const child = spawn('sh', ['-c', script], { stdio: 'ignore', env: { ...process.env, OPEN_PORT: String(openPort) } });
          await once(child, 'exit');
          while (accepted.length === before) await new Promise((r) => setTimeout(r, 5));
          await accepted[before];
        },
      );
      const connect = ofKind(c.events, 'connect').find((e) => e.tuple.dport === openPort);
      expect(connect).toBeDefined();
      const accept = ofKind(c.events, 'accept').find((e) => e.tuple.dport === connect!.tuple.sport);
      expect(accept).toMatchObject({
        tgid: process.pid,
        tuple: { family: 2, protocol: 6, sport: openPort, saddr: '127.0.0.1', daddr: '127.0.0.1' },
      });
      expect(accept!.ret).toBeGreaterThanOrEqual(0);
      expectAccounted(c);
    },
    TIMEOUT,
  );

  it(
    'filters by comm in the kernel',
    async () => {
      const { go } = gatedShell('/bin/true; /bin/echo x > /dev/null; /bin/true');
      const c = await capture({ comms: ['true'], kinds: ['exec'] }, go);
      const execs = ofKind(c.events, 'exec');
      expect(execs.length).toBeGreaterThanOrEqual(2);
      expect(execs.every((e) => e.comm === 'true')).toBe(true);
      expect(c.counters.exec.filtered).toBeGreaterThan(0);
      expectAccounted(c);
    },
    TIMEOUT,
  );

  it(
    'filters by cgroup subtree in the kernel',
    async () => {
      const root = '/sys/fs/cgroup/unified';
      let parent: string;
      try {
        parent = join(root, `custody-test-${process.pid}`);
        mkdirSync(parent);
      } catch (err) {
        if (REQUIRE_BPF) throw err;
        return; // no writable cgroup v2 hierarchy here
      }
      const leaf = join(parent, 'leaf');
      mkdirSync(leaf);
      try {
        const id = statSync(parent, { bigint: true }).ino;
        const leafId = statSync(leaf, { bigint: true }).ino;
        const { child, go } = gatedShell('/bin/true one; /bin/true two');
        writeFileSync(join(leaf, 'cgroup.procs'), String(child.pid));
        const c = await capture({ cgroups: [id], kinds: ['exec', 'exit'] }, go);
        const execs = ofKind(c.events, 'exec');
        expect(execs.map((e) => e.argv.join(' '))).toEqual(['/bin/true one', '/bin/true two']);
        expect(c.events.every((e) => e.cgroupId === leafId)).toBe(true);
        expect(ofKind(c.events, 'exit').some((e) => e.tgid === child.pid)).toBe(true);
        expectAccounted(c);
      } finally {
        rmdirSync(leaf);
        rmdirSync(parent);
      }
    },
    TIMEOUT,
  );

  it(
    'rate-limits per kind in the kernel and counts what it held back',
    async () => {
      // 31 execs in the tree: seq and 30 x /bin/true
      const { child, go } = gatedShell('for i in $(seq 1 30); do /bin/true; done');
      const c = await capture({ pids: [], kinds: ['exec'], rateLimits: { exec: { perSec: 1, burst: 1 } } }, async (rec) => {
        rec.addPid(child.pid!);
        await go();
      });
      expect(c.counters.exec.rateLimited).toBeGreaterThan(0);
      expect(c.counters.exec.emitted + c.counters.exec.rateLimited).toBe(31);
      expect(c.counters.exec.ringFull).toBe(0);
      expectAccounted(c);
    },
    TIMEOUT,
  );

  it(
    'survives a flood into a one-page ring: drops are counted as ring-full, nothing is lost silently',
    async () => {
      const token = join(dir, 'token');
      // 121 execs (seq + 60 true + 60 cat) and 60 credential opens
      const { child, go } = gatedShell('for i in $(seq 1 60); do /bin/true; cat "$TOKEN" > /dev/null; done', { TOKEN: token });
      const slowJs = () => {
        const until = Date.now() + 20;
        while (Date.now() < until) {
          // a busy consumer: the poll thread stops reading once a batch is in flight
        }
      };
      const c = await capture(
        { pids: [], kinds: ['exec', 'open'], credPrefixes: [`${dir}/`], ringBytes: 4096, maxInFlight: 1, flushMs: 1 },
        async (rec) => {
          rec.addPid(child.pid!);
          const fills: number[] = [];
          const sampler = setInterval(() => fills.push(rec.ringFill()), 2);
          await go();
          clearInterval(sampler);
          expect(fills.every((f) => f >= 0 && f <= 1)).toBe(true);
        },
        slowJs,
      );
      const { exec, open } = c.counters;
      expect(exec.ringFull + open.ringFull).toBeGreaterThan(0);
      expect(exec.emitted + exec.ringFull).toBe(121);
      expect(open.emitted + open.ringFull).toBe(60);
      expectAccounted(c);
    },
    TIMEOUT,
  );

  it(
    'hands an exception thrown by onBatch to onError',
    async () => {
      const errors: Error[] = [];
      const rec = new KernelRecorder({
        kinds: ['exec'],
        onBatch: () => {
          throw new Error('consumer failed');
        },
        onError: (err) => errors.push(err),
      });
      rec.start();
      const child = spawn('/bin/true');
      await once(child, 'exit');
      await rec.stop();
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]!.message).toBe('consumer failed');
    },
    TIMEOUT,
  );

  it(
    'lets the Node process exit after stop(), and keeps it alive while recording',
    async () => {
      const script = join(dir, 'exit-after-stop.mjs');
      writeFileSync(
        script,
        `import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
const [addonPath, objectPath, mode] = process.argv.slice(2);
const { Recorder } = createRequire(import.meta.url)(addonPath);
let bytes = 0;
const rec = new Recorder({ objectPath, kinds: 1 << 1, onBatch: (b) => { bytes += b.length; } });
rec.start();
spawnSync('/bin/true');
if (mode === 'stop') {
  await rec.stop();
  console.log(JSON.stringify({ bytes, state: rec.info().state }));
}
`,
      );
      const run = (mode: string) => {
        const child = spawn(process.execPath, [script, ADDON_PATH, BPF_OBJECT_PATH, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        return { child, exited: once(child, 'exit').then(([code]) => ({ code: code as number | null, out })) };
      };

      const stopped = run('stop');
      const timer = setTimeout(() => stopped.child.kill('SIGKILL'), 8000);
      const { code, out } = await stopped.exited;
      clearTimeout(timer);
      expect(code).toBe(0);
      const result = JSON.parse(out) as { bytes: number; state: string };
      expect(result.state).toBe('stopped');
      expect(result.bytes).toBeGreaterThan(0);

      // without stop() the poll thread's TSFN keeps the process alive
      const running = run('keep');
      const alive = await Promise.race([
        running.exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 1500)),
      ]);
      running.child.kill('SIGKILL');
      await running.exited;
      expect(alive).toBe(true);
    },
    TIMEOUT,
  );
});
