import type { Confidence } from '../model/enums.js';

/**
 * The identity graph: which credential was issued to whom, by which evidence row, and how each
 * action resolves to the principals behind it (DESIGN.md, "Linking", rules 1 and 3). Links
 * are made by credential, never by role name alone: two sessions of one role are two principals.
 * Pure: built from issuance rows the timeline query hands over; no SQL here.
 */

/** Stable rule names: they appear in `links[].rule` and `identity_chain[].via`. */
export const RULES = {
  /** rule 3: a credential presented by an action → the row that issued it. */
  issuance: 'credential-issuance',
  /** rule 1/3: a web-identity federation → the Kubernetes token request for that service account. */
  webIdentityToken: 'web-identity-token',
  /** rule 1: a service account's request → the pod its token is bound to (audit user.extra). */
  podBinding: 'k8s-pod-binding',
  /** A role session → its role (CloudTrail sessionContext.sessionIssuer). */
  sessionIssuer: 'session-issuer',
  /** A service account's token request → the node that asked for it. */
  tokenRequester: 'k8s-token-requester',
} as const;

export interface Link {
  rule: string;
  confidence: Confidence;
  /** event_id of the row on the other side. */
  event_id: string;
}

export interface ChainElement {
  id: string;
  type: string;
  /** How this principal was reached from the previous one: `actor` for the first, else a rule name. */
  via: string;
  /** The evidence row for that step, where there is one. */
  event_id?: string;
  confidence?: Confidence;
}

/** The columns of a row the graph looks at. */
export interface RowFacts {
  event_id: string;
  time: bigint;
  source: string;
  action: string;
  actor_id: string | null;
  actor_type: string | null;
  credential_id: string | null;
  session_issuer: string | null;
  k8s_namespace: string | null;
  k8s_pod: string | null;
  k8s_pod_uid: string | null;
  k8s_service_account: string | null;
  k8s_node: string | null;
  issued_credential_id: string | null;
  issued_credential_expires: bigint | null;
  issued_to: string | null;
  target: string | null;
  /** Token audiences of a Kubernetes token request, where logged. */
  audiences?: string[] | null;
}

export interface GraphOptions {
  /** Allowed clock difference between cloud control-plane sources (default 5 min). */
  cloudSkewNs: bigint;
  /** Allowed clock difference between host-local sources (default 2 s). */
  hostSkewNs: bigint;
}

export const DEFAULT_GRAPH_OPTIONS: GraphOptions = { cloudSkewNs: 300_000_000_000n, hostSkewNs: 2_000_000_000n };

const SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;

export function serviceAccountId(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export function podId(namespace: string | null, pod: string): string {
  return namespace ? `${namespace}/${pod}` : pod;
}

function chainType(actorType: string | null): string {
  return actorType ?? 'unknown';
}

export class IdentityGraph {
  /** Issuance rows by the credential they issued, oldest first. */
  private readonly byCredential = new Map<string, RowFacts[]>();
  /** Kubernetes token requests by the service account they were for, oldest first. */
  private readonly tokensBySa = new Map<string, RowFacts[]>();
  private readonly chainCache = new Map<string, ChainElement[]>();

  constructor(
    issuance: readonly RowFacts[],
    readonly opts: GraphOptions = DEFAULT_GRAPH_OPTIONS,
  ) {
    const sorted = [...issuance].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.event_id.localeCompare(b.event_id)));
    for (const row of sorted) {
      if (row.issued_credential_id) push(this.byCredential, row.issued_credential_id, row);
      if (row.source === 'k8s_audit' && row.issued_to && SA_RE.test(row.issued_to)) push(this.tokensBySa, row.issued_to, row);
    }
  }

  /** Every credential id the evidence shows being issued. */
  issuedCredentials(): string[] {
    return [...this.byCredential.keys()];
  }

  /** The row that issued `credential`, nearest before `at` (allowing cloud skew), else the first. */
  issuanceOf(credential: string, at: bigint): RowFacts | undefined {
    const rows = this.byCredential.get(credential);
    if (!rows) return undefined;
    let best: RowFacts | undefined;
    for (const r of rows) {
      if (r.time > at + this.opts.cloudSkewNs) break;
      // The same issuance is often logged twice (caller's and role owner's account); prefer the record that names the caller.
      if (!best || r.time > best.time + this.opts.cloudSkewNs || (best.actor_type === 'unknown' && r.actor_type !== 'unknown') || !best.actor_id) best = r;
    }
    return best ?? rows[0];
  }

  /** Direct links of a row to the evidence behind it. */
  links(row: RowFacts): Link[] {
    const out: Link[] = [];
    if (row.credential_id) {
      const issued = this.issuanceOf(row.credential_id, row.time);
      if (issued && issued.event_id !== row.event_id) out.push({ rule: RULES.issuance, confidence: 'exact', event_id: issued.event_id });
    }
    const web = this.webIdentityToken(row);
    if (web) for (const c of web.candidates) out.push({ rule: RULES.webIdentityToken, confidence: web.confidence, event_id: c.event_id });
    return out;
  }

  /**
   * Kubernetes token requests that may have produced the web-identity token a federation row
   * presented: for the same service account, issued before the federation (within cloud skew) and
   * unexpired then. One pod among them: strong; several: inferred, nearest first.
   */
  webIdentityToken(row: RowFacts): { candidates: RowFacts[]; confidence: Confidence } | undefined {
    if (!row.action.includes('AssumeRoleWithWebIdentity') || !row.actor_id || !SA_RE.test(row.actor_id)) return undefined;
    const tokens = this.tokensBySa.get(row.actor_id);
    if (!tokens) return undefined;
    const skew = this.opts.cloudSkewNs;
    const fit = tokens.filter(
      (t) =>
        t.time <= row.time + skew &&
        (t.issued_credential_expires === null || t.issued_credential_expires + skew >= row.time) &&
        (!t.audiences || t.audiences.length === 0 || t.audiences.some((a) => a.includes('sts.amazonaws.com') || a === 'sts'))
    );
    if (fit.length === 0) return undefined;
    fit.reverse(); // nearest first
    const pods = new Set(fit.map((t) => t.k8s_pod_uid ?? t.k8s_pod ?? t.event_id));
    return { candidates: fit, confidence: pods.size === 1 ? 'strong' : 'inferred' };
  }

  /**
   * The principals behind a row's action, nearest first: the actor, its role, then whoever
   * obtained the credential it presented (recursively, so role chains resolve), down to the
   * Kubernetes service account and pod where the evidence reaches.
   */
  chain(row: RowFacts): ChainElement[] {
    const out: ChainElement[] = [];
    const seen = new Set<string>();
    const add = (el: ChainElement): void => {
      if (seen.has(el.id)) return;
      seen.add(el.id);
      out.push(el);
    };
    if (row.actor_id) add({ id: row.actor_id, type: chainType(row.actor_type), via: 'actor' });
    this.extend(row, add, new Set());
    return out;
  }

  private extend(row: RowFacts, add: (el: ChainElement) => void, visited: Set<string>): void {
    if (row.session_issuer) add({ id: row.session_issuer, type: 'role', via: RULES.sessionIssuer });
    // A service account acting with a pod-bound token: the pod is named in the audit record itself.
    if (row.source === 'k8s_audit' && row.actor_id && SA_RE.test(row.actor_id) && row.k8s_pod) {
      add({ id: podId(row.k8s_namespace, row.k8s_pod), type: 'workload', via: RULES.podBinding, event_id: row.event_id, confidence: 'exact' });
    }
    const web = this.webIdentityToken(row);
    if (web) {
      const t = web.candidates[0]!;
      if (t.k8s_pod) add({ id: podId(t.k8s_namespace, t.k8s_pod), type: 'workload', via: RULES.webIdentityToken, event_id: t.event_id, confidence: web.confidence });
      if (t.actor_id) add({ id: t.actor_id, type: chainType(t.actor_type), via: RULES.tokenRequester, event_id: t.event_id, confidence: 'exact' });
    }
    const cred = row.credential_id;
    if (!cred || visited.has(cred)) return;
    visited.add(cred);
    const issued = this.issuanceOf(cred, row.time);
    if (issued && issued.event_id !== row.event_id) this.extendIssued(issued, add, visited);
  }

  /** Principals behind an issuance row: who received the credential, and who obtained it. */
  private extendIssued(issued: RowFacts, add: (el: ChainElement) => void, visited: Set<string>): void {
    const step = { event_id: issued.event_id, confidence: 'exact' as const };
    if (issued.source === 'k8s_audit') {
      // A service-account token: issued to the service account, bound to a pod, asked for by a node.
      if (issued.issued_to) add({ id: issued.issued_to, type: 'service_account', via: RULES.issuance, ...step });
      if (issued.k8s_pod) add({ id: podId(issued.k8s_namespace, issued.k8s_pod), type: 'workload', via: RULES.issuance, ...step });
      if (issued.actor_id) add({ id: issued.actor_id, type: chainType(issued.actor_type), via: RULES.tokenRequester, ...step });
      return;
    }
    if (issued.issued_to) add({ id: issued.issued_to, type: 'role_session', via: RULES.issuance, ...step });
    if (issued.actor_id) add({ id: issued.actor_id, type: chainType(issued.actor_type), via: RULES.issuance, ...step });
    this.extend(issued, add, visited);
  }

  /** Memoized chain of whoever holds a credential: its holder, the role it assumed, and the chain of its issuance. */
  chainOfCredential(credential: string): ChainElement[] {
    let c = this.chainCache.get(credential);
    if (!c) {
      c = [];
      const rows = this.byCredential.get(credential);
      const last = rows?.[rows.length - 1];
      if (last) {
        const out = c;
        const seen = new Set<string>();
        const add = (el: ChainElement): void => {
          if (!seen.has(el.id)) {
            seen.add(el.id);
            out.push(el);
          }
        };
        if (last.issued_to) add({ id: last.issued_to, type: last.source === 'k8s_audit' ? 'service_account' : 'role_session', via: 'holder' });
        if (last.target && /^arn:aws[a-z-]*:iam::\d{12}:role\//.test(last.target)) add({ id: last.target, type: 'role', via: RULES.sessionIssuer });
        this.extendIssued(last, add, new Set([credential]));
      }
      this.chainCache.set(credential, c);
    }
    return c;
  }

  /** Credentials whose holder's chain contains a principal matching `match`. */
  credentialsWhere(match: (el: ChainElement) => boolean): string[] {
    return this.issuedCredentials().filter((k) => this.chainOfCredential(k).some(match));
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
