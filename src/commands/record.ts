import { Flags } from '@oclif/core';
import { parseDurationNs } from '../model/time.js';
import { parseMetricsAddr } from '../record/metrics.js';
import { EVENT_GROUP_NAMES, record, type EventGroup, type RecordResult } from '../record/record.js';
import { DEFAULT_SEGMENT_MS } from '../record/segment.js';
import { KIND_NAMES, type KindName } from '../record/wire.js';
import { RecordStatusLine, renderRecord } from '../ui/record.js';
import { BaseCommand } from '../util/base-command.js';
import { UsageError } from '../util/errors.js';

function durationMs(flag: string, text: string): number {
  const ns = parseDurationNs(text);
  if (ns === null || ns <= 0n) throw new UsageError(`--${flag} ${JSON.stringify(text)} is not a duration`, 'use e.g. 30s, 5m, 1h');
  return Number(ns / 1_000_000n);
}

export default class RecordCommand extends BaseCommand {
  static override summary = 'Record kernel evidence (exec, network, credential-file opens, privilege changes, signals) into a bundle.';
  static override description = `Loads custody's eBPF programs (raw tracepoints, one ring buffer, filters applied in the kernel) and writes what they see into <bundle>/kernel/<host>/ as Parquet segments in the normalized model, each sealed into the manifest's hash chain as it closes (every ${DEFAULT_SEGMENT_MS / 1000} s by default, or sooner when large): a SIGKILL loses at most the open segment. Events the kernel had to drop (ring buffer full, rate limit) are counted per kind and written as gap rows and manifest totals, never lost silently. The cgroups seen are snapshotted (cgroup id → path) so reconstruct works offline.

With -- command: the command starts under the recorder, scoped to its process tree (its own exec is captured), recording stops when it exits, and custody exits with its exit code. Otherwise: until --duration passes or SIGINT/SIGTERM (both seal and exit 0).

Needs root (or CAP_BPF and CAP_PERFMON), kernel BTF (/sys/kernel/btf/vmlinux) and the built recorder (apt-get install clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev; npm run build:native). Kinds: exec (exec, fork, exit), net (connect, accept, TCP state changes, resets), cred (opens of credential paths: service-account tokens, cloud CLI credentials, kubeconfig, SSH keys, /etc/shadow, SPIRE sockets, and --cred-prefix), priv (uid/gid/capability changes), signal.`;

  static override examples = [
    { description: 'record a CI step and exit with its exit code', command: '<%= config.bin %> <%= command.id %> -o case-42 -- ./deploy.sh --prod' },
    { description: 'the whole host for 30 seconds', command: '<%= config.bin %> <%= command.id %> -o case-42 --duration 30s' },
    { description: 'one pod (its cgroup subtree), processes and network only, with Prometheus metrics', command: '<%= config.bin %> <%= command.id %> -o case-42 --cgroup kubepods.slice/kubepods-burstable.slice --events exec,net --metrics-addr 127.0.0.1:9464' },
    { description: 'then look at it', command: '<%= config.bin %> reconstruct case-42' },
  ];

  static override usage = ['<%= command.id %> -o <bundle> [--duration 30s] [--events exec,net,cred,priv,signal] [--cgroup PATH] [--comm NAME] [--metrics-addr 127.0.0.1:9464] [-- command args...]'];

  // Everything after -- is the command.
  static override strict = false;
  static override enableJsonFlag = true;

  static override flags = {
    output: Flags.string({ char: 'o', description: 'Bundle directory (required; created when missing; kernel segments are added to an existing bundle).', helpValue: '<bundle>' }),
    duration: Flags.string({ description: 'Stop after this long (30s, 5m, 1h). With a command, whichever comes first; a command still running then is left running.' }),
    events: Flags.string({ description: `Event kinds, comma-separated: ${EVENT_GROUP_NAMES.join(', ')} (default: all).`, helpValue: 'exec,net,...' }),
    cgroup: Flags.string({ description: 'Only tasks in this cgroup v2 directory or below (absolute, or relative to the cgroup v2 mount, e.g. /sys/fs/cgroup). Repeatable.', multiple: true, multipleNonGreedy: true }),
    comm: Flags.string({ description: 'Only tasks with this name (comm, 15 bytes). Repeatable.', multiple: true, multipleNonGreedy: true }),
    'metrics-addr': Flags.string({ description: 'Serve Prometheus metrics on http://<addr>/metrics.', helpValue: '127.0.0.1:9464' }),
    'cred-prefix': Flags.string({ description: 'Also record opens of paths under this prefix (absolute, or ~/ for every home). Repeatable.', multiple: true, multipleNonGreedy: true }),
    'rate-limit': Flags.string({ description: `Per-CPU events/s cap for a kind, enforced in the kernel; what it drops becomes gap rows. kind=N, kinds: ${KIND_NAMES.join(', ')}. Repeatable.`, multiple: true, multipleNonGreedy: true, helpValue: 'exec=1000' }),
    'ring-size': Flags.integer({ description: 'BPF ring buffer size in bytes (a power of two, at least 4096; default 8 MiB).' }),
    'segment-duration': Flags.string({ description: `Seal a segment at least this often (default ${DEFAULT_SEGMENT_MS / 1000}s).` }),
    'segment-mb': Flags.integer({ description: 'Seal a segment once this many MB of rows are staged (default 64).', min: 1 }),
  };

  async run(): Promise<RecordResult> {
    const { flags } = await this.parse(RecordCommand);
    if (!flags.output) throw new UsageError('no output bundle named', 'custody record -o <bundle> [-- command args...]');
    const dd = this.argv.indexOf('--');
    const command = dd >= 0 ? this.argv.slice(dd + 1) : undefined;
    if (command && command.length === 0) throw new UsageError('nothing after --', 'name a command: custody record -o <bundle> -- <command> [args...]');
    const groups = flags.events?.split(',').map((g) => g.trim()).filter(Boolean);
    for (const g of groups ?? []) {
      if (!(EVENT_GROUP_NAMES as string[]).includes(g)) throw new UsageError(`--events: unknown kind ${JSON.stringify(g)}`, `use some of: ${EVENT_GROUP_NAMES.join(', ')}`);
    }
    const rateLimits: Partial<Record<KindName, number>> = {};
    for (const r of flags['rate-limit'] ?? []) {
      const m = /^([a-z_]+)=(\d+)$/.exec(r);
      if (!m || !(KIND_NAMES as string[]).includes(m[1]!)) throw new UsageError(`--rate-limit ${JSON.stringify(r)} is not kind=N`, `kinds: ${KIND_NAMES.join(', ')}`);
      rateLimits[m[1] as KindName] = Number(m[2]);
    }
    const ring = flags['ring-size'];
    if (ring !== undefined && (ring < 4096 || (ring & (ring - 1)) !== 0)) throw new UsageError(`--ring-size ${ring} is not a power of two of at least 4096`);

    const abort = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => abort.abort(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const status = process.stderr.isTTY && !this.jsonEnabled() ? new RecordStatusLine(process.stderr) : undefined;
    let result: RecordResult;
    try {
      result = await record({
        bundle: flags.output,
        ...(flags.duration ? { durationMs: durationMs('duration', flags.duration) } : {}),
        ...(groups ? { groups: groups as EventGroup[] } : {}),
        cgroups: flags.cgroup,
        comms: flags.comm,
        ...(command ? { command } : {}),
        credPrefixes: flags['cred-prefix'],
        rateLimits,
        ...(ring ? { ringBytes: ring } : {}),
        ...(flags['segment-duration'] ? { segmentMs: durationMs('segment-duration', flags['segment-duration']) } : {}),
        ...(flags['segment-mb'] ? { segmentBytes: flags['segment-mb'] << 20 } : {}),
        ...(flags['metrics-addr'] ? { metrics: parseMetricsAddr(flags['metrics-addr']) } : {}),
        signal: abort.signal,
        onTick: (t) => status?.update(t),
      });
    } finally {
      status?.done();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (!this.jsonEnabled()) this.logToStderr(renderRecord(result));
    if (result.stoppedBy === 'command') process.exitCode = result.exitCode ?? 1;
    return result;
  }
}
