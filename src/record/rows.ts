/**
 * Decoded kernel events → rows of the normalized model (src/model/columns.ts), following the
 * kernel-evidence contract: category/action per kind, process keys that survive pid reuse
 * (`<boot_id>:<tgid>:<start_ns>`), time = boot ns + the segment's boot→UTC offset, source_ref
 * = `<segment path>:<row>`. Pure apart from a small per-process cache (exe and uid learned
 * from exec events, so later rows of the same process carry them too).
 */
import { constants } from 'node:os';
import type { NormalizedEvent } from '../model/event.js';
import type { Outcome } from '../model/enums.js';
import { eventId } from '../ingest/normalize.js';
import type { PathAttribution } from './attribution.js';
import { AF, FLAG, type WireEvent } from './wire.js';

/** What the cgroup of an event says about its workload (src/record/attribution.ts). */
export type Attribution = PathAttribution;

/**
 * cgroup id → attribution; null when the id does not resolve now (a cgroup already removed, or
 * created since the resolver last looked: it may resolve when asked again).
 */
export type Attributor = (cgroupId: bigint) => Attribution | null;

export const KERNEL_SOURCE = 'kernel';

const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

export function errnoName(negErrno: number): string {
  return ERRNO_NAMES.get(-negErrno) ?? `errno ${-negErrno}`;
}

export function signalName(sig: number): string {
  return SIGNAL_NAMES.get(sig) ?? `signal ${sig}`;
}

const EINPROGRESS = -(constants.errno.EINPROGRESS ?? 115);
const PROTOCOLS: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6', 132: 'sctp' };
const CRED_ACTIONS: Record<string, string> = {
  setuid: 'setuid', setreuid: 'setuid', setresuid: 'setuid', setfsuid: 'setuid',
  setgid: 'setgid', setregid: 'setgid', setresgid: 'setgid', setfsgid: 'setgid', setgroups: 'setgid',
  capset: 'capset',
};
/** Processes whose exe/uid are remembered; beyond this the oldest are forgotten. */
const PROCESS_CACHE_MAX = 65_536;

const hex = (n: bigint) => `0x${n.toString(16)}`;

/** Maps WireEvents to model rows for one host and boot. */
export class RowMapper {
  /** process_key → what its exec said */
  readonly #procs = new Map<string, { exe: string; uid: number }>();
  readonly #attributions = new Map<bigint, Attribution>();
  /** ids seen that did not resolve (yet): asked again on their next event and at each seal */
  readonly #unresolved = new Set<bigint>();

  constructor(
    readonly bootId: string,
    readonly host: string,
    private readonly attribute: Attributor,
    /** the credential prefix an open event matched, by its id */
    private readonly credPrefix: (id: number) => string | undefined = () => undefined,
  ) {}

  processKey(tgid: number, startNs: bigint): string {
    return `${this.bootId}:${tgid}:${startNs}`;
  }

  /** Attribution of a cgroup id; a resolved id is kept for the life of the mapper. */
  attribution(cgroupId: bigint): Attribution | null {
    if (cgroupId === 0n) return null;
    const known = this.#attributions.get(cgroupId);
    if (known) return known;
    const a = this.attribute(cgroupId);
    if (a) {
      this.#attributions.set(cgroupId, a);
      this.#unresolved.delete(cgroupId);
    } else this.#unresolved.add(cgroupId);
    return a;
  }

  /** cgroup ids resolved so far, with their attribution (for the snapshot). */
  attributions(): ReadonlyMap<bigint, Attribution> {
    return this.#attributions;
  }

  /** cgroup ids seen that have not resolved. */
  unresolved(): ReadonlySet<bigint> {
    return this.#unresolved;
  }

  /**
   * The row for one event. `offsetNs` is the boot→UTC offset of the segment, `segment` its
   * bundle path and `row` the 1-based row index in it.
   */
  toRow(ev: WireEvent, offsetNs: bigint, segment: string, index: number): NormalizedEvent {
    const noTask = (ev.flags & FLAG.noTask) !== 0;
    const key = noTask ? null : this.processKey(ev.tgid, ev.startNs);
    const ref = `${segment}:${index}`;
    const att = noTask ? null : this.attribution(ev.cgroupId);
    const known = key ? this.#procs.get(key) : undefined;
    const attrs: Record<string, unknown> = {
      kind: ev.kind,
      tid: ev.tid,
      boot_ns: ev.tsNs.toString(),
      cpu: ev.cpu,
    };
    if (att) {
      attrs.cgroup_path = att.cgroup_path;
      attrs.runtime = att.runtime;
      if (att.qos) attrs.qos = att.qos;
    }
    if (ev.flags & FLAG.truncated) attrs.truncated = true;
    if (noTask) attrs.no_task = true;
    if (ev.flags & FLAG.owner) attrs.socket_owner = true;
    const row: NormalizedEvent = {
      event_id: eventId(KERNEL_SOURCE, ref),
      source_event_id: `${this.bootId}:${ev.tsNs}:${ev.tid}:${ev.kind}`,
      time: ev.tsNs + offsetNs,
      source: KERNEL_SOURCE,
      source_ref: ref,
      host: this.host,
      category: 'process',
      action: ev.kind,
      outcome: 'success',
      actor_id: key,
      actor_type: att?.container_id ? 'workload' : 'unknown',
      actor_name: noTask ? null : ev.comm,
      container_id: att?.container_id ?? null,
      k8s_pod_uid: att?.pod_uid ?? null,
      cgroup_id: noTask ? null : ev.cgroupId,
      process_key: key,
      pid: noTask ? null : ev.tgid,
      comm: noTask ? null : ev.comm,
      exe: known?.exe ?? null,
      uid: known?.uid ?? null,
      attrs,
    };
    this.#fill(row, ev, attrs);
    return row;
  }

  #fill(row: NormalizedEvent, ev: WireEvent, attrs: Record<string, unknown>): void {
    switch (ev.kind) {
      case 'exec': {
        row.exe = ev.filename;
        row.argv = ev.argv;
        row.uid = ev.uid;
        row.ppid = ev.ppid;
        row.parent_key = this.processKey(ev.ppid, ev.parentStartNs);
        row.target = ev.filename;
        Object.assign(attrs, { gid: ev.gid, euid: ev.euid, egid: ev.egid, argc: ev.argc });
        if (ev.oldTid !== ev.tid) attrs.old_tid = ev.oldTid;
        this.#remember(row.process_key!, { exe: ev.filename, uid: ev.uid });
        return;
      }
      case 'fork': {
        // The row is about the new process; its parent (the task that forked) is parent_key.
        const child = this.processKey(ev.childTgid, ev.childStartNs);
        row.parent_key = row.process_key;
        row.ppid = ev.parentTgid;
        row.process_key = child;
        row.actor_id = child;
        row.pid = ev.childTgid;
        row.target = child;
        const parent = this.#procs.get(row.parent_key!);
        if (parent) this.#remember(child, parent);
        return;
      }
      case 'exit': {
        row.outcome = ev.exitCode === 0 ? 'success' : 'failure';
        row.reason = ev.signal !== null ? signalName(ev.signal) : `exit ${ev.exitCode}`;
        Object.assign(attrs, { exit_code: ev.exitCode, signal: ev.signal, core_dumped: ev.coreDumped });
        if (row.process_key) this.#procs.delete(row.process_key);
        return;
      }
      case 'connect':
      case 'accept': {
        row.category = 'network';
        const t = ev.tuple;
        row.protocol = t.family === AF.unix ? 'unix' : (PROTOCOLS[t.protocol] ?? null);
        if (t.family === AF.unix) {
          row.target = ev.path;
        } else if (ev.kind === 'connect') {
          // connect: this side is the client (no local address yet when it failed early)
          const bound = t.sport !== 0;
          Object.assign(row, { src_ip: bound ? t.saddr : null, src_port: bound ? t.sport : null, dst_ip: t.daddr, dst_port: t.dport });
          row.target = `${t.daddr.includes(':') ? `[${t.daddr}]` : t.daddr}:${t.dport}`;
        } else {
          // accept: the peer is the client, so src is the remote side (as a mesh proxy logs it)
          Object.assign(row, { src_ip: t.daddr, src_port: t.dport, dst_ip: t.saddr, dst_port: t.sport });
          row.target = `${t.daddr.includes(':') ? `[${t.daddr}]` : t.daddr}:${t.dport}`;
        }
        attrs.fd = ev.fd;
        if (ev.kind === 'connect') {
          attrs.ret = ev.ret;
          row.outcome = connectOutcome(ev.ret);
          if (ev.ret < 0) row.reason = errnoName(ev.ret);
        }
        return;
      }
      case 'tcp_state':
      case 'tcp_reset': {
        row.category = 'network';
        const t = ev.tuple;
        // Before the local port is bound (CLOSE→SYN_SENT) or after it is released, sport is 0.
        const bound = t.sport !== 0;
        Object.assign(row, { src_ip: bound ? t.saddr : null, src_port: bound ? t.sport : null, dst_ip: t.daddr, dst_port: t.dport, protocol: 'tcp' });
        row.target = `${t.daddr.includes(':') ? `[${t.daddr}]` : t.daddr}:${t.dport}`;
        if (ev.kind === 'tcp_state') {
          row.reason = `${ev.oldState}→${ev.newState}`;
          row.outcome = ev.newState === 'CLOSE' && (ev.oldState === 'SYN_SENT' || ev.oldState === 'SYN_RECV') ? 'failure' : 'success';
          Object.assign(attrs, { old_state: ev.oldState, new_state: ev.newState });
        } else {
          row.outcome = 'failure';
          row.reason = `RST ${ev.direction} in ${ev.state}`;
          Object.assign(attrs, { state: ev.state, direction: ev.direction });
        }
        return;
      }
      case 'open': {
        row.category = 'file';
        row.target = ev.path;
        row.outcome = ev.ret >= 0 ? 'success' : 'failure';
        if (ev.ret < 0) row.reason = errnoName(ev.ret);
        Object.assign(attrs, { ret: ev.ret, flags: ev.openFlags, mode: ev.mode, dfd: ev.dfd });
        // The target is the opened file's own path when the name passed did not match as it was
        // (relative, through a link, /proc/self/root, `//`): the name passed is kept next to it.
        if (ev.given !== null) attrs.path_given = ev.given;
        const prefix = this.credPrefix(ev.prefixId);
        if (prefix !== undefined) attrs.cred_prefix = prefix;
        return;
      }
      case 'cred': {
        row.action = CRED_ACTIONS[ev.op] ?? ev.op;
        row.uid = ev.newIds.uid;
        // setfsuid/setfsgid return the previous id, never an error code.
        const fs = ev.op === 'setfsuid' || ev.op === 'setfsgid';
        row.outcome = fs ? 'unknown' : ev.ret === 0 ? 'success' : 'failure';
        if (!fs && ev.ret < 0) row.reason = errnoName(ev.ret);
        row.target = ev.op === 'capset' ? hex(ev.newCaps.effective) : ev.args.filter((a) => a !== 0xffffffff).join(',');
        Object.assign(attrs, {
          op: ev.op,
          ret: ev.ret,
          args: ev.args,
          old_ids: ev.oldIds,
          new_ids: ev.newIds,
          old_caps: { effective: hex(ev.oldCaps.effective), permitted: hex(ev.oldCaps.permitted), inheritable: hex(ev.oldCaps.inheritable) },
          new_caps: { effective: hex(ev.newCaps.effective), permitted: hex(ev.newCaps.permitted), inheritable: hex(ev.newCaps.inheritable) },
        });
        return;
      }
      case 'signal': {
        row.target = this.processKey(ev.targetTgid, ev.targetStartNs);
        row.reason = signalName(ev.sig);
        row.outcome = ev.result === 0 ? 'success' : ev.result === 1 || ev.result === 2 ? 'unknown' : 'failure';
        Object.assign(attrs, { sig: ev.sig, si_code: ev.siCode, target_pid: ev.targetTgid, target_tid: ev.targetTid, result: ev.result, group: ev.group });
        return;
      }
    }
  }

  #remember(key: string, info: { exe: string; uid: number }): void {
    if (this.#procs.size >= PROCESS_CACHE_MAX) this.#procs.delete(this.#procs.keys().next().value!);
    this.#procs.set(key, info);
  }
}

function connectOutcome(ret: number): Outcome {
  if (ret === 0) return 'success';
  // A non-blocking connect returns EINPROGRESS; its result shows in the tcp_state rows.
  if (ret === EINPROGRESS) return 'unknown';
  return 'failure';
}
