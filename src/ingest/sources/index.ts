import type { ParserOptions, SourceParser } from '../source.js';
import { azureActivity } from './azure-activity.js';
import { cloudtrail } from './cloudtrail.js';
import { entraId } from './entra-id.js';
import { envoy } from './envoy.js';
import { falco } from './falco.js';
import { gcpAudit } from './gcp-audit.js';
import { gworkspace } from './gworkspace.js';
import { k8sAudit } from './k8s-audit.js';
import { okta } from './okta.js';
import { opa } from './opa.js';
import { spire } from './spire.js';
import { tetragon } from './tetragon.js';
import { vault } from './vault.js';

/** Every source parser, in detection order (most specific first). */
export const PARSERS: readonly SourceParser[] = [cloudtrail, k8sAudit, gcpAudit, entraId, azureActivity, gworkspace, okta, vault, opa, spire, tetragon, falco, envoy];

export function parserByName(name: string): SourceParser | undefined {
  return PARSERS.find((p) => p.name === name);
}

export const SOURCE_CHOICES: readonly string[] = PARSERS.map((p) => p.name);

/** The parsers set up with the user's options (e.g. --envoy-format); throws UsageError on a bad option. */
export function configuredParsers(options: ParserOptions = {}): readonly SourceParser[] {
  return PARSERS.map((p) => p.configure?.(options) ?? p);
}
