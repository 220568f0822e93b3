import type { Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, at, compact, isObj, num, obj, str, strs, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';

/**
 * Cilium Tetragon events as `tetra getevents -o json` and the JSON export file write them: one
 * object per line with one event key (process_exec, process_exit, process_kprobe,
 * process_tracepoint, process_lsm, process_uprobe, process_throttle, process_loader, ..., and the
 * early process_connect / process_close / process_listen) beside node_name and time. Pretty-printed
 * single events and JSON arrays of events are read too.
 *
 * Tetragon's exec_id identifies a process across pid reuse (node, ktime, pid): it is process_key,
 * and parent_exec_id is parent_key.
 */

const EVENT_KEYS = new Set([
  'process_exec', 'process_exit', 'process_kprobe', 'process_tracepoint', 'process_lsm', 'process_uprobe', 'process_usdt',
  'process_loader', 'process_throttle', 'process_connect', 'process_close', 'process_listen', 'rate_limit_info', 'test',
]);
const ENVELOPE_KEYS = new Set(['node_name', 'time', 'cluster_name', 'aggregation_info', 'node_labels']);

function eventKey(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  let found: string | undefined;
  for (const k of Object.keys(v)) {
    if (ENVELOPE_KEYS.has(k)) continue;
    if (!EVENT_KEYS.has(k) && !k.startsWith('process_')) return undefined;
    if (found !== undefined) return undefined;
    found = k;
  }
  return found !== undefined && isObj(v[found]) ? found : undefined;
}

/** Runtime prefixes on container ids (`containerd://`, `docker://`, `cri-o://`): the bare id stays, as a cgroup path gives it. */
export function bareContainerId(id: string | undefined): string | undefined {
  if (!id) return undefined;
  const bare = id.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  return bare || undefined;
}

/**
 * Tetragon joins argv[1..] with spaces and wraps an argument containing a space in '"' (without
 * escaping quotes inside it). Splits that back; `ambiguous` when a '"' inside an argument makes
 * the split a guess. argv[0] is not logged.
 */
export function splitArguments(args: string): { argv: string[]; ambiguous: boolean } {
  const argv: string[] = [];
  let ambiguous = false;
  if (args.length === 0) return { argv, ambiguous };
  // An argument with a space is appended as ` "a b"` even when it is the first: a leading space.
  let i = args.startsWith(' "') ? 1 : 0;
  for (;;) {
    if (args[i] === '"') {
      // A quoted argument ends at a '"' followed by a space or the end, and has a space inside.
      let end = -1;
      for (let j = args.indexOf('"', i + 1); j >= 0; j = args.indexOf('"', j + 1)) {
        if ((j + 1 === args.length || args[j + 1] === ' ') && args.slice(i + 1, j).includes(' ')) {
          end = j;
          break;
        }
      }
      if (end >= 0) {
        const inner = args.slice(i + 1, end);
        // `"x" y"` is one argument `x" y`, or `"x"` and `y"`: Tetragon writes both the same way.
        if (inner.includes('"')) ambiguous = true;
        argv.push(inner);
        i = end + 2;
        if (i > args.length) break;
        if (i === args.length) {
          argv.push('');
          break;
        }
        continue;
      }
    }
    const sp = args.indexOf(' ', i);
    if (sp < 0) {
      argv.push(args.slice(i));
      break;
    }
    argv.push(args.slice(i, sp));
    i = sp + 1;
    if (i === args.length) {
      argv.push('');
      break;
    }
  }
  return { argv, ambiguous };
}

const CREDENTIAL_FUNCS = /^(?:commit_creds|override_creds|revert_creds|cap_capable|cap_capset|security_capset|security_bprm_creds_(?:for_exec|from_file)|security_task_fix_setuid|security_task_fix_setgid|(?:__x64_|__arm64_|__ia32_)?sys_(?:setuid|setgid|setreuid|setregid|setresuid|setresgid|setfsuid|setfsgid|capset|setgroups)|__sys_set(?:res|re|fs)?[ug]id)$/;
const NETWORK_FUNCS = /^(?:tcp_|udp_|inet_|__sys_connect|__sys_accept|__sys_bind|__sys_listen|security_socket_|sk_|ip_|(?:__x64_|__arm64_)?sys_(?:connect|accept4?|bind|listen|sendto|recvfrom|sendmsg|recvmsg))/;
const FILE_FUNCS = /^(?:fd_install|security_file_|security_path_|security_inode_|security_mmap_file|vfs_|do_truncate|filp_close|(?:__x64_|__arm64_)?sys_(?:open|openat|openat2|read|write|pread64|pwrite64|unlink|unlinkat|rename|renameat2?|mount|umount|chmod|fchmod|fchmodat|chown|fchown|fchownat|truncate|ftruncate))/;
/** LSM hooks and capability checks: a negative return is a refusal, not a failure. */
const PERMISSION_FUNCS = /^(?:security_|cap_capable|bpf_lsm_)/;

interface ArgFacts {
  path?: string;
  sock?: Obj;
  sockaddr?: Obj;
  creds?: Obj;
  capability?: string;
  int?: number;
  str?: string;
}

function argFacts(args: unknown[]): ArgFacts {
  const f: ArgFacts = {};
  for (const a of args) {
    if (!isObj(a)) continue;
    f.path ??= str(at(a, 'file_arg', 'path')) ?? str(at(a, 'path_arg', 'path')) ?? str(at(a, 'linux_binprm_arg', 'path'));
    f.sock ??= obj(a.sock_arg) ?? obj(a.skb_arg);
    f.sockaddr ??= obj(a.sockaddr_arg);
    f.creds ??= obj(a.process_credentials_arg);
    f.capability ??= str(at(a, 'capability_arg', 'name'));
    if (f.int === undefined && typeof a.int_arg === 'number') f.int = a.int_arg;
    f.str ??= str(a.string_arg);
  }
  return f;
}

/** Kprobe args for attrs: kept as Tetragon wrote them, long strings (bytes_arg is base64) cut. */
function argsForAttrs(args: unknown[]): unknown[] | undefined {
  if (args.length === 0) return undefined;
  const cut = (v: unknown): unknown => {
    if (typeof v === 'string') return v.length > 1024 ? `${v.slice(0, 1024)}…[${v.length} chars]` : v;
    if (Array.isArray(v)) return v.slice(0, 64).map(cut);
    if (isObj(v)) return Object.fromEntries(Object.entries(v).slice(0, 64).map(([k, x]) => [k, cut(x)]));
    return v;
  };
  return args.slice(0, 16).map(cut);
}

function protoOf(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const p = v.replace(/^IPPROTO_/, '').toLowerCase();
  return p || undefined;
}

interface Shape {
  category: Category;
  action: string;
  outcome: Outcome;
  target?: string;
  reason?: string;
  src?: { ip?: string; port?: number };
  dst?: { ip?: string; port?: number };
  protocol?: string;
  attrs: Record<string, unknown>;
}

/** Tetragon's enforcement actions: the call was refused (Override) or the process killed (Sigkill). */
const ENFORCING = new Set(['KPROBE_ACTION_SIGKILL', 'KPROBE_ACTION_OVERRIDE', 'KPROBE_ACTION_NOTIFYENFORCER', 'KPROBE_ACTION_NOTIFY_ENFORCER']);

function hookShape(kind: string, ev: Obj): Shape {
  const fn = str(ev.function_name);
  const args = arr(ev.args);
  const facts = argFacts(args);
  const action = str(ev.action);
  const policy = str(ev.policy_name);
  const ret = at(ev, 'return', 'int_arg');
  const name =
    kind === 'process_tracepoint'
      ? `${str(ev.subsys) ?? '?'}/${str(ev.event) ?? '?'}`
      : kind === 'process_uprobe'
        ? `${str(ev.path) ?? '?'}:${str(ev.symbol) ?? '?'}`
        : fn ?? kind.replace(/^process_/, '');
  let category: Category = 'process';
  if (facts.sock || facts.sockaddr || (fn && NETWORK_FUNCS.test(fn))) category = 'network';
  else if (fn && CREDENTIAL_FUNCS.test(fn)) category = 'credential';
  else if (facts.path || (fn && FILE_FUNCS.test(fn))) category = 'file';
  let outcome: Outcome = 'unknown';
  let reason: string | undefined;
  if (typeof ret === 'number') {
    if (ret < 0) {
      outcome = fn && PERMISSION_FUNCS.test(fn) ? 'denied' : 'failure';
      reason = `returned ${ret}`;
    } else outcome = 'success';
  }
  if (action && ENFORCING.has(action)) {
    // The configured action: a policy in monitor mode reports it without taking it. A kill shows
    // as this process's process_exit with signal SIGKILL.
    category = 'enforcement';
    outcome = 'denied';
    reason = `${policy ?? 'tracing policy'}: ${action.replace(/^KPROBE_ACTION_/, '').toLowerCase()} (configured action)`;
  }
  const sock = facts.sock;
  const sa = facts.sockaddr;
  let target: string | undefined = facts.path;
  if (sock) target = `${str(sock.daddr) ?? '?'}:${text(sock.dport) ?? '?'}`;
  else if (sa) target = `${str(sa.addr) ?? '?'}:${text(sa.port) ?? '?'}`;
  else if (facts.capability) target = facts.capability;
  else if (facts.creds) target = `uid=${text(facts.creds.uid) ?? '?'} euid=${text(facts.creds.euid) ?? '?'} gid=${text(facts.creds.gid) ?? '?'}`;
  else if (category === 'credential' && facts.int !== undefined && fn) {
    // setuid(0), setresgid(...): the first id asked for.
    const kind = /gid$/.test(fn) ? 'gid' : /uid$/.test(fn) ? 'uid' : 'arg';
    target = `${kind}=${facts.int}`;
  }
  else if (facts.str) target = facts.str;
  return {
    category,
    action: name,
    outcome,
    target,
    reason,
    src: sock ? { ip: str(sock.saddr), port: num(sock.sport) } : undefined,
    dst: sock ? { ip: str(sock.daddr), port: num(sock.dport) } : sa ? { ip: str(sa.addr), port: num(sa.port) } : undefined,
    protocol: sock ? protoOf(str(sock.protocol) ?? str(sock.proto)) : undefined,
    attrs: compact({
      hook: kind.replace(/^process_/, ''),
      function_name: fn,
      policy_name: policy,
      kprobe_action: action,
      return_action: str(ev.return_action),
      return: ev.return,
      args: argsForAttrs(args),
      message: str(ev.message),
      tags: strs(ev.tags).length ? strs(ev.tags) : undefined,
    }),
  };
}

function shapeOf(kind: string, ev: Obj): Shape {
  switch (kind) {
    case 'process_exec':
      return { category: 'process', action: 'exec', outcome: 'success', target: str(at(ev, 'process', 'binary')), attrs: {} };
    case 'process_exit': {
      const signal = str(ev.signal);
      // protojson leaves zero values out: no status is exit status 0.
      const status = num(ev.status) ?? 0;
      const outcome: Outcome = signal || status !== 0 ? 'failure' : 'success';
      return {
        category: 'process',
        action: 'exit',
        outcome,
        target: str(at(ev, 'process', 'binary')),
        reason: signal ? `signal ${signal}` : status !== 0 ? `exit status ${status}` : undefined,
        attrs: compact({ exit_status: status, signal, exit_time: str(ev.time) }),
      };
    }
    case 'process_connect':
    case 'process_close':
    case 'process_listen': {
      const listen = kind === 'process_listen';
      const src = listen ? { ip: str(ev.ip), port: num(ev.port) } : { ip: str(ev.source_ip), port: num(ev.source_port) };
      const dst = listen ? undefined : { ip: str(ev.destination_ip), port: num(ev.destination_port) };
      return {
        category: 'network',
        action: kind.replace(/^process_/, ''),
        outcome: 'success',
        target: listen ? `${src.ip ?? '?'}:${src.port ?? '?'}` : `${dst?.ip ?? '?'}:${dst?.port ?? '?'}`,
        src,
        dst,
        protocol: protoOf(str(ev.protocol)),
        attrs: compact({ stats: obj(ev.stats) }),
      };
    }
    case 'process_throttle':
      // Tetragon stops sending this cgroup's events until THROTTLE_STOP: a window of lost evidence.
      return {
        category: 'gap',
        action: `throttle ${(str(ev.type) ?? '?').replace(/^THROTTLE_/, '').toLowerCase()}`,
        outcome: 'unknown',
        target: str(ev.cgroup),
        reason: 'Tetragon throttled this cgroup: its events are dropped until the throttle stops',
        attrs: compact({ throttle: str(ev.type), cgroup: str(ev.cgroup) }),
      };
    case 'rate_limit_info': {
      const dropped = num(ev.number_of_dropped_process_events);
      return {
        category: 'gap',
        action: 'rate limit',
        outcome: 'unknown',
        reason: `Tetragon's export rate limit dropped ${dropped ?? 'some'} events`,
        attrs: compact({ dropped_events: dropped }),
      };
    }
    case 'process_loader':
      return { category: 'file', action: 'load', outcome: 'success', target: str(ev.path), attrs: compact({ buildid: str(ev.buildid) }) };
    default:
      return hookShape(kind, ev);
  }
}

function ancestorsOf(v: unknown): unknown[] | undefined {
  const a = arr(v).filter(isObj);
  if (a.length === 0) return undefined;
  return a.slice(0, 32).map((p) => compact({ exec_id: str(p.exec_id), pid: num(p.pid), binary: str(p.binary) }));
}

export const tetragon: SourceParser = {
  name: 'tetragon',
  title: 'Cilium Tetragon',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && eventKey(sample[0]) !== undefined;
    return eventKey(sample) !== undefined;
  },

  split(value): SplitRecord[] | null {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const kind = eventKey(record);
    if (!kind) return { ok: false, reason: 'not a Tetragon event: no single process_* (or rate_limit_info) event object' };
    const ev = record[kind] as Obj;
    if (kind === 'test') return { ok: false, reason: 'Tetragon test event (holds no evidence)' };
    const proc = obj(ev.process);
    const parent = obj(ev.parent);
    const timeText = str(record.time) ?? (kind === 'process_exec' ? str(proc?.start_time) : undefined);
    if (!timeText) return { ok: false, reason: 'Tetragon event without a time' };
    const time = parseTimeNs(timeText);
    if (time === null) return { ok: false, reason: `time is not a timestamp: ${JSON.stringify(timeText.slice(0, 64))}` };
    if (!proc && kind !== 'process_throttle' && kind !== 'rate_limit_info') return { ok: false, reason: `${kind} without a process` };

    const shape = shapeOf(kind, ev);
    const pod = obj(proc?.pod);
    const container = obj(pod?.container);
    const binary = str(proc?.binary);
    const rawArgs = typeof proc?.arguments === 'string' ? proc.arguments : undefined;
    const split = rawArgs !== undefined ? splitArguments(rawArgs) : undefined;
    const node = str(record.node_name);
    const containerId = bareContainerId(str(container?.id));
    const event: EventDraft = {
      time,
      host: node ?? null,
      category: shape.category,
      action: shape.action,
      outcome: shape.outcome,
      target: shape.target ?? null,
      reason: shape.reason ?? null,
      k8s_namespace: str(pod?.namespace) ?? null,
      k8s_pod: str(pod?.name) ?? null,
      k8s_node: pod && node ? node : null,
      container_id: containerId ?? null,
      src_ip: shape.src?.ip ?? null,
      src_port: shape.src?.port ?? null,
      dst_ip: shape.dst?.ip ?? null,
      dst_port: shape.dst?.port ?? null,
      protocol: shape.protocol ?? null,
      process_key: str(proc?.exec_id) ?? null,
      parent_key: str(proc?.parent_exec_id) ?? str(parent?.exec_id) ?? null,
      pid: num(proc?.pid) ?? null,
      ppid: num(parent?.pid) ?? null,
      uid: num(proc?.uid) ?? null,
      exe: binary ?? null,
      // argv[0] is not in Tetragon's events: the binary stands in for it (attrs.argv0 says so).
      argv: proc && (binary || split) ? [binary ?? '', ...(split && rawArgs !== '' ? split.argv : [])] : null,
      attrs: compact({
        event: kind,
        ...shape.attrs,
        arguments: rawArgs,
        argv0: proc && binary ? 'binary' : undefined,
        argv_ambiguous: split?.ambiguous || undefined,
        cwd: str(proc?.cwd),
        flags: str(proc?.flags),
        auid: num(proc?.auid),
        tid: num(proc?.tid),
        process_start_time: str(proc?.start_time),
        refcnt: num(proc?.refcnt),
        docker: !containerId ? str(proc?.docker) : undefined,
        container_name: str(container?.name),
        container_image: str(at(container, 'image', 'name')),
        container_image_id: str(at(container, 'image', 'id')),
        container_start_time: str(container?.start_time),
        container_pid: num(container?.pid),
        pod_labels: obj(pod?.pod_labels),
        workload: str(pod?.workload),
        workload_kind: str(pod?.workload_kind),
        parent_binary: str(parent?.binary),
        parent_arguments: typeof parent?.arguments === 'string' ? parent.arguments : undefined,
        parent_start_time: str(parent?.start_time),
        ancestors: ancestorsOf(ev.ancestors),
        cluster_name: str(record.cluster_name),
      }),
    };
    return { ok: true, event };
  },
};
