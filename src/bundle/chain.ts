import { sha256Hex } from '../util/hash.js';
import { CHAIN_GENESIS } from './manifest.js';

/** chain_i = sha256(chain_{i-1} ‖ sha256_i ‖ path_i), over the UTF-8 of the hex strings and the path. */
export function chainNext(prev: string, sha256: string, path: string): string {
  return sha256Hex(prev + sha256 + path);
}

/** Chain values for a list of (sha256, path), starting from the genesis value. */
export function chainOf(entries: readonly { sha256: string; path: string }[]): string[] {
  const out: string[] = [];
  let prev = CHAIN_GENESIS;
  for (const e of entries) {
    prev = chainNext(prev, e.sha256, e.path);
    out.push(prev);
  }
  return out;
}
