import type { ParserOptions, SourceParser } from '../source.js';
import { cloudtrail } from './cloudtrail.js';
import { envoy } from './envoy.js';
import { falco } from './falco.js';
import { k8sAudit } from './k8s-audit.js';
import { tetragon } from './tetragon.js';

/** Every source parser, in detection order (most specific first). */
export const PARSERS: readonly SourceParser[] = [cloudtrail, k8sAudit, tetragon, falco, envoy];

export function parserByName(name: string): SourceParser | undefined {
  return PARSERS.find((p) => p.name === name);
}

export const SOURCE_CHOICES: readonly string[] = PARSERS.map((p) => p.name);

/** The parsers set up with the user's options (e.g. --envoy-format); throws UsageError on a bad option. */
export function configuredParsers(options: ParserOptions = {}): readonly SourceParser[] {
  return PARSERS.map((p) => p.configure?.(options) ?? p);
}
