/**
 * The recorder's wire format: what the BPF programs write into the ring buffer
 * (bpf/custody_wire.h) and how a batch of raw records decodes into events.
 *
 * LAYOUT mirrors the C structs field by field ([offset, size] in bytes); the
 * decoder reads only through it, and test/record/wire.test.ts compares it with
 * the layout the native addon computes from the header, so C and TypeScript
 * cannot drift apart silently.
 */

export const WIRE_VERSION = 1;

/** Stable op numbers (CUSTODY_EV_*). Bit (1 << kind) enables a kind. */
export const KIND = {
  exec: 1,
  fork: 2,
  exit: 3,
  connect: 4,
  accept: 5,
  tcp_state: 6,
  tcp_reset: 7,
  open: 8,
  cred: 9,
  signal: 10,
} as const;
export type KindName = keyof typeof KIND;
export const KIND_NAMES = Object.keys(KIND) as [KindName, ...KindName[]];
/** Bound of the per-kind arrays (counters, rate limits); index 0 is unused. */
export const KIND_MAX = 11;

export function kindMask(kinds: readonly KindName[]): number {
  return kinds.reduce((mask, k) => mask | (1 << KIND[k]), 0);
}

/** custody_hdr.flags */
export const FLAG = {
  truncated: 0x1,
  /** softirq/timer context: no task identity (tgid, tid, comm, cgroup are 0) */
  noTask: 0x2,
  /** identity is the socket's recorded owner, not the task the event ran in */
  owner: 0x4,
  /** open: path resolved from the opened file; `given` is the name as the call passed it */
  resolved: 0x8,
} as const;

type Field = readonly [offset: number, size: number];
interface StructLayout {
  readonly size: number;
  readonly fields: Readonly<Record<string, Field>>;
}

export const LAYOUT = {
  hdr: {
    size: 56,
    fields: {
      kind: [0, 2], size: [2, 2], flags: [4, 2], cpu: [6, 2], ts_ns: [8, 8], start_ns: [16, 8],
      cgroup_id: [24, 8], tgid: [32, 4], tid: [36, 4], comm: [40, 16],
    },
  },
  exec: {
    size: 864,
    fields: {
      hdr: [0, 56], parent_start_ns: [56, 8], ppid: [64, 4], uid: [68, 4], gid: [72, 4], euid: [76, 4],
      egid: [80, 4], argc: [84, 4], old_tid: [88, 4], filename_len: [92, 2], args_len: [94, 2],
      filename: [96, 256], args: [352, 512],
    },
  },
  fork: {
    size: 72,
    fields: { hdr: [0, 56], child_start_ns: [56, 8], child_tgid: [64, 4], parent_tgid: [68, 4] },
  },
  exit: {
    size: 64,
    fields: { hdr: [0, 56], status: [56, 4], leader: [60, 4] },
  },
  tuple: {
    size: 40,
    fields: { family: [0, 2], protocol: [2, 2], sport: [4, 2], dport: [6, 2], saddr: [8, 16], daddr: [24, 16] },
  },
  sock: {
    size: 224,
    fields: { hdr: [0, 56], ret: [56, 4], fd: [60, 4], tuple: [64, 40], path_len: [104, 2], path: [112, 108] },
  },
  tcp: {
    size: 104,
    fields: { hdr: [0, 56], tuple: [56, 40], oldstate: [96, 1], newstate: [97, 1], rst: [98, 1] },
  },
  open: {
    size: 592,
    fields: {
      hdr: [0, 56], ret: [56, 4], dfd: [60, 4], flags: [64, 4], mode: [68, 4], prefix_id: [72, 4],
      path_len: [76, 2], given_len: [78, 2], path: [80, 256], given: [336, 256],
    },
  },
  ids: {
    size: 32,
    fields: {
      uid: [0, 4], euid: [4, 4], suid: [8, 4], fsuid: [12, 4], gid: [16, 4], egid: [20, 4], sgid: [24, 4],
      fsgid: [28, 4],
    },
  },
  caps: {
    size: 24,
    fields: { effective: [0, 8], permitted: [8, 8], inheritable: [16, 8] },
  },
  cred: {
    size: 192,
    fields: {
      hdr: [0, 56], op: [56, 4], ret: [60, 4], arg: [64, 12], old_ids: [80, 32], new_ids: [112, 32],
      old_caps: [144, 24], new_caps: [168, 24],
    },
  },
  signal: {
    size: 88,
    fields: {
      hdr: [0, 56], sig: [56, 4], si_code: [60, 4], target_tgid: [64, 4], target_tid: [68, 4],
      target_start_ns: [72, 8], result: [80, 4], group: [84, 4],
    },
  },
  counters: {
    size: 32,
    fields: { emitted: [0, 8], ring_full: [8, 8], rate_limited: [16, 8], filtered: [24, 8] },
  },
} as const satisfies Record<string, StructLayout>;

export const TCP_STATES = [
  'UNKNOWN', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE',
  'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV',
] as const;
export type TcpState = (typeof TCP_STATES)[number];

export const CRED_OPS = [
  'unknown', 'setuid', 'setgid', 'setreuid', 'setregid', 'setresuid', 'setresgid', 'setfsuid', 'setfsgid',
  'capset', 'setgroups',
] as const;
export type CredOp = (typeof CRED_OPS)[number];

export const AF = { unix: 1, inet: 2, inet6: 10 } as const;

// ---- decoded events ----

export interface EventBase {
  kind: KindName;
  flags: number;
  cpu: number;
  /** CLOCK_BOOTTIME ns of the event */
  tsNs: bigint;
  /** start time (boot ns) of the process: with boot id and tgid, the process key */
  startNs: bigint;
  cgroupId: bigint;
  tgid: number;
  tid: number;
  comm: string;
}

export interface ExecEvent extends EventBase {
  kind: 'exec';
  parentStartNs: bigint;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  /** full argument count, also when argv was cut at the byte bound */
  argc: number;
  oldTid: number;
  filename: string;
  argv: string[];
}

export interface ForkEvent extends EventBase {
  kind: 'fork';
  childStartNs: bigint;
  childTgid: number;
  parentTgid: number;
}

export interface ExitEvent extends EventBase {
  kind: 'exit';
  /** wait(2) status word */
  status: number;
  /** exit code when the process exited, else null */
  exitCode: number | null;
  /** terminating signal when killed, else null */
  signal: number | null;
  coreDumped: boolean;
  leader: boolean;
}

export interface Tuple {
  family: number;
  protocol: number;
  sport: number;
  dport: number;
  saddr: string;
  daddr: string;
}

export interface SockEvent extends EventBase {
  kind: 'connect' | 'accept';
  /** connect: 0 or -errno; accept: the new fd */
  ret: number;
  /** connect: the socket; accept: the listening socket */
  fd: number;
  tuple: Tuple;
  /** AF_UNIX path; abstract names are shown with a leading '@' */
  path: string | null;
}

export interface TcpStateEvent extends EventBase {
  kind: 'tcp_state';
  tuple: Tuple;
  oldState: TcpState;
  newState: TcpState;
}

export interface TcpResetEvent extends EventBase {
  kind: 'tcp_reset';
  tuple: Tuple;
  /** the socket's state when the reset happened (UNKNOWN when there was no socket) */
  state: TcpState;
  direction: 'sent' | 'received';
}

export interface OpenEvent extends EventBase {
  kind: 'open';
  /** fd or -errno */
  ret: number;
  dfd: number;
  openFlags: number;
  mode: number;
  /** index of the matching prefix in the list given to setCredPrefixes */
  prefixId: number;
  /** the path matched against the credential prefixes: as passed, or resolved (FLAG.resolved) */
  path: string;
  /** FLAG.resolved: the name the call passed (relative, through a link, with `..` or `//`) */
  given: string | null;
}

export interface Ids {
  uid: number;
  euid: number;
  suid: number;
  fsuid: number;
  gid: number;
  egid: number;
  sgid: number;
  fsgid: number;
}

export interface Caps {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

export interface CredEvent extends EventBase {
  kind: 'cred';
  op: CredOp;
  ret: number;
  /** id arguments in call order; 4294967295 (-1) means "unchanged"; setgroups: [count, 0, 0] */
  args: [number, number, number];
  oldIds: Ids;
  newIds: Ids;
  oldCaps: Caps;
  newCaps: Caps;
}

export interface SignalEvent extends EventBase {
  kind: 'signal';
  sig: number;
  siCode: number;
  targetTgid: number;
  targetTid: number;
  targetStartNs: bigint;
  /** 0 delivered, 1 ignored, 2 already pending, 3 overflow, 4 lost info */
  result: number;
  group: boolean;
}

export type WireEvent =
  | ExecEvent
  | ForkEvent
  | ExitEvent
  | SockEvent
  | TcpStateEvent
  | TcpResetEvent
  | OpenEvent
  | CredEvent
  | SignalEvent;

/** The decoded type of each kind. */
export interface EventByKind {
  exec: ExecEvent;
  fork: ForkEvent;
  exit: ExitEvent;
  connect: SockEvent;
  accept: SockEvent;
  tcp_state: TcpStateEvent;
  tcp_reset: TcpResetEvent;
  open: OpenEvent;
  cred: CredEvent;
  signal: SignalEvent;
}

export class WireDecodeError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'WireDecodeError';
  }
}

// ---- decoder ----

const utf8 = new TextDecoder('utf-8');
const KIND_BY_NUMBER = new Map<number, KindName>(KIND_NAMES.map((k) => [KIND[k], k]));

type Offsets<S extends StructLayout> = { readonly [K in keyof S['fields']]: number };
function offsets<S extends StructLayout>(s: S): Offsets<S> {
  return Object.fromEntries(Object.entries(s.fields).map(([k, [off]]) => [k, off])) as Offsets<S>;
}
const H = offsets(LAYOUT.hdr);
const EX = offsets(LAYOUT.exec);
const FK = offsets(LAYOUT.fork);
const XT = offsets(LAYOUT.exit);
const TU = offsets(LAYOUT.tuple);
const SK = offsets(LAYOUT.sock);
const TC = offsets(LAYOUT.tcp);
const OP = offsets(LAYOUT.open);
const ID = offsets(LAYOUT.ids);
const CP = offsets(LAYOUT.caps);
const CR = offsets(LAYOUT.cred);
const SG = offsets(LAYOUT.signal);

/** Bytes up to the first NUL (or len), as UTF-8 (invalid bytes become U+FFFD). */
function cstr(bytes: Uint8Array, at: number, len: number): string {
  const end = Math.min(at + len, bytes.length);
  let nul = bytes.indexOf(0, at);
  if (nul < 0 || nul > end) nul = end;
  return utf8.decode(bytes.subarray(at, nul));
}

/** NUL-separated argv block; a cut last argument is kept as far as it goes. */
export function splitArgv(bytes: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      out.push(utf8.decode(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  if (start < bytes.length) out.push(utf8.decode(bytes.subarray(start)));
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, longest zero run (>= 2 groups) as '::', IPv4-mapped as ::ffff:a.b.c.d */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${formatIPv4(b.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function formatAddr(family: number, b: Uint8Array): string {
  if (family === AF.inet) return formatIPv4(b);
  if (family === AF.inet6) return formatIPv6(b);
  return '';
}

function decodeTuple(dv: DataView, bytes: Uint8Array, at: number): Tuple {
  const family = dv.getUint16(at + TU.family, true);
  return {
    family,
    protocol: dv.getUint16(at + TU.protocol, true),
    sport: dv.getUint16(at + TU.sport, true),
    dport: dv.getUint16(at + TU.dport, true),
    saddr: formatAddr(family, bytes.subarray(at + TU.saddr, at + TU.saddr + 16)),
    daddr: formatAddr(family, bytes.subarray(at + TU.daddr, at + TU.daddr + 16)),
  };
}

function decodeIds(dv: DataView, at: number): Ids {
  const u = (off: number) => dv.getUint32(at + off, true);
  return {
    uid: u(ID.uid), euid: u(ID.euid), suid: u(ID.suid), fsuid: u(ID.fsuid),
    gid: u(ID.gid), egid: u(ID.egid), sgid: u(ID.sgid), fsgid: u(ID.fsgid),
  };
}

function decodeCaps(dv: DataView, at: number): Caps {
  return {
    effective: dv.getBigUint64(at + CP.effective, true),
    permitted: dv.getBigUint64(at + CP.permitted, true),
    inheritable: dv.getBigUint64(at + CP.inheritable, true),
  };
}

function unixPath(bytes: Uint8Array, at: number, len: number): string {
  if (len <= 0) return '';
  const raw = bytes.subarray(at, at + len);
  if (raw[0] === 0) return `@${utf8.decode(raw.subarray(1)).replace(/\0+$/, '')}`;
  return cstr(bytes, at, len);
}

const TCP_STATE = (n: number): TcpState => TCP_STATES[n] ?? 'UNKNOWN';

/** Minimum record size per kind (everything before the variable tail). */
const MIN_SIZE: Record<KindName, number> = {
  exec: EX.args,
  fork: LAYOUT.fork.size,
  exit: LAYOUT.exit.size,
  connect: SK.path,
  accept: SK.path,
  tcp_state: LAYOUT.tcp.size,
  tcp_reset: LAYOUT.tcp.size,
  open: OP.path,
  cred: LAYOUT.cred.size,
  signal: LAYOUT.signal.size,
};

/** Records the decoder could not turn into events: the recorder writes them as gap rows, never drops them silently. */
export interface Undecodable {
  /** the kind its header names, when the decoder knows it */
  kind: KindName | null;
  /** records lost: at least one when the framing broke (the rest of the batch cannot be split) */
  records: number;
  bytes: number;
  detail: string;
}

/**
 * Decodes one batch (concatenated records, each a multiple of 8 bytes, as the
 * addon hands them over).
 *
 * Without `onLost`: records of unknown kinds (a newer BPF object) are skipped and a
 * malformed record throws. With it, every record that does not decode is reported
 * and decoding goes on with the next one; when a record's size cannot be trusted the
 * rest of the batch is reported as one loss, since records can no longer be told apart.
 */
export function decodeBatch(batch: Uint8Array, onLost?: (lost: Undecodable) => void): WireEvent[] {
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const events: WireEvent[] = [];
  let off = 0;
  while (off < batch.byteLength) {
    const rest = batch.byteLength - off;
    if (rest < LAYOUT.hdr.size) {
      const detail = `truncated record header at byte ${off}`;
      if (!onLost) throw new WireDecodeError(detail, off);
      onLost({ kind: null, records: 1, bytes: rest, detail });
      break;
    }
    const kindNo = dv.getUint16(off + H.kind, true);
    const size = dv.getUint16(off + H.size, true);
    const kind = KIND_BY_NUMBER.get(kindNo);
    if (size < LAYOUT.hdr.size || size > rest) {
      const detail = `record at byte ${off} declares size ${size}, batch has ${rest}`;
      if (!onLost) throw new WireDecodeError(detail, off);
      onLost({ kind: kind ?? null, records: 1, bytes: rest, detail: `${detail}; the rest of the batch cannot be split into records` });
      break;
    }
    const step = Math.min((size + 7) & ~7, rest);
    if (kind === undefined) {
      onLost?.({ kind: null, records: 1, bytes: step, detail: `record of unknown kind ${kindNo} at byte ${off}` });
    } else if (size < MIN_SIZE[kind]) {
      const detail = `${kind} record at byte ${off} is ${size} bytes, needs ${MIN_SIZE[kind]}`;
      if (!onLost) throw new WireDecodeError(detail, off);
      onLost({ kind, records: 1, bytes: step, detail });
    } else if (!onLost) {
      events.push(decodeRecord(kind, batch.subarray(off, off + size)));
    } else {
      try {
        events.push(decodeRecord(kind, batch.subarray(off, off + size)));
      } catch (err) {
        onLost({ kind, records: 1, bytes: step, detail: `${kind} record at byte ${off}: ${(err as Error).message}` });
      }
    }
    off += step;
  }
  return events;
}

function decodeRecord(kind: KindName, rec: Uint8Array): WireEvent {
  const dv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const s32 = (o: number) => dv.getInt32(o, true);
  const u64 = (o: number) => dv.getBigUint64(o, true);
  // The header fields are spelled out in each literal below (no `...base` spread): V8 builds
  // fixed-shape literals fast, while spreading a header object cost ~15 µs per event.
  const flags = u16(H.flags);
  const cpu = u16(H.cpu);
  const tsNs = u64(H.ts_ns);
  const startNs = u64(H.start_ns);
  const cgroupId = u64(H.cgroup_id);
  const tgid = u32(H.tgid);
  const tid = u32(H.tid);
  const comm = cstr(rec, H.comm, LAYOUT.hdr.fields.comm[1]);
  switch (kind) {
    case 'exec': {
      const argsLen = Math.min(u16(EX.args_len), rec.byteLength - EX.args, LAYOUT.exec.fields.args[1]);
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        parentStartNs: u64(EX.parent_start_ns),
        ppid: u32(EX.ppid),
        uid: u32(EX.uid),
        gid: u32(EX.gid),
        euid: u32(EX.euid),
        egid: u32(EX.egid),
        argc: u32(EX.argc),
        oldTid: u32(EX.old_tid),
        filename: cstr(rec, EX.filename, Math.min(u16(EX.filename_len), LAYOUT.exec.fields.filename[1])),
        argv: splitArgv(rec.subarray(EX.args, EX.args + argsLen)),
      };
    }
    case 'fork':
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        childStartNs: u64(FK.child_start_ns),
        childTgid: u32(FK.child_tgid),
        parentTgid: u32(FK.parent_tgid),
      };
    case 'exit': {
      const status = u32(XT.status);
      const termsig = status & 0x7f;
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        status,
        exitCode: termsig === 0 ? (status >> 8) & 0xff : null,
        signal: termsig === 0 ? null : termsig,
        coreDumped: (status & 0x80) !== 0,
        leader: u32(XT.leader) !== 0,
      };
    }
    case 'connect':
    case 'accept': {
      const tuple = decodeTuple(dv, rec, SK.tuple);
      const pathLen = Math.min(u16(SK.path_len), rec.byteLength - SK.path, LAYOUT.sock.fields.path[1]);
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        ret: s32(SK.ret),
        fd: s32(SK.fd),
        tuple,
        path: tuple.family === AF.unix ? unixPath(rec, SK.path, pathLen) : null,
      };
    }
    case 'tcp_state':
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        tuple: decodeTuple(dv, rec, TC.tuple),
        oldState: TCP_STATE(dv.getUint8(TC.oldstate)),
        newState: TCP_STATE(dv.getUint8(TC.newstate)),
      };
    case 'tcp_reset':
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        tuple: decodeTuple(dv, rec, TC.tuple),
        state: TCP_STATE(dv.getUint8(TC.oldstate)),
        direction: dv.getUint8(TC.rst) === 2 ? 'received' : 'sent',
      };
    case 'open': {
      const pathLen = Math.min(u16(OP.path_len), rec.byteLength - OP.path);
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        ret: s32(OP.ret),
        dfd: s32(OP.dfd),
        openFlags: u32(OP.flags),
        mode: u32(OP.mode),
        prefixId: u32(OP.prefix_id),
        path: cstr(rec, OP.path, pathLen),
        given: flags & FLAG.resolved ? cstr(rec, OP.given, Math.min(u16(OP.given_len), rec.byteLength - OP.given)) : null,
      };
    }
    case 'cred':
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        op: CRED_OPS[u32(CR.op)] ?? 'unknown',
        ret: s32(CR.ret),
        args: [u32(CR.arg), u32(CR.arg + 4), u32(CR.arg + 8)],
        oldIds: decodeIds(dv, CR.old_ids),
        newIds: decodeIds(dv, CR.new_ids),
        oldCaps: decodeCaps(dv, CR.old_caps),
        newCaps: decodeCaps(dv, CR.new_caps),
      };
    case 'signal':
      return {
        kind, flags, cpu, tsNs, startNs, cgroupId, tgid, tid, comm,
        sig: u32(SG.sig),
        siCode: s32(SG.si_code),
        targetTgid: u32(SG.target_tgid),
        targetTid: u32(SG.target_tid),
        targetStartNs: u64(SG.target_start_ns),
        result: s32(SG.result),
        group: u32(SG.group) !== 0,
      };
  }
}
