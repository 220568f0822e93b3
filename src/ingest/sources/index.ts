import type { SourceParser } from '../source.js';
import { azureActivity } from './azure-activity.js';
import { cloudtrail } from './cloudtrail.js';
import { entraId } from './entra-id.js';
import { gcpAudit } from './gcp-audit.js';
import { gworkspace } from './gworkspace.js';
import { k8sAudit } from './k8s-audit.js';
import { okta } from './okta.js';
import { opa } from './opa.js';
import { spire } from './spire.js';
import { vault } from './vault.js';

/** Every source parser, in detection order (most specific first). */
export const PARSERS: readonly SourceParser[] = [cloudtrail, k8sAudit, gcpAudit, entraId, azureActivity, gworkspace, okta, vault, opa, spire];

export function parserByName(name: string): SourceParser | undefined {
  return PARSERS.find((p) => p.name === name);
}

export const SOURCE_CHOICES: readonly string[] = PARSERS.map((p) => p.name);
