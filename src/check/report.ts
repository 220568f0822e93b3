import type { RuleKind, Severity } from './rules.js';

/**
 * What `custody check` reports. Every object is built with its keys in a fixed order and every
 * list is sorted (rows by time, then event id), so the same bundles and policy give
 * byte-identical JSON and JUnit reports. No wall-clock time appears anywhere.
 */

/** An evidence row a violation points at, besides its own row. */
export interface RelatedRow {
  /** Why it is related: issuance, success-after-deny, ... */
  role: string;
  event_id: string;
  source_ref: string | null;
  bundle: string | null;
}

export interface Violation {
  /** The offending row; null when the violation is about something missing (a source, a window). */
  event_id: string | null;
  time: string | null;
  source: string | null;
  /** Where the raw record is, inside `bundle`. */
  source_ref: string | null;
  bundle: string | null;
  action: string | null;
  target: string | null;
  actor_id: string | null;
  credential_id: string | null;
  src_ip: string | null;
  /** Why this is a violation, in one sentence (contains evidence strings: escape before printing). */
  message: string;
  related: RelatedRow[];
}

export interface RuleResult {
  name: string;
  kind: RuleKind;
  severity: Severity;
  description: string | null;
  status: 'pass' | 'fail';
  /** How many rows (in the rule's scope) the rule looked at. */
  examined: number;
  violations: Violation[];
}

export interface BundleRef {
  dir: string;
  chain_head: string;
  entries: number;
}

export interface CheckReport {
  report: 'custody-check';
  format: 1;
  tool: { name: 'custody'; version: string };
  policy: { file: string; sha256: string };
  bundles: BundleRef[];
  result: 'pass' | 'fail';
  summary: { rules: number; passed: number; failed: number; violations: number };
  rules: RuleResult[];
}

export const CHECK_EXIT = { pass: 0, fail: 1 } as const;
