import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** One record of a bundle's quarantine files. */
export interface QuarantinedRecord {
  file: string;
  input: string;
  line: number | null;
  pointer?: string;
  reason: string;
  text?: string;
}

/** Every quarantined record of a bundle, in file order. */
export function quarantinedRecords(bundle: string): QuarantinedRecord[] {
  const out: QuarantinedRecord[] = [];
  const root = join(bundle, 'quarantine');
  let sources: string[];
  try {
    sources = readdirSync(root);
  } catch {
    return out;
  }
  for (const src of sources.sort()) {
    for (const f of readdirSync(join(root, src)).sort()) {
      for (const l of readFileSync(join(root, src, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l) as QuarantinedRecord);
    }
  }
  return out;
}

/** Quarantined records of one input file (matched by the end of the name the user gave). */
export function quarantinedOf(bundle: string, fileName: string): QuarantinedRecord[] {
  return quarantinedRecords(bundle).filter((q) => q.input.endsWith(`/${fileName}`) || q.input === fileName);
}
