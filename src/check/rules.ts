import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { parseDurationNs, parseTimeNs } from '../model/time.js';
import { InputError, UsageError } from '../util/errors.js';
import { parseCidr, parseDestination, type Cidr, type Destination } from './net.js';

/**
 * The policy file `custody check --rules` reads (YAML or JSON): a list of rules, each of one
 * kind, with a name, a severity and an optional scope. Validated here, at the boundary; a bad
 * file is a usage error that names the rule and the field (exit 2).
 */

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export const severitySchema = z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }).describe('How bad a violation of the rule is.');
export type Severity = z.infer<typeof severitySchema>;

function parsed<T>(what: string, parse: (s: string) => T | string) {
  return z.string({ error: `must be a string (${what})` }).transform((v, ctx) => {
    const r = parse(v);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

const durationSchema = parsed('a duration such as 15m, 1h, 12h', (v) => parseDurationNs(v) ?? `${JSON.stringify(v)} is not a duration (use e.g. 15m, 1h, 12h, 7d)`).describe('A duration: 90s, 15m, 1h, 7d.');
const timeSchema = parsed('an ISO 8601 time', (v) => parseTimeNs(v) ?? `${JSON.stringify(v)} is not a time (use ISO 8601, e.g. 2026-03-10T10:00:00Z)`).describe('ISO 8601 time (UTC when no zone).');
export const cidrSchema = parsed<Cidr>('a CIDR such as 10.0.0.0/8', parseCidr).describe('An IP network (10.0.0.0/8, fd00::/8) or address.');
const destinationSchema = parsed<Destination>('a destination', parseDestination).describe(
  'Where a workload must not connect: a CIDR with an optional port (10.0.0.0/8, 169.254.169.254:80, [fd00::/8]:443), a host (vault.internal:8200, *.example.com), *:<port>, or a SPIFFE id (spiffe://td/ns/db/sa/db, spiffe://td/ns/db/*).',
);
const nonEmpty = z.string().min(1, 'must not be empty');

export const scopeSchema = z
  .strictObject({
    workload: nonEmpty.optional().describe('Pod (name, ns/name, uid), service account (ns/sa, system:serviceaccount:ns:sa), container id or SPIFFE id; includes actions made with credentials it obtained.'),
    namespace: nonEmpty.optional().describe('Kubernetes namespace of the workload behind the action.'),
    identity: nonEmpty.optional().describe('A principal in the identity chain (actor, role, service account, user); * and ** globs allowed.'),
    since: timeSchema.optional().describe('Only rows at or after this time.'),
    until: timeSchema.optional().describe('Only rows at or before this time.'),
  })
  .refine((s) => s.since === undefined || s.until === undefined || s.since <= s.until, { message: 'since is after until', path: ['until'] })
  .describe('Which rows a rule looks at. Omitted: every row of every bundle.');
export type Scope = z.infer<typeof scopeSchema>;

const base = {
  name: z
    .string({ error: 'every rule needs a name' })
    .min(1, 'must not be empty')
    .max(200, 'at most 200 characters')
    // eslint-disable-next-line no-control-regex
    .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters')
    .describe('Unique rule name; the JUnit testcase name.'),
  severity: severitySchema,
  description: z.string().optional().describe('What the rule protects, for the report.'),
  scope: scopeSchema.optional(),
};

export const forbiddenFlowSchema = z
  .strictObject({
    ...base,
    kind: z.literal('forbidden_flow'),
    to: z.array(destinationSchema).min(1, 'name at least one destination').describe('Destinations no connection in scope may reach.'),
    include_failed: z.boolean().default(false).describe('Also count connection attempts that failed or were denied.'),
  })
  .describe('A workload or identity must not connect to a destination (network rows: kernel, mesh, Tetragon).');

export const credentialMisuseSchema = z
  .strictObject({
    ...base,
    kind: z.literal('credential_misuse'),
    credential_types: z.array(nonEmpty).min(1).optional().describe('Only credentials of these types (aws_session_key, k8s_token, ...). Omitted: all.'),
    allowed_cidrs: z.array(cidrSchema).default([]).describe('Networks a credential may always be used from.'),
    same_ip_as_issuance: z.boolean().default(true).describe('A use from an address other than the one the credential was issued to is a violation (unless in allowed_cidrs).'),
    same_workload: z.boolean().default(true).describe('A use attributed to a workload other than the one the credential was issued to is a violation.'),
  })
  .describe('A credential used from outside the workload or network it was issued to.');

export const credentialLifetimeSchema = z
  .strictObject({
    ...base,
    kind: z.literal('credential_lifetime'),
    max_session: durationSchema.optional().describe('Issued credentials may live at most this long.'),
    credential_types: z.array(nonEmpty).min(1).optional().describe('max_session applies to these issued credential types. Omitted: all.'),
    long_lived: z.enum(['forbid', 'allow']).default('allow').describe('forbid: any use of a long-lived credential (AKIA… access keys, static API tokens) is a violation.'),
    long_lived_types: z.array(nonEmpty).optional().describe('Credential types counted as long-lived (default: aws_access_key, gcp_sa_key, gcp_api_key, okta_api_token, okta_client_secret, entra_client_secret, azure_storage_key, api_token, static_token).'),
  })
  .refine((r) => r.max_session !== undefined || r.long_lived === 'forbid', { message: 'set max_session, long_lived: forbid, or both', path: ['max_session'] })
  .describe('Sessions longer than max_session; long-lived keys used at all.');

export const unenforcedDenySchema = z
  .strictObject({
    ...base,
    kind: z.literal('unenforced_deny'),
  })
  .describe('A deny (OPA, mesh RBAC, Kubernetes forbid, Entra CA) followed by the same action succeeding elsewhere (DESIGN.md rule 6, link enforcement-gap).');

export const CATEGORIES_UNATTRIBUTED_DEFAULT = ['process', 'network', 'file', 'api'] as const;

export const unattributedActionSchema = z
  .strictObject({
    ...base,
    kind: z.literal('unattributed_action'),
    categories: z
      .array(z.enum(['process', 'network', 'file', 'auth', 'credential', 'api', 'policy', 'enforcement']))
      .min(1)
      .default([...CATEGORIES_UNATTRIBUTED_DEFAULT])
      .describe('Row categories that must be attributed (default process, network, file, api).'),
    sources: z.array(nonEmpty).min(1).optional().describe('Only rows of these sources (kernel, cloudtrail, ...).'),
    targets: z.array(nonEmpty).min(1).optional().describe('Only rows whose target matches one of these globs (e.g. /var/run/secrets/**, **/.aws/credentials).'),
  })
  .describe('Kernel activity or API calls with no identity in their chain.');

export const evidenceCompletenessSchema = z
  .strictObject({
    ...base,
    kind: z.literal('evidence_completeness'),
    required_sources: z.array(nonEmpty).default([]).describe('Sources that must have rows in the window.'),
    gaps: z.enum(['forbid', 'allow']).default('forbid').describe('forbid: any recorder gap row (lost kernel events) in the window is a violation.'),
    max_quarantined: z.number().int().nonnegative().optional().describe('At most this many quarantined (unparsable) records in the bundles.'),
  })
  .superRefine((r, ctx) => {
    for (const k of ['workload', 'namespace', 'identity'] as const) {
      if (r.scope?.[k] !== undefined) ctx.addIssue({ code: 'custom', path: ['scope', k], message: 'evidence_completeness is about the whole bundle: only since and until may scope it' });
    }
  })
  .describe('Required sources present for the window; no recorder drops (gap rows) in it.');

export const RULE_KINDS = ['forbidden_flow', 'credential_misuse', 'credential_lifetime', 'unenforced_deny', 'unattributed_action', 'evidence_completeness'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const ruleSchema = z.discriminatedUnion('kind', [forbiddenFlowSchema, credentialMisuseSchema, credentialLifetimeSchema, unenforcedDenySchema, unattributedActionSchema, evidenceCompletenessSchema]);
export type Rule = z.infer<typeof ruleSchema>;
export type RuleOf<K extends RuleKind> = Extract<Rule, { kind: K }>;

export const policySchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1' }).default(1).describe('Policy format version.'),
    rules: z.array(ruleSchema, { error: 'must be a list of rules' }).min(1, 'name at least one rule'),
  })
  .superRefine((p, ctx) => {
    const seen = new Map<string, number>();
    p.rules.forEach((r, i) => {
      const prev = seen.get(r.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name (also rules[${prev}])` });
      else seen.set(r.name, i);
    });
  })
  .describe('A custody check policy: rules over evidence bundles.');
export type Policy = z.infer<typeof policySchema>;

export interface LoadedPolicy {
  file: string;
  /** The file's bytes, for the report's sha256. */
  bytes: Buffer;
  policy: Policy;
}

/** Reads and validates a policy file. Throws InputError (unreadable) or UsageError (invalid), both exit 2. */
export async function loadPolicy(file: string): Promise<LoadedPolicy> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? (err as Error).message})`}`, 'name a YAML or JSON policy file with --rules');
  }
  return { file, bytes, policy: parsePolicy(bytes.toString('utf8'), file) };
}

/** Parses policy text (YAML, of which JSON is a subset) and validates it. */
export function parsePolicy(text: string, file: string): Policy {
  let doc: unknown;
  try {
    doc = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      const what = firstLine(err.message).replace(/ at line \d+, column \d+:?$/, '');
      throw new UsageError(`${file}: not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}: ${what}`, 'see the example policy in fixtures/demo/policy.yaml');
    }
    throw new UsageError(`${file}: not valid JSON: ${(err as Error).message}`, 'see the example policy in fixtures/demo/policy.yaml');
  }
  if (doc === null || doc === undefined) throw new UsageError(`${file}: empty policy`, 'a policy is a mapping with a rules: list; see fixtures/demo/policy.yaml');
  const r = policySchema.safeParse(doc);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const first = describeIssue(issues[0]!, doc);
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  throw new UsageError(`${file}: ${first}${more}`, `rule kinds: ${RULE_KINDS.join(', ')}; see fixtures/demo/policy.yaml`);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!;
}

/** `rule "no-outside-use" (rules[1]): allowed_cidrs[0]: "10.0.0.0/33": prefix length must be 0-32`. */
function describeIssue(issue: z.core.$ZodIssue, doc: unknown): string {
  const path = [...issue.path];
  let where = '';
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const i = path[1];
    const raw = (doc as { rules?: unknown[] }).rules?.[i];
    const name = raw && typeof raw === 'object' && typeof (raw as { name?: unknown }).name === 'string' ? (raw as { name: string }).name : undefined;
    where = name ? `rule ${JSON.stringify(name)} (rules[${i}])` : `rules[${i}]`;
    path.splice(0, 2);
  }
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    message = `unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => JSON.stringify(k)).join(', ')}`;
  } else if (path[path.length - 1] === 'kind' && (issue.code === 'invalid_union' || issue.code === 'invalid_value')) {
    message = `must be one of ${RULE_KINDS.join(', ')}`;
  } else if (issue.code === 'invalid_union' && path.length === 0 && where) {
    message = `must be one of ${RULE_KINDS.join(', ')}`;
    path.push('kind');
  }
  const field = formatPath(path);
  return [where, field ? `field ${field}` : '', message].filter(Boolean).join(': ');
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}
