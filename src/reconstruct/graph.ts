import type { Confidence } from '../model/enums.js';

/**
 * The identity graph: which credential was issued to whom, by which evidence row, and how each
 * action resolves to the principals behind it (DESIGN.md, "Linking", rules 1, 3 and 5). Rule 1
 * for kernel rows: the process's cgroup names its container and pod uid (custody record's
 * attribution); the Kubernetes audit rows of that pod uid name its namespace, pod and service
 * account, and SPIRE rows its SPIFFE id. Links
 * are made by credential, never by role name alone: two sessions of one role are two principals.
 * Pure: built from the identity-bearing rows the timeline query hands over; no SQL here.
 * (Rules 2, 4 and 6 join large row sets and live in SQL: correlate.ts.)
 */

/** Stable rule names: they appear in `links[].rule` and `identity_chain[].via`. */
export const RULES = {
  /** rule 3: a credential presented by an action → the row that issued it. */
  issuance: 'credential-issuance',
  /** rule 1/3: a web-identity federation → the Kubernetes token request for that service account. */
  webIdentityToken: 'web-identity-token',
  /** rule 1: a service account's request → the pod its token is bound to (audit user.extra). */
  podBinding: 'k8s-pod-binding',
  /** rule 1: a service account named by another source (Vault Kubernetes auth, SPIRE selectors) → a pod that held its token then. */
  tokenBinding: 'k8s-token-binding',
  /** A role session → its role (CloudTrail sessionContext.sessionIssuer). */
  sessionIssuer: 'session-issuer',
  /** A service account's token request → the node that asked for it. */
  tokenRequester: 'k8s-token-requester',
  /** rule 1: a row that names its workload's service account itself (e.g. Vault's Kubernetes auth metadata). */
  workloadAttribute: 'workload-attribute',
  /** rule 3: a SPIFFE id (mesh peer, OPA principal) → the SPIRE attestation/registration that ties it to a workload. */
  spiffeSvid: 'spiffe-svid',
  /** rule 3, no SPIRE evidence: an Istio-style SPIFFE id (…/ns/<ns>/sa/<sa>) → that service account. */
  spiffeConvention: 'spiffe-id-convention',
  /** rule 3: a cloud federation (AssumeRoleWithSAML/WebIdentity) → the IdP session of the same subject. */
  idpFederation: 'idp-federation',
  /** rule 5: a principal → the human who created or granted it (key, app credential, service account, binding, registration entry). */
  createdBy: 'created-by',
  /** rule 1: a kernel row's process → its container and pod (cgroup attribution) → the Kubernetes audit evidence of that pod uid. */
  processWorkload: 'process-workload',
} as const;

export interface Link {
  rule: string;
  confidence: Confidence;
  /** event_id of the row on the other side. */
  event_id: string;
  /** rule 2 (`credential-material`): what the opened path holds, e.g. `k8s-service-account-token` (credentials.ts). */
  material?: string;
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
  category?: string | null;
  outcome?: string | null;
  actor_id: string | null;
  actor_type: string | null;
  credential_id: string | null;
  session_issuer: string | null;
  spiffe_id?: string | null;
  k8s_namespace: string | null;
  k8s_pod: string | null;
  k8s_pod_uid: string | null;
  k8s_service_account: string | null;
  k8s_node: string | null;
  issued_credential_id: string | null;
  issued_credential_type?: string | null;
  issued_credential_expires: bigint | null;
  issued_to: string | null;
  target: string | null;
  /** Token audiences of a Kubernetes token request, where logged. */
  audiences?: string[] | null;
  /** Principals this row grants to or creates (rolebinding subjects, a created service account …). */
  grants?: string[] | null;
  /** Kernel rows: the process (boot id + pid + start time) and its container. */
  process_key?: string | null;
  container_id?: string | null;
}

export interface GraphOptions {
  /** Allowed clock difference between cloud control-plane sources (default 5 min). */
  cloudSkewNs: bigint;
  /** Allowed clock difference between host-local sources (default 2 s). */
  hostSkewNs: bigint;
}

export const DEFAULT_GRAPH_OPTIONS: GraphOptions = { cloudSkewNs: 300_000_000_000n, hostSkewNs: 2_000_000_000n };

const SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;
const SPIFFE_SA_RE = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;
const ROLE_ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:role\//;
/** How far back an IdP session may be and still be the one a federation came from. */
const IDP_SESSION_NS = 12n * 3600n * 1_000_000_000n;
/** Credentials minted by one principal for another and kept (keys, secrets, tokens), not sessions. */
const CREATION_TYPES = new Set(['aws_access_key', 'gcp_sa_key', 'gcp_api_key', 'okta_api_token', 'okta_client_secret', 'okta_oauth_client', 'azure_resource_key', 'domain_wide_delegation', 'entra_app_credential']);
const IDP_SESSION_TYPES = new Set(['okta_session', 'entra_token']);

export function serviceAccountId(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

export function podId(namespace: string | null, pod: string): string {
  return namespace ? `${namespace}/${pod}` : pod;
}

function chainType(actorType: string | null | undefined): string {
  return actorType ?? 'unknown';
}

/** The kind of principal a credential was issued to, from its id and the issuing row. */
function holderType(issued: RowFacts): string {
  const to = issued.issued_to ?? '';
  if (to === issued.actor_id) return chainType(issued.actor_type);
  if (/:assumed-role\/|:federated-user\//.test(to)) return 'role_session';
  if (SA_RE.test(to)) return 'service_account';
  if (to.startsWith('spiffe://')) return 'workload';
  if (IDP_SESSION_TYPES.has(issued.issued_credential_type ?? '')) return 'human';
  return 'unknown';
}

function isCreation(issued: RowFacts): boolean {
  // STS hands sessions to whoever asks (even when a sample shows an AKIA-shaped id); IAM mints keys.
  if (issued.source === 'cloudtrail') return issued.action === 'iam:CreateAccessKey';
  const t = issued.issued_credential_type ?? '';
  return CREATION_TYPES.has(t) || (issued.source === 'entra_id' && t !== 'entra_token');
}

type Add = (el: ChainElement) => void;

export class IdentityGraph {
  /** Issuance rows by the credential they issued, oldest first. */
  private readonly byCredential = new Map<string, RowFacts[]>();
  /** Kubernetes token requests by the service account they were for, oldest first. */
  private readonly tokensBySa = new Map<string, RowFacts[]>();
  /** SPIRE rows that tie a SPIFFE id to Kubernetes selectors, by SPIFFE id, oldest first. */
  private readonly spiffeWorkloads = new Map<string, RowFacts[]>();
  /** IdP sessions (Okta, Entra sign-ins) by the lower-cased principal they were issued to. */
  private readonly idpSessions = new Map<string, RowFacts[]>();
  /** Rows that created or granted a principal, by that principal, oldest first (rule 5). */
  private readonly grants = new Map<string, RowFacts[]>();
  /** Kubernetes audit rows naming a pod by uid with its namespace, name and service account, oldest first (rule 1). */
  private readonly podsByUid = new Map<string, RowFacts[]>();
  /** SPIRE rows tying a SPIFFE id to a pod uid (`uid:<uid>`) or a service account (`sa:<ns>:<sa>`), oldest first. */
  private readonly spiffeByWorkload = new Map<string, RowFacts[]>();
  private readonly chainCache = new Map<string, ChainElement[]>();

  constructor(
    rows: readonly RowFacts[],
    readonly opts: GraphOptions = DEFAULT_GRAPH_OPTIONS,
  ) {
    const sorted = [...rows].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.event_id.localeCompare(b.event_id)));
    for (const row of sorted) {
      if (row.issued_credential_id) push(this.byCredential, row.issued_credential_id, row);
      if (row.source === 'k8s_audit' && row.issued_to && SA_RE.test(row.issued_to)) push(this.tokensBySa, row.issued_to, row);
      if (row.source === 'spire' && row.spiffe_id && (row.k8s_service_account || row.k8s_pod_uid || row.k8s_pod)) {
        push(this.spiffeWorkloads, row.spiffe_id, row);
        if (row.k8s_pod_uid) push(this.spiffeByWorkload, `uid:${row.k8s_pod_uid}`, row);
        if (row.k8s_namespace && row.k8s_service_account) push(this.spiffeByWorkload, `sa:${row.k8s_namespace}:${row.k8s_service_account}`, row);
      }
      if (row.source === 'k8s_audit' && row.k8s_pod_uid && row.k8s_pod && row.k8s_namespace && row.k8s_service_account) push(this.podsByUid, row.k8s_pod_uid, row);
      if (row.issued_to && IDP_SESSION_TYPES.has(row.issued_credential_type ?? '') && row.outcome !== 'failure' && row.outcome !== 'denied') {
        push(this.idpSessions, row.issued_to.toLowerCase(), row);
      }
      if (row.outcome === 'failure' || row.outcome === 'denied') continue;
      for (const g of row.grants ?? []) push(this.grants, g, row);
      if (row.issued_to && row.actor_id && row.issued_to !== row.actor_id && isCreation(row)) push(this.grants, row.issued_to, row);
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

  /** A row's identity chain and its direct links, computed together. */
  resolve(row: RowFacts): { chain: ChainElement[]; links: Link[] } {
    const chain = this.chain(row);
    return { chain, links: this.linksWith(row, chain) };
  }

  /** Direct links of a row to the evidence behind it (the chain's steps carry the rest). */
  links(row: RowFacts): Link[] {
    return this.linksWith(row, this.chain(row));
  }

  private linksWith(row: RowFacts, chain: readonly ChainElement[]): Link[] {
    const out: Link[] = [];
    const pod = this.podOfProcess(row);
    if (pod) out.push({ rule: RULES.processWorkload, confidence: 'exact', event_id: pod.event_id });
    if (row.credential_id) {
      const issued = this.issuanceOf(row.credential_id, row.time);
      if (issued && issued.event_id !== row.event_id) out.push({ rule: RULES.issuance, confidence: 'exact', event_id: issued.event_id });
    }
    const web = this.webIdentityToken(row);
    if (web) for (const c of web.candidates) out.push({ rule: RULES.webIdentityToken, confidence: web.confidence, event_id: c.event_id });
    const idp = this.idpSessionOf(row);
    if (idp) for (const c of idp.candidates) out.push({ rule: RULES.idpFederation, confidence: idp.confidence, event_id: c.event_id });
    const spiffe = row.spiffe_id ? this.spiffeWorkload(row.spiffe_id, row.time) : undefined;
    if (spiffe) out.push({ rule: RULES.spiffeSvid, confidence: 'strong', event_id: spiffe.event_id });
    for (const c of this.creators(chain, row.time)) out.push({ rule: RULES.createdBy, confidence: 'exact', event_id: c.grant.event_id });
    return out;
  }

  /**
   * Kubernetes token requests that may have produced the web-identity token a federation row
   * presented: for the same service account, issued before the federation (within cloud skew) and
   * unexpired then. One pod among them: strong; several: inferred, nearest first.
   */
  webIdentityToken(row: RowFacts): { candidates: RowFacts[]; confidence: Confidence } | undefined {
    if (!row.action.includes('AssumeRoleWithWebIdentity') || !row.actor_id || !SA_RE.test(row.actor_id)) return undefined;
    return this.tokensFor(row.actor_id, row.time, (t) => !t.audiences || t.audiences.length === 0 || t.audiences.some((a) => a.includes('sts.amazonaws.com') || a === 'sts'));
  }

  /** Token requests for a service account, unexpired at `at`, nearest first; strong when they name one pod. */
  private tokensFor(sa: string, at: bigint, accept: (t: RowFacts) => boolean = () => true): { candidates: RowFacts[]; confidence: Confidence } | undefined {
    const tokens = this.tokensBySa.get(sa);
    if (!tokens) return undefined;
    const skew = this.opts.cloudSkewNs;
    const fit = tokens.filter((t) => t.time <= at + skew && (t.issued_credential_expires === null || t.issued_credential_expires + skew >= at) && accept(t));
    if (fit.length === 0) return undefined;
    fit.reverse(); // nearest first
    const pods = new Set(fit.map((t) => t.k8s_pod_uid ?? t.k8s_pod ?? t.event_id));
    return { candidates: fit, confidence: pods.size === 1 ? 'strong' : 'inferred' };
  }

  /** The IdP session a cloud federation (SAML or a non-Kubernetes web identity) came from. */
  idpSessionOf(row: RowFacts): { candidates: RowFacts[]; confidence: Confidence } | undefined {
    if (!/AssumeRoleWith(SAML|WebIdentity)/.test(row.action) || !row.actor_id || SA_RE.test(row.actor_id)) return undefined;
    const sessions = this.idpSessions.get(row.actor_id.toLowerCase());
    if (!sessions) return undefined;
    const fit = sessions.filter((s) => s.time <= row.time + this.opts.cloudSkewNs && s.time + IDP_SESSION_NS >= row.time && (s.issued_credential_expires === null || s.issued_credential_expires + this.opts.cloudSkewNs >= row.time));
    if (fit.length === 0) return undefined;
    fit.reverse();
    return { candidates: fit, confidence: fit.length === 1 ? 'strong' : 'inferred' };
  }

  /**
   * rule 1: the Kubernetes audit row that names a kernel row's pod (by the uid its cgroup carries):
   * the latest one at the row's time (within cloud skew), else the first after. A pod uid is
   * unique, so any such row is exact; the nearest is the evidence shown.
   */
  podOfProcess(row: RowFacts): RowFacts | undefined {
    if (row.source !== 'kernel' || !row.k8s_pod_uid) return undefined;
    const rows = this.podsByUid.get(row.k8s_pod_uid);
    if (!rows) return undefined;
    return rows[Math.max(0, lastAtOrBefore(rows, row.time + this.opts.cloudSkewNs))];
  }

  /** The SPIRE row that ties a pod (by uid, else by its service account) to a SPIFFE id, latest at `at`. */
  private spiffeOfPod(uid: string, ns: string, sa: string, at: bigint): { row: RowFacts; confidence: Confidence } | undefined {
    for (const [key, confidence] of [[`uid:${uid}`, 'exact'], [`sa:${ns}:${sa}`, 'strong']] as const) {
      const rows = this.spiffeByWorkload.get(key);
      if (rows) return { row: rows[Math.max(0, lastAtOrBefore(rows, at + this.opts.hostSkewNs))]!, confidence };
    }
    return undefined;
  }

  /** The latest SPIRE row tying a SPIFFE id to Kubernetes selectors at `at`. */
  spiffeWorkload(spiffeId: string, at: bigint): RowFacts | undefined {
    const rows = this.spiffeWorkloads.get(spiffeId);
    return rows ? rows[lastAtOrBefore(rows, at + this.opts.hostSkewNs)] : undefined;
  }

  /**
   * The principals behind a row's action, nearest first: the actor, its role, then whoever
   * obtained the credential it presented (recursively, so role chains resolve), down to the
   * Kubernetes service account and pod where the evidence reaches, and last the humans who
   * created or granted any of them (rule 5).
   */
  chain(row: RowFacts): ChainElement[] {
    const out: ChainElement[] = [];
    const seen = new Set<string>();
    const add: Add = (el) => {
      if (seen.has(el.id)) return;
      seen.add(el.id);
      out.push(el);
    };
    if (row.source === 'kernel' && (row.process_key ?? row.actor_id)) {
      add({ id: (row.process_key ?? row.actor_id)!, type: 'process', via: 'actor' });
      this.extendProcess(row, add);
    } else if (row.actor_id) add({ id: row.actor_id, type: chainType(row.actor_type), via: 'actor' });
    this.extend(row, add, new Set());
    this.addCreators(out, row.time, add);
    return out;
  }

  private addWorkload(sa: string, ns: string | null, pod: string | null, at: bigint, add: Add, via: string, eventId: string, confidence: Confidence): void {
    add({ id: sa, type: 'service_account', via, event_id: eventId, confidence });
    if (pod) {
      add({ id: podId(ns, pod), type: 'workload', via, event_id: eventId, confidence });
      return;
    }
    const tokens = this.tokensFor(sa, at);
    const t = tokens?.candidates[0];
    if (t?.k8s_pod) add({ id: podId(t.k8s_namespace, t.k8s_pod), type: 'workload', via: RULES.tokenBinding, event_id: t.event_id, confidence: tokens!.confidence === 'strong' ? 'strong' : 'inferred' });
  }

  /** rule 1 for a kernel row: process → container → pod → service account → SPIFFE id, as far as the evidence reaches. */
  private extendProcess(row: RowFacts, add: Add): void {
    if (row.container_id) add({ id: row.container_id, type: 'container', via: RULES.processWorkload, event_id: row.event_id, confidence: 'exact' });
    const pod = this.podOfProcess(row);
    if (!pod) return;
    const ns = pod.k8s_namespace!;
    const sa = pod.k8s_service_account!;
    const step = { via: RULES.processWorkload, event_id: pod.event_id, confidence: 'exact' as const };
    add({ id: podId(ns, pod.k8s_pod!), type: 'workload', ...step });
    add({ id: serviceAccountId(ns, sa), type: 'service_account', ...step });
    const svid = this.spiffeOfPod(row.k8s_pod_uid!, ns, sa, row.time);
    if (svid?.row.spiffe_id) add({ id: svid.row.spiffe_id, type: 'workload', via: RULES.spiffeSvid, event_id: svid.row.event_id, confidence: svid.confidence });
  }

  private extend(row: RowFacts, add: Add, visited: Set<string>): void {
    if (row.session_issuer) add({ id: row.session_issuer, type: 'role', via: RULES.sessionIssuer });
    if (row.source === 'k8s_audit') {
      // A service account acting with a pod-bound token: the pod is named in the audit record itself
      // (a row naming another service account's pod is about that pod: a pod creation).
      if (row.actor_id && SA_RE.test(row.actor_id) && row.k8s_pod && row.k8s_namespace && row.k8s_service_account && row.actor_id === serviceAccountId(row.k8s_namespace, row.k8s_service_account)) {
        add({ id: podId(row.k8s_namespace, row.k8s_pod), type: 'workload', via: RULES.podBinding, event_id: row.event_id, confidence: 'exact' });
      }
    } else if (row.k8s_service_account && row.k8s_namespace && !row.issued_to?.startsWith('system:serviceaccount:')) {
      // Another source names the workload's service account itself (Vault's Kubernetes auth, Tetragon, …).
      const sa = serviceAccountId(row.k8s_namespace, row.k8s_service_account);
      if (row.actor_id !== sa || row.k8s_pod) this.addWorkload(sa, row.k8s_namespace, row.k8s_pod, row.time, add, RULES.workloadAttribute, row.event_id, 'exact');
    }
    if (row.spiffe_id) {
      if (row.spiffe_id !== row.actor_id) add({ id: row.spiffe_id, type: 'workload', via: 'spiffe-id' });
      const svid = this.spiffeWorkload(row.spiffe_id, row.time);
      if (svid && svid.event_id !== row.event_id && svid.k8s_namespace && svid.k8s_service_account) {
        this.addWorkload(serviceAccountId(svid.k8s_namespace, svid.k8s_service_account), svid.k8s_namespace, svid.k8s_pod, row.time, add, RULES.spiffeSvid, svid.event_id, 'strong');
      } else if (!svid) {
        const m = SPIFFE_SA_RE.exec(row.spiffe_id);
        if (m) this.addWorkload(serviceAccountId(m[1]!, m[2]!), m[1]!, null, row.time, add, RULES.spiffeConvention, row.event_id, 'inferred');
      }
    }
    const web = this.webIdentityToken(row);
    if (web) {
      const t = web.candidates[0]!;
      if (t.k8s_pod) add({ id: podId(t.k8s_namespace, t.k8s_pod), type: 'workload', via: RULES.webIdentityToken, event_id: t.event_id, confidence: web.confidence });
      if (t.actor_id) add({ id: t.actor_id, type: chainType(t.actor_type), via: RULES.tokenRequester, event_id: t.event_id, confidence: 'exact' });
    }
    const idp = this.idpSessionOf(row);
    if (idp) {
      const s = idp.candidates[0]!;
      add({ id: `${s.source}:${s.issued_credential_id}`, type: 'idp_session', via: RULES.idpFederation, event_id: s.event_id, confidence: idp.confidence });
    }
    const cred = row.credential_id;
    if (!cred || visited.has(cred)) return;
    visited.add(cred);
    const issued = this.issuanceOf(cred, row.time);
    if (issued && issued.event_id !== row.event_id) this.extendIssued(issued, add, visited);
  }

  /** Principals behind an issuance row: who received the credential, and who obtained or created it. */
  private extendIssued(issued: RowFacts, add: Add, visited: Set<string>): void {
    const step = { event_id: issued.event_id, confidence: 'exact' as const };
    if (issued.source === 'k8s_audit') {
      // A service-account token: issued to the service account, bound to a pod, asked for by a node.
      if (issued.issued_to) add({ id: issued.issued_to, type: 'service_account', via: RULES.issuance, ...step });
      if (issued.k8s_pod) add({ id: podId(issued.k8s_namespace, issued.k8s_pod), type: 'workload', via: RULES.issuance, ...step });
      if (issued.actor_id) add({ id: issued.actor_id, type: chainType(issued.actor_type), via: RULES.tokenRequester, ...step });
      return;
    }
    if (issued.issued_to) add({ id: issued.issued_to, type: holderType(issued), via: RULES.issuance, ...step });
    if (issued.actor_id) {
      // A key or secret minted for someone else: its creator is rule 5, not the holder's own identity.
      const created = issued.issued_to && issued.actor_id !== issued.issued_to && isCreation(issued);
      add({ id: issued.actor_id, type: chainType(issued.actor_type), via: created ? RULES.createdBy : RULES.issuance, ...step });
      if (created) return;
    }
    this.extend(issued, add, visited);
  }

  /** rule 5: the rows that created or granted a principal of the chain before `at`, with the human behind each. */
  creators(chain: readonly ChainElement[], at: bigint): { human: string; grant: RowFacts }[] {
    const out: { human: string; grant: RowFacts }[] = [];
    for (const el of chain) {
      if (el.via === RULES.createdBy) continue;
      for (const g of this.grants.get(el.id) ?? []) {
        if (g.time > at + this.opts.cloudSkewNs || !g.actor_id) continue;
        const human = this.humanBehind(g);
        if (human && !out.some((c) => c.grant.event_id === g.event_id)) out.push({ human, grant: g });
      }
    }
    return out;
  }

  /** The human who made a row: its actor when a person, else the person behind the session it used. */
  private humanBehind(row: RowFacts): string | undefined {
    if (row.actor_type === 'human') return row.actor_id ?? undefined;
    if (!row.credential_id) return undefined;
    return this.chainOfCredential(row.credential_id).find((el) => el.type === 'human' && el.via !== RULES.createdBy)?.id;
  }

  private addCreators(chain: ChainElement[], at: bigint, add: Add): void {
    for (const c of this.creators(chain, at)) add({ id: c.human, type: 'human', via: RULES.createdBy, event_id: c.grant.event_id, confidence: 'exact' });
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
        const add: Add = (el) => {
          if (!seen.has(el.id)) {
            seen.add(el.id);
            out.push(el);
          }
        };
        if (last.issued_to) add({ id: last.issued_to, type: last.source === 'k8s_audit' ? 'service_account' : holderType(last), via: 'holder' });
        if (last.target && ROLE_ARN_RE.test(last.target)) add({ id: last.target, type: 'role', via: RULES.sessionIssuer });
        this.extendIssued(last, add, new Set([credential]));
        this.addCreators(out, last.time, add);
      }
      this.chainCache.set(credential, c);
    }
    return c;
  }

  /** Pod uids whose audit evidence names a matching pod or service account (rule 1: kernel rows carry only the uid). */
  podUidsWhere(match: (el: ChainElement) => boolean): string[] {
    const out: string[] = [];
    for (const [uid, rows] of this.podsByUid) {
      if (rows.some((r) => match({ id: podId(r.k8s_namespace, r.k8s_pod!), type: 'workload', via: RULES.processWorkload }) || match({ id: serviceAccountId(r.k8s_namespace!, r.k8s_service_account!), type: 'service_account', via: RULES.processWorkload }))) out.push(uid);
    }
    return out;
  }

  /**
   * Credentials whose holder's chain contains a principal matching `match`. Creators (rule 5) are
   * not holders: a credential an admin minted for someone else is not the admin's.
   */
  credentialsWhere(match: (el: ChainElement) => boolean): string[] {
    return this.issuedCredentials().filter((k) => this.chainOfCredential(k).some((el) => el.via !== RULES.createdBy && match(el)));
  }
}

/** Index of the last row (sorted by time) at or before `t`, or -1. */
function lastAtOrBefore(rows: readonly RowFacts[], t: bigint): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid]!.time <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
