/** Writes wire records through LAYOUT, field by field, as the BPF programs would (for decoder and writer tests). */
import { LAYOUT } from '../../src/record/wire.js';

type StructName = keyof typeof LAYOUT;
type Value = number | bigint | string | Uint8Array;

function put(buf: Buffer, at: number, [off, size]: readonly [number, number], v: Value): void {
  const p = at + off;
  if (typeof v === 'bigint') buf.writeBigUInt64LE(v, p);
  else if (typeof v === 'string') buf.write(v, p, Math.min(size, buf.length - p), 'utf8');
  else if (v instanceof Uint8Array) buf.set(v.subarray(0, Math.min(size, buf.length - p)), p);
  else if (size === 1) buf.writeUInt8(v, p);
  else if (size === 2) buf.writeUInt16LE(v, p);
  else if (v < 0) buf.writeInt32LE(v, p);
  else buf.writeUInt32LE(v, p);
}

export function record(
  kind: number,
  struct: StructName,
  fields: Record<string, Value>,
  opts: { size?: number; hdr?: Record<string, Value>; nested?: Record<string, [StructName, Record<string, Value>]> } = {},
): Buffer {
  const layout = LAYOUT[struct];
  const size = opts.size ?? layout.size;
  const buf = Buffer.alloc((size + 7) & ~7);
  const hdr = {
    kind, size, flags: 0, cpu: 1, ts_ns: 1_000n, start_ns: 500n, cgroup_id: 77n, tgid: 100, tid: 101, comm: 'sh',
    ...opts.hdr,
  };
  for (const [name, v] of Object.entries(hdr)) put(buf, 0, LAYOUT.hdr.fields[name as keyof typeof LAYOUT.hdr.fields], v);
  const fieldMap = layout.fields as Record<string, readonly [number, number]>;
  for (const [name, v] of Object.entries(fields)) {
    const f = fieldMap[name];
    if (!f) throw new Error(`no field ${struct}.${name}`);
    put(buf, 0, f, v);
  }
  for (const [name, [sub, subFields]] of Object.entries(opts.nested ?? {})) {
    const base = fieldMap[name]![0];
    const subMap = LAYOUT[sub].fields as Record<string, readonly [number, number]>;
    for (const [n, v] of Object.entries(subFields)) put(buf, base, subMap[n]!, v);
  }
  return buf;
}

export const ip4 = (...b: number[]) => Uint8Array.from(b);
