import { describe, expect, it } from 'vitest';
import { addonBuilt, loadAddon } from '../../src/record/native.js';
import { ip4, record } from '../helpers/wire.js';
import {
  FLAG,
  KIND,
  KIND_MAX,
  LAYOUT,
  WIRE_VERSION,
  WireDecodeError,
  type Undecodable,
  decodeBatch,
  formatIPv6,
  splitArgv,
} from '../../src/record/wire.js';

const REQUIRE_BPF = process.env.CUSTODY_REQUIRE_BPF === '1';

describe.skipIf(!addonBuilt() && !REQUIRE_BPF)('wire layout: C (custody_wire.h via the addon) = TypeScript', () => {
  it('has the same structs, field offsets and sizes', () => {
    const native = loadAddon().layout();
    expect(native.structs).toEqual(LAYOUT);
  });

  it('has the same kind numbers and version', () => {
    const native = loadAddon().layout();
    expect(native.kinds).toEqual(KIND);
    expect(native.kindMax).toBe(KIND_MAX);
    expect(native.version).toBe(WIRE_VERSION);
  });
});


describe('decodeBatch', () => {
  it('decodes an exec record trimmed after its argv bytes', () => {
    const args = Buffer.from('/bin/true\0a\0b\0');
    const size = LAYOUT.exec.fields.args[0] + ((args.length + 7) & ~7);
    const buf = record(
      KIND.exec,
      'exec',
      {
        parent_start_ns: 42n, ppid: 99, uid: 0, gid: 0, euid: 0, egid: 0, argc: 3, old_tid: 100,
        filename_len: 9, args_len: args.length, filename: '/bin/true', args,
      },
      { size, hdr: { comm: 'true' } },
    );
    expect(buf.length).toBe(368);
    const [ev] = decodeBatch(buf);
    expect(ev).toMatchObject({
      kind: 'exec', tgid: 100, tid: 101, comm: 'true', tsNs: 1000n, startNs: 500n, cgroupId: 77n,
      ppid: 99, parentStartNs: 42n, argc: 3, filename: '/bin/true', argv: ['/bin/true', 'a', 'b'],
    });
  });

  it('keeps a cut last argument', () => {
    expect(splitArgv(Buffer.from('ls\0-la\0/very/lo'))).toEqual(['ls', '-la', '/very/lo']);
    expect(splitArgv(new Uint8Array())).toEqual([]);
  });

  it('decodes several records of different kinds in one batch, in order', () => {
    const batch = Buffer.concat([
      record(KIND.fork, 'fork', { child_start_ns: 900n, child_tgid: 200, parent_tgid: 100 }),
      record(KIND.exit, 'exit', { status: 7 << 8, leader: 1 }),
      record(KIND.exit, 'exit', { status: 10, leader: 0 }),
      record(KIND.exit, 'exit', { status: 0x80 | 11, leader: 1 }),
    ]);
    const evs = decodeBatch(batch);
    expect(evs.map((e) => e.kind)).toEqual(['fork', 'exit', 'exit', 'exit']);
    expect(evs[0]).toMatchObject({ childStartNs: 900n, childTgid: 200, parentTgid: 100 });
    expect(evs[1]).toMatchObject({ exitCode: 7, signal: null, coreDumped: false, leader: true });
    expect(evs[2]).toMatchObject({ exitCode: null, signal: 10, leader: false });
    expect(evs[3]).toMatchObject({ exitCode: null, signal: 11, coreDumped: true });
  });

  it('decodes a refused IPv4 connect without the unix path tail', () => {
    const buf = record(
      KIND.connect,
      'sock',
      { ret: -111, fd: 3 },
      {
        size: LAYOUT.sock.fields.path[0],
        nested: {
          tuple: ['tuple', { family: 2, protocol: 6, sport: 0, dport: 9, saddr: ip4(0, 0, 0, 0), daddr: ip4(127, 0, 0, 1) }],
        },
      },
    );
    expect(buf.length).toBe(112);
    expect(decodeBatch(buf)[0]).toMatchObject({
      kind: 'connect', ret: -111, fd: 3, path: null,
      tuple: { family: 2, protocol: 6, sport: 0, dport: 9, saddr: '0.0.0.0', daddr: '127.0.0.1' },
    });
  });

  it('decodes unix connects, abstract names with a leading @', () => {
    const path = Buffer.from('\0spire-agent');
    const buf = record(
      KIND.connect,
      'sock',
      { ret: 0, fd: 4, path_len: path.length, path },
      { size: LAYOUT.sock.fields.path[0] + 16, nested: { tuple: ['tuple', { family: 1 }] } },
    );
    expect(decodeBatch(buf)[0]).toMatchObject({ path: '@spire-agent', tuple: { family: 1, saddr: '', daddr: '' } });
  });

  it('decodes IPv6 TCP state changes and resets', () => {
    const v6 = new Uint8Array(16);
    v6[15] = 1;
    const batch = Buffer.concat([
      record(KIND.tcp_state, 'tcp', { oldstate: 2, newstate: 7 }, {
        hdr: { flags: 4 },
        nested: { tuple: ['tuple', { family: 10, protocol: 6, sport: 40000, dport: 443, saddr: v6, daddr: v6 }] },
      }),
      record(KIND.tcp_reset, 'tcp', { oldstate: 2, rst: 2 }, { nested: { tuple: ['tuple', { family: 10 }] } }),
    ]);
    const [state, reset] = decodeBatch(batch);
    expect(state).toMatchObject({ oldState: 'SYN_SENT', newState: 'CLOSE', flags: 4, tuple: { saddr: '::1', dport: 443 } });
    expect(reset).toMatchObject({ kind: 'tcp_reset', state: 'SYN_SENT', direction: 'received' });
  });

  it('decodes opens, creds and signals', () => {
    const path = '/var/run/secrets/kubernetes.io/serviceaccount/token';
    const batch = Buffer.concat([
      record(KIND.open, 'open', { ret: -13, dfd: -100, flags: 0, mode: 0, prefix_id: 2, path_len: path.length, path }, {
        size: LAYOUT.open.fields.path[0] + ((path.length + 1 + 7) & ~7),
      }),
      record(KIND.cred, 'cred', { op: 5, ret: 0, arg: Buffer.from([0xe8, 3, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xe8, 3, 0, 0]) }, {
        nested: {
          old_ids: ['ids', { uid: 0, euid: 0, suid: 0 }],
          new_ids: ['ids', { uid: 1000, euid: 0, suid: 1000 }],
          old_caps: ['caps', { effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn }],
        },
      }),
      record(KIND.signal, 'signal', { sig: 10, si_code: 0, target_tgid: 300, target_tid: 300, target_start_ns: 5n, result: 0, group: 1 }),
    ]);
    const [open, cred, sig] = decodeBatch(batch);
    expect(open).toMatchObject({ kind: 'open', ret: -13, dfd: -100, prefixId: 2, path });
    expect(cred).toMatchObject({
      kind: 'cred', op: 'setresuid', ret: 0, args: [1000, 4294967295, 1000],
      oldIds: { uid: 0 }, newIds: { uid: 1000, euid: 0, suid: 1000 },
      oldCaps: { effective: 0x1ffffffffffn }, newCaps: { effective: 0n },
    });
    expect(sig).toMatchObject({ kind: 'signal', sig: 10, targetTgid: 300, targetStartNs: 5n, result: 0, group: true });
  });

  it('decodes a resolved open: the walked path and the name as passed; without the flag there is no name passed', () => {
    const path = '/var/run/secrets/kubernetes.io/serviceaccount/token';
    const given = '../serviceaccount/token';
    const resolved = record(KIND.open, 'open', { ret: 3, dfd: 5, prefix_id: 0, path_len: path.length, given_len: given.length, path, given }, {
      size: LAYOUT.open.fields.given[0] + ((given.length + 1 + 7) & ~7),
      hdr: { flags: FLAG.resolved },
    });
    const plain = record(KIND.open, 'open', { ret: 3, dfd: -100, path_len: path.length, path }, { size: LAYOUT.open.fields.path[0] + ((path.length + 1 + 7) & ~7) });
    const [a, b] = decodeBatch(Buffer.concat([resolved, plain]));
    expect(a).toMatchObject({ kind: 'open', ret: 3, dfd: 5, path, given });
    expect(b).toMatchObject({ kind: 'open', path, given: null });
  });

  it('skips records of kinds it does not know', () => {
    const unknown = record(42, 'exit', {});
    const known = record(KIND.exit, 'exit', { status: 0 });
    expect(decodeBatch(Buffer.concat([unknown, known])).map((e) => e.kind)).toEqual(['exit']);
  });

  it('rejects a record whose size runs past the batch', () => {
    const buf = record(KIND.exit, 'exit', {});
    buf.writeUInt16LE(200, LAYOUT.hdr.fields.size[0]);
    expect(() => decodeBatch(buf)).toThrow(WireDecodeError);
    expect(() => decodeBatch(buf.subarray(0, 40))).toThrow(/truncated record header at byte 0/);
  });

  it('rejects a record shorter than its kind needs', () => {
    const buf = record(KIND.cred, 'cred', {}, { size: 64 });
    expect(() => decodeBatch(buf)).toThrow(/cred record at byte 0 is 64 bytes, needs 192/);
  });

  it('with onLost, reports each record it cannot decode and goes on with the next', () => {
    const lost: Undecodable[] = [];
    const batch = Buffer.concat([
      record(KIND.exit, 'exit', { status: 0 }, { hdr: { tgid: 1 } }),
      record(42, 'exit', {}),
      record(KIND.cred, 'cred', {}, { size: 64 }),
      record(KIND.exit, 'exit', { status: 0 }, { hdr: { tgid: 2 } }),
    ]);
    expect(decodeBatch(batch, (l) => lost.push(l)).map((e) => e.tgid)).toEqual([1, 2]);
    expect(lost).toEqual([
      { kind: null, records: 1, bytes: 64, detail: 'record of unknown kind 42 at byte 64' },
      { kind: 'cred', records: 1, bytes: 64, detail: 'cred record at byte 128 is 64 bytes, needs 192' },
    ]);
  });

  it('with onLost, a size past the batch loses the rest of the batch as one report, keeping what came before', () => {
    const bad = record(KIND.fork, 'fork', {});
    bad.writeUInt16LE(4000, LAYOUT.hdr.fields.size[0]);
    const lost: Undecodable[] = [];
    const batch = Buffer.concat([record(KIND.exit, 'exit', {}), bad, record(KIND.exit, 'exit', {})]);
    expect(decodeBatch(batch, (l) => lost.push(l))).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ kind: 'fork', records: 1, bytes: batch.length - 64 });
    expect(lost[0]!.detail).toMatch(/^record at byte 64 declares size 4000/);
    const tail: Undecodable[] = [];
    expect(decodeBatch(batch.subarray(0, 100), (l) => tail.push(l))).toHaveLength(1);
    expect(tail).toEqual([{ kind: null, records: 1, bytes: 36, detail: 'truncated record header at byte 64' }]);
  });
});

describe('formatIPv6', () => {
  it.each([
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['2001:db8::1', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]],
    ['2001:db8:0:1:1:1:1:1', [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]],
    ['fe80::1:0:0:1', [0xfe80, 0, 0, 0, 1, 0, 0, 1]],
    ['::ffff:10.0.0.1', [0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]],
  ])('%s', (text, groups) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[i * 2] = g >> 8;
      b[i * 2 + 1] = g & 0xff;
    });
    expect(formatIPv6(b)).toBe(text);
  });
});
