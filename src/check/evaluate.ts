import { parseTimeNs, formatTimeNs } from '../model/time.js';
import type { ChainElement, TimelineRow } from '../reconstruct/index.js';
import type { Timeline } from '../reconstruct/timeline.js';
import { globMatcher } from './glob.js';
import { destinationMatches, hostOfTarget, ipFamily, NetSet, normalizeIp, type FlowFacts } from './net.js';
import type { RelatedRow, RuleResult, Violation } from './report.js';
import type { Rule, RuleOf, Scope } from './rules.js';

/**
 * Evaluates policy rules over a linked timeline. DuckDB narrows the rows (time window, workload
 * through the identity graph, categories, sources: bound parameters); each rule's own test runs
 * on the linked rows (addresses, chains, links). Rules that share a window and workload share one
 * pass. Rows arrive in time order (time, event_id), so violations come out in a deterministic
 * order, and a rule's verdict never depends on the other rules of the policy.
 */

/** Link rule names this module relies on (DESIGN.md rule 3 and 6; stable API of the identity graph). */
export const LINK_RULES = {
  issuance: 'credential-issuance',
  enforcementGap: 'enforcement-gap',
  enforced: 'enforced',
} as const;

/** Chain element types that name a principal or workload (everything but `unknown`). */
const IDENTITY_TYPES = new Set(['human', 'service_account', 'role_session', 'role', 'workload', 'api_key', 'agent']);

/**
 * Credential types (as the parsers name them) that do not expire on their own: AWS IAM user keys,
 * GCP service-account keys and API keys, Okta API tokens (SSWS) and client secrets, Entra client
 * secrets, Azure storage account keys, and generic static tokens.
 */
export const DEFAULT_LONG_LIVED_TYPES = ['aws_access_key', 'gcp_sa_key', 'gcp_api_key', 'okta_api_token', 'okta_client_secret', 'entra_client_secret', 'azure_storage_key', 'api_token', 'static_token'];
/** AWS long-term access key ids (IAM users, root): AKIA + 16. */
const AWS_LONG_TERM_KEY = /^AKIA[A-Z0-9]{12,}$/;

export interface EvalContext {
  timeline: Timeline;
  /** Records quarantined as unparsable, over all bundles (from the manifests). */
  quarantined: number;
  /** Kernel events the recorders reported lost (manifest drops), over all bundles. */
  drops: { total: number; by_kind: Record<string, number> };
}

/** Evaluates every rule of a policy, in order. Row rules that share a time window and workload share one pass over the timeline. */
export async function evaluateRules(ctx: EvalContext, rules: readonly Rule[]): Promise<RuleResult[]> {
  const lookup = new RowLookup(ctx.timeline);
  const visitors = rules.map((r) => (r.kind === 'evidence_completeness' ? null : VISITORS[r.kind](ctx, r as never)));
  const groups = new Map<string, RowVisitor[]>();
  for (const v of visitors) {
    if (!v) continue;
    const key = JSON.stringify([String(v.scope?.since ?? ''), String(v.scope?.until ?? ''), v.scope?.workload ?? '']);
    const g = groups.get(key);
    if (g) g.push(v);
    else groups.set(key, [v]);
  }
  for (const group of groups.values()) await pass(ctx, group);
  const results: RuleResult[] = [];
  for (const [i, rule] of rules.entries()) {
    const v = visitors[i];
    const r = v ? await v.finish(lookup) : await evidenceCompleteness(ctx, rule as RuleOf<'evidence_completeness'>);
    results.push({
      name: rule.name,
      kind: rule.kind,
      severity: rule.severity,
      description: rule.description ?? null,
      status: r.violations.length > 0 ? 'fail' : 'pass',
      examined: r.examined,
      violations: r.violations,
    });
  }
  return results;
}

interface Outcome {
  examined: number;
  violations: Violation[];
}

/**
 * A row rule: which rows it wants (categories, sources, scope), what it does with each, and how it
 * turns what it saw into an outcome once every pass has ended (lookups by event id happen only
 * then: never while a stream is open).
 */
interface RowVisitor {
  scope: Scope | undefined;
  categories?: readonly string[];
  sources?: readonly string[];
  visit(row: TimelineRow): void;
  finish(lookup: RowLookup): Promise<Outcome>;
}

type VisitorFactory<K extends Rule['kind']> = (ctx: EvalContext, rule: RuleOf<K>) => RowVisitor;

const VISITORS: { [K in Exclude<Rule['kind'], 'evidence_completeness'>]: VisitorFactory<K> } = {
  forbidden_flow: forbiddenFlow,
  credential_misuse: credentialMisuse,
  credential_lifetime: credentialLifetime,
  unenforced_deny: unenforcedDeny,
  unattributed_action: unattributedAction,
};

// ---------------------------------------------------------------- scope

/**
 * One pass over the rows a group of visitors needs: DuckDB narrows by the shared window and
 * workload (bound parameters, the identity graph for --workload) and by the union of the
 * visitors' categories and sources; each visitor then takes the rows of its own categories,
 * sources, namespace and identity.
 */
async function pass(ctx: EvalContext, group: RowVisitor[]): Promise<void> {
  const scope = group[0]!.scope;
  const union = (pick: (v: RowVisitor) => readonly string[] | undefined): string[] | undefined =>
    group.every((v) => pick(v) !== undefined) ? [...new Set(group.flatMap((v) => pick(v)!))].sort() : undefined;
  const q = await ctx.timeline.query({ since: scope?.since, until: scope?.until, workload: scope?.workload, categories: union((v) => v.categories), sources: union((v) => v.sources) });
  const takers = group.map((v) => ({ v, accepts: acceptor(v) }));
  for await (const batch of q.rows()) {
    for (const row of batch) for (const t of takers) if (t.accepts(row)) t.v.visit(row);
  }
}

function acceptor(v: RowVisitor): (row: TimelineRow) => boolean {
  const cats = v.categories ? new Set(v.categories) : null;
  const srcs = v.sources ? new Set(v.sources) : null;
  const inNs = v.scope?.namespace ? namespaceMatcher(v.scope.namespace) : null;
  const who = v.scope?.identity ? globMatcher(v.scope.identity) : null;
  return (row) => {
    if (cats && !cats.has(row.category)) return false;
    if (srcs && !srcs.has(row.source)) return false;
    if (inNs && !inNs(row)) return false;
    if (who && !(typeof row.actor_id === 'string' && who(row.actor_id)) && !row.identity_chain.some((el) => who(el.id))) return false;
    return true;
  };
}

function namespaceMatcher(ns: string): (row: TimelineRow) => boolean {
  const sa = `system:serviceaccount:${ns}:`;
  return (row) => row.k8s_namespace === ns || row.identity_chain.some((el) => (el.type === 'workload' && el.id.startsWith(`${ns}/`)) || el.id.startsWith(sa));
}

// ---------------------------------------------------------------- helpers

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function violation(row: TimelineRow, message: string, related: RelatedRow[] = []): Violation {
  return {
    event_id: row.event_id,
    time: row.time,
    source: row.source,
    source_ref: row.source_ref,
    bundle: row.bundle,
    action: str(row.action),
    target: str(row.target),
    actor_id: str(row.actor_id),
    credential_id: str(row.credential_id),
    src_ip: str(row.src_ip),
    message,
    related,
  };
}

function missing(message: string): Violation {
  return { event_id: null, time: null, source: null, source_ref: null, bundle: null, action: null, target: null, actor_id: null, credential_id: null, src_ip: null, message, related: [] };
}

/** Rows looked up by event id after a stream ended (never while one is open), cached. */
class RowLookup {
  private readonly cache = new Map<string, TimelineRow | null>();
  constructor(private readonly timeline: Timeline) {}
  async get(eventId: string): Promise<TimelineRow | null> {
    if (!this.cache.has(eventId)) this.cache.set(eventId, (await this.timeline.byId(eventId)) ?? null);
    return this.cache.get(eventId)!;
  }
  async related(role: string, eventId: string): Promise<RelatedRow> {
    const r = await this.get(eventId);
    return { role, event_id: eventId, source_ref: r?.source_ref ?? null, bundle: r?.bundle ?? null };
  }
}

/** 86400 s → 1d, 3600 s → 1h, 3607 s → 1h7s. */
export function durationText(ns: bigint): string {
  let s = Number(ns / 1_000_000_000n);
  if (s === 0) return '0s';
  let out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(s / size);
    if (n > 0) out += `${n}${unit}`;
    s -= n * size;
  }
  return out;
}

function podOf(row: TimelineRow): string | null {
  const pod = str(row.k8s_pod);
  if (!pod) return null;
  const ns = str(row.k8s_namespace);
  return ns ? `${ns}/${pod}` : pod;
}

// ---------------------------------------------------------------- forbidden flow

const HOST_ATTRS = ['dst_host', 'host', 'authority', 'server_name', 'sni', 'upstream_host'];
const SPIFFE_ATTRS = ['dst_spiffe_id', 'peer_spiffe_id', 'destination_principal', 'upstream_peer', 'upstream_principal'];

function flowFacts(row: TimelineRow): FlowFacts {
  const target = str(row.target);
  const attrs = row.attrs ?? {};
  const hosts: string[] = [];
  const spiffeIds: string[] = [];
  if (target) {
    const h = hostOfTarget(target);
    if (h) hosts.push(h);
    if (target.startsWith('spiffe://')) spiffeIds.push(target);
  }
  for (const k of HOST_ATTRS) {
    const v = str(attrs[k]);
    const h = v ? hostOfTarget(v) : null;
    if (h) hosts.push(h);
  }
  for (const k of SPIFFE_ATTRS) {
    const v = str(attrs[k]);
    if (v?.startsWith('spiffe://')) spiffeIds.push(v);
  }
  const port = typeof row.dst_port === 'number' ? row.dst_port : null;
  return { ip: str(row.dst_ip), port, hosts, spiffeIds };
}

const NOT_A_FLOW = new Set(['listen', 'close']);
/** custody's recorder: a socket's state changes and resets follow its connect or accept row, which is the flow. */
const KERNEL_SOCKET_STATE = new Set(['tcp_state', 'tcp_reset']);

function forbiddenFlow(_ctx: EvalContext, rule: RuleOf<'forbidden_flow'>): RowVisitor {
  const out: Outcome = { examined: 0, violations: [] };
  return {
    scope: rule.scope,
    // A mesh or policy denial of a connection is an attempt (counted with include_failed).
    categories: rule.include_failed ? ['network', 'enforcement'] : ['network'],
    visit(row) {
      // A listening socket goes nowhere; a close ends a flow its connect already showed.
      if (NOT_A_FLOW.has(row.action)) return;
      if (row.source === 'kernel' && KERNEL_SOCKET_STATE.has(row.action)) return;
      out.examined++;
      if (!rule.include_failed && (row.outcome === 'failure' || row.outcome === 'denied')) return;
      const f = flowFacts(row);
      const hit = rule.to.find((d) => destinationMatches(d, f));
      if (!hit) return;
      const where = f.spiffeIds[0] ?? (f.ip ? `${f.ip}${f.port !== null ? `:${f.port}` : ''}` : (f.hosts[0] ?? str(row.target) ?? '?'));
      const who = podOf(row) ?? row.identity_chain.find((c) => c.type === 'workload')?.id ?? str(row.spiffe_id) ?? str(row.exe) ?? str(row.actor_id) ?? 'an unattributed process';
      out.violations.push(violation(row, `${who} connected to ${where} (forbidden: ${hit.text})${row.outcome === 'success' || row.outcome === 'allowed' ? '' : `, outcome ${row.outcome}`}`));
    },
    finish: async () => out,
  };
}

// ---------------------------------------------------------------- credential misuse

/** The workload a credential was issued to: reached through issuance, not the row's own attribution. */
function credentialWorkload(chain: readonly ChainElement[]): string | null {
  const el = chain.find((c) => c.type === 'workload' && c.via !== 'actor' && c.via !== 'k8s-pod-binding');
  return el?.id ?? null;
}

/** A use whose verdict waits for its issuance row: only the facts the verdict and the report need. */
interface PendingUse {
  v: Violation;
  type: string;
  ip: string | null;
  issuance: string | null;
  usedBy: string | null;
  credWorkload: string | null;
}

function credentialMisuse(_ctx: EvalContext, rule: RuleOf<'credential_misuse'>): RowVisitor {
  const allowed = new NetSet(rule.allowed_cidrs);
  const types = rule.credential_types ? new Set(rule.credential_types) : null;
  const pending: PendingUse[] = [];
  let examined = 0;
  return {
    scope: rule.scope,
    visit(row) {
      const cred = str(row.credential_id);
      if (!cred) return;
      if (types && !types.has(str(row.credential_type) ?? '')) return;
      // The row that issues a credential (an IdP session start) is where it came from, not a use of it.
      if (str(row.issued_credential_id) === cred) return;
      examined++;
      const src = str(row.src_ip);
      // Addresses only: AWS services acting for a principal log a service name ("s3.amazonaws.com") instead.
      const ip = src && ipFamily(src) ? normalizeIp(src) : null;
      const usedBy = podOf(row);
      const credWorkload = credentialWorkload(row.identity_chain);
      const outsideNet = ip !== null && !allowed.has(ip);
      const otherWorkload = rule.same_workload && usedBy !== null && credWorkload !== null && usedBy !== credWorkload;
      // Most uses are decided here: inside the allowed networks and by their own workload.
      if (!outsideNet && !otherWorkload) return;
      const issuance = row.links.find((l) => l.rule === LINK_RULES.issuance)?.event_id ?? null;
      pending.push({ v: violation(row, ''), type: str(row.credential_type) ?? 'credential', ip: outsideNet ? ip : null, issuance, usedBy: otherWorkload ? usedBy : null, credWorkload });
    },
    async finish(lookup) {
      const violations: Violation[] = [];
      for (const u of pending) {
        const reasons: string[] = [];
        const related: RelatedRow[] = [];
        if (u.ip) {
          const issued = u.issuance ? await lookup.get(u.issuance) : null;
          const issuedSrc = issued ? str(issued.src_ip) : null;
          const issuedFrom = issuedSrc && ipFamily(issuedSrc) ? normalizeIp(issuedSrc) : null;
          if (rule.same_ip_as_issuance && issuedFrom) {
            if (issuedFrom !== u.ip) {
              reasons.push(`used from ${u.ip}; it was issued to a request from ${issuedFrom} (${issued!.action})`);
              related.push(await lookup.related('issuance', u.issuance!));
            }
          } else if (allowed.size > 0) {
            reasons.push(`used from ${u.ip}, outside the allowed networks`);
          }
        }
        if (u.usedBy) {
          reasons.push(`used by workload ${u.usedBy}; it was issued to ${u.credWorkload}`);
          if (u.issuance && !related.some((r) => r.event_id === u.issuance)) related.push(await lookup.related('issuance', u.issuance));
        }
        if (reasons.length > 0) violations.push({ ...u.v, message: `${u.type} ${u.v.credential_id} ${reasons.join('; ')}`, related });
      }
      return { examined, violations };
    },
  };
}

// ---------------------------------------------------------------- credential lifetime

function credentialLifetime(_ctx: EvalContext, rule: RuleOf<'credential_lifetime'>): RowVisitor {
  const types = rule.credential_types ? new Set(rule.credential_types) : null;
  const longLived = new Set(rule.long_lived_types ?? DEFAULT_LONG_LIVED_TYPES);
  const out: Outcome = { examined: 0, violations: [] };
  return {
    scope: rule.scope,
    visit(row) {
      const issued = str(row.issued_credential_id);
      const cred = str(row.credential_id);
      if (!issued && !cred) return;
      out.examined++;
      if (rule.max_session !== undefined && issued && typeof row.issued_credential_expires === 'string') {
        const type = str(row.issued_credential_type) ?? 'credential';
        const start = parseTimeNs(row.time);
        const end = parseTimeNs(row.issued_credential_expires);
        if ((!types || types.has(type)) && start !== null && end !== null && end - start > rule.max_session) {
          out.violations.push(violation(row, `issued ${type} ${issued} valid for ${durationText(end - start)} (until ${formatTimeNs(end)}), longer than ${durationText(rule.max_session)}`));
          return;
        }
      }
      if (rule.long_lived === 'forbid' && cred) {
        const type = str(row.credential_type);
        if ((type && longLived.has(type)) || AWS_LONG_TERM_KEY.test(cred)) out.violations.push(violation(row, `long-lived ${type ?? 'credential'} ${cred} used`));
      }
    },
    finish: async () => out,
  };
}

// ---------------------------------------------------------------- unenforced deny

function unenforcedDeny(_ctx: EvalContext, rule: RuleOf<'unenforced_deny'>): RowVisitor {
  const gaps: { v: Violation; row: Pick<TimelineRow, 'source' | 'action' | 'target'>; successes: string[] }[] = [];
  let examined = 0;
  return {
    scope: rule.scope,
    visit(row) {
      // Rule 6 links a gap both ways; the deny is the side whose outcome is denied.
      if (row.outcome !== 'denied') return;
      const decided = row.links.filter((l) => l.rule === LINK_RULES.enforcementGap || l.rule === LINK_RULES.enforced);
      if (decided.length === 0) return;
      examined++;
      const successes = [...new Set(decided.filter((l) => l.rule === LINK_RULES.enforcementGap).map((l) => l.event_id))];
      if (successes.length > 0) gaps.push({ v: violation(row, ''), row: { source: row.source, action: row.action, target: row.target }, successes });
    },
    async finish(lookup) {
      const violations: Violation[] = [];
      for (const g of gaps) {
        const related = await Promise.all(g.successes.map((id) => lookup.related('succeeded-after-deny', id)));
        const first = await lookup.get(g.successes[0]!);
        const where = first ? ` (${first.source} ${first.action}${str(first.target) ? ` ${str(first.target)}` : ''} at ${first.time})` : '';
        const target = str(g.row.target);
        violations.push({ ...g.v, message: `${g.row.source} denied ${g.row.action}${target ? ` on ${target}` : ''}, yet the same action succeeded ${g.successes.length === 1 ? 'once' : `${g.successes.length} times`}${where}`, related });
      }
      return { examined, violations };
    },
  };
}

// ---------------------------------------------------------------- unattributed action

function attributed(row: TimelineRow): boolean {
  if (str(row.k8s_pod) || str(row.k8s_pod_uid) || str(row.container_id) || str(row.spiffe_id) || str(row.k8s_service_account)) return true;
  return row.identity_chain.some((el) => IDENTITY_TYPES.has(el.type));
}

function unattributedAction(_ctx: EvalContext, rule: RuleOf<'unattributed_action'>): RowVisitor {
  const targets = rule.targets?.map(globMatcher) ?? null;
  const out: Outcome = { examined: 0, violations: [] };
  return {
    scope: rule.scope,
    categories: rule.categories,
    sources: rule.sources,
    visit(row) {
      const target = str(row.target);
      if (targets && !(target && targets.some((m) => m(target)))) return;
      out.examined++;
      if (attributed(row)) return;
      const what = [row.action, target].filter(Boolean).join(' ');
      const by = str(row.exe) ?? str(row.comm) ?? str(row.actor_id);
      out.violations.push(violation(row, `${row.source} ${row.category} ${what}${by ? ` by ${by}` : ''} has no identity or workload behind it`));
    },
    finish: async () => out,
  };
}

// ---------------------------------------------------------------- evidence completeness

function gapText(row: TimelineRow): string {
  const a = row.attrs ?? {};
  const pick = (...keys: string[]): unknown => keys.map((k) => a[k]).find((v) => v !== undefined && v !== null);
  // Recorder gap rows (drop_count, gap_end) and Tetragon's (dropped_events); other names as sources spell them.
  const lost = pick('drop_count', 'dropped_events', 'lost', 'lost_events', 'dropped', 'count');
  const until = pick('gap_end', 'until', 'end', 'window_end', 'to');
  const kind = pick('kind', 'kinds', 'by_kind');
  const parts = [`${row.source} lost ${typeof lost === 'number' || typeof lost === 'string' ? String(lost) : 'an unknown number of'} event(s)`];
  if (kind !== undefined) parts.push(`(${typeof kind === 'string' ? kind : JSON.stringify(kind)})`);
  parts.push(typeof until === 'string' ? `between ${row.time} and ${until}` : `at ${row.time}`);
  if (str(row.host)) parts.push(`on ${str(row.host)}`);
  const reason = str(row.reason);
  return `${parts.join(' ')}${reason ? `: ${reason}` : ''}`;
}

async function evidenceCompleteness(ctx: EvalContext, rule: RuleOf<'evidence_completeness'>): Promise<Outcome> {
  const tl = ctx.timeline;
  const since = rule.scope?.since;
  const until = rule.scope?.until;
  const all = await tl.query({ since, until });
  const examined = await all.count();
  const violations: Violation[] = [];
  const windowText = since !== undefined || until !== undefined ? `between ${since !== undefined ? formatTimeNs(since) : 'the start'} and ${until !== undefined ? formatTimeNs(until) : 'the end'}` : 'in the evidence';
  for (const source of [...new Set(rule.required_sources)].sort()) {
    const n = await (await tl.query({ since, until, sources: [source] })).count();
    if (n === 0) violations.push(missing(`required source ${source} has no rows ${windowText}`));
  }
  if (rule.max_quarantined !== undefined && ctx.quarantined > rule.max_quarantined) {
    violations.push(missing(`${ctx.quarantined} record(s) quarantined as unparsable, more than the ${rule.max_quarantined} allowed (see quarantine/ in the bundle)`));
  }
  if (rule.gaps === 'forbid') {
    const gapRows: Violation[] = [];
    const q = await tl.query({ since, until, categories: ['gap'] });
    for await (const batch of q.rows()) for (const row of batch) gapRows.push(violation(row, gapText(row)));
    if (gapRows.length === 0 && since === undefined && until === undefined && ctx.drops.total > 0) {
      const kinds = Object.entries(ctx.drops.by_kind).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ');
      violations.push(missing(`the recorder reported ${ctx.drops.total} lost kernel event(s)${kinds ? ` (${kinds})` : ''} in the manifest`));
    }
    violations.push(...gapRows);
  }
  return { examined, violations };
}
