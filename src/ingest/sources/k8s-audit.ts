import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, at, compact, isObj, num, obj, str, strs, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';

/**
 * Kubernetes API server audit (audit.k8s.io/v1 and v1beta1 `Event`, one JSON object per line
 * as the log backend writes it; also `EventList` documents and pretty-printed single events).
 */

const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name';
const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';
const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name';
const EXTRA_CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';
/** Audit annotation on TokenRequest responses (Kubernetes ≥ 1.29): the JTI of the token issued. */
const ANNOTATION_ISSUED_CREDENTIAL = 'authentication.kubernetes.io/issued-credential-id';
const ANNOTATION_DECISION = 'authorization.k8s.io/decision';
const ANNOTATION_REASON = 'authorization.k8s.io/reason';

const SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;

function looksLikeEvent(v: unknown): boolean {
  if (!isObj(v)) return false;
  const apiVersion = str(v.apiVersion) ?? '';
  if (v.kind === 'Event' && apiVersion.startsWith('audit.k8s.io/')) return true;
  if (typeof v.verb !== 'string') return false;
  return typeof v.auditID === 'string' || ((isObj(v.user) || isObj(v.objectRef)) && (v.kind === 'Event' || typeof v.requestURI === 'string' || typeof v.stage === 'string'));
}

function first(extra: Obj | undefined, key: string): string | undefined {
  const v = extra?.[key];
  if (typeof v === 'string') return str(v);
  return str(arr(v)[0]);
}

/** Kubernetes' own components authenticate as system:<component>; system:admin is a person's admin certificate. */
function actorType(username: string): ActorType {
  if (SA_RE.test(username)) return 'service_account';
  if (username === 'system:anonymous') return 'unknown';
  if (username === 'system:admin') return 'human';
  if (username.startsWith('system:')) return 'agent';
  return 'human';
}

function credentialType(id: string): string {
  if (id.startsWith('JTI=')) return 'k8s_token';
  if (id.startsWith('X509SHA256=')) return 'x509_cert';
  return 'k8s_credential';
}

function outcomeOf(code: number | undefined, decision: string | undefined): Outcome {
  if (code !== undefined) {
    if (code >= 100 && code < 400) return 'success'; // 101: exec/attach upgraded
    if (code === 403) return 'denied';
    return 'failure';
  }
  if (decision === 'forbid') return 'denied';
  if (decision === 'allow') return 'allowed';
  return 'unknown';
}

function timeOf(rec: Obj): { time: bigint | null; text?: string } {
  const candidates = [rec.requestReceivedTimestamp, rec.stageTimestamp, rec.timestamp, at(rec, 'metadata', 'creationTimestamp'), rec.p_event_time];
  for (const c of candidates) {
    const t = str(c);
    if (t) return { time: parseTimeNs(t), text: t };
  }
  return { time: null };
}

export const k8sAudit: SourceParser = {
  name: 'k8s_audit',
  title: 'Kubernetes audit',
  format: 'json',

  detect(sample) {
    if (isObj(sample) && sample.kind === 'EventList' && Array.isArray(sample.items)) return sample.items.length === 0 || looksLikeEvent(sample.items[0]);
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeEvent(sample[0]);
    return looksLikeEvent(sample);
  },

  split(value): SplitRecord[] | null {
    if (isObj(value) && value.kind === 'EventList' && Array.isArray(value.items)) return value.items.map((record, i) => ({ pointer: `/items/${i}`, record }));
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const rec = record;
    const verb = str(rec.verb);
    if (!verb) return { ok: false, reason: 'not a Kubernetes audit event: no verb' };
    const { time, text } = timeOf(rec);
    if (time === null) {
      return { ok: false, reason: text ? `timestamp is not a time: ${JSON.stringify(text.slice(0, 64))}` : 'no timestamp (requestReceivedTimestamp, stageTimestamp or timestamp)' };
    }

    const user = obj(rec.user);
    const username = str(user?.username);
    const extra = obj(user?.extra);
    const ref = obj(rec.objectRef);
    const annotations = obj(rec.annotations);
    const resource = str(ref?.resource);
    const subresource = str(ref?.subresource);
    const namespace = str(ref?.namespace);
    const name = str(ref?.name);
    const code = num(at(rec, 'responseStatus', 'code'));
    const decision = str(annotations?.[ANNOTATION_DECISION]);
    const stage = str(rec.stage);
    const requestUri = str(rec.requestURI);

    const resourcePath = resource ? `${resource}${subresource ? `/${subresource}` : ''}` : undefined;
    const action = resourcePath ? `${verb} ${resourcePath}` : `${verb} ${requestUri?.split('?')[0] ?? '?'}`;
    const target = resource
      ? [namespace, resource, name, subresource].filter((x): x is string => Boolean(x)).join('/')
      : requestUri ?? null;

    // The workload behind the actor: a service account, and the pod its token is bound to.
    const sa = username ? SA_RE.exec(username) : null;
    let k8sNamespace = sa?.[1];
    let k8sSa = sa?.[2];
    let k8sPod = first(extra, EXTRA_POD_NAME);
    let k8sPodUid = first(extra, EXTRA_POD_UID);
    const credentialId = first(extra, EXTRA_CREDENTIAL_ID);

    let category: Category = 'api';
    let issued: Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'> = {};
    const boundRef = obj(at(rec, 'requestObject', 'spec', 'boundObjectRef'));
    const isTokenRequest = resource === 'serviceaccounts' && subresource === 'token' && verb === 'create';
    if (isTokenRequest) {
      category = 'credential';
      const issuedId = str(annotations?.[ANNOTATION_ISSUED_CREDENTIAL]);
      const expires = str(at(rec, 'responseObject', 'status', 'expirationTimestamp'));
      const seconds = num(at(rec, 'requestObject', 'spec', 'expirationSeconds'));
      issued = {
        issued_to: namespace && name ? `system:serviceaccount:${namespace}:${name}` : null,
        issued_credential_id: issuedId ?? null,
        issued_credential_type: 'k8s_token',
        issued_credential_expires: expires ? parseTimeNs(expires) : seconds !== undefined ? time + BigInt(Math.round(seconds)) * 1_000_000_000n : null,
      };
      // A token request is about the workload it is bound to, not the kubelet asking for it.
      if (!sa) {
        k8sNamespace = namespace;
        k8sSa = name;
        if (str(boundRef?.kind) === 'Pod') {
          k8sPod = str(boundRef?.name);
          k8sPodUid = str(boundRef?.uid);
        }
      }
    } else if (resource === 'pods' && !subresource && verb === 'create' && !k8sPod) {
      // A pod's creation, logged with its response, names the pod's uid and service account: the
      // evidence that ties a kernel row's cgroup (pod uid) to a workload (DESIGN.md rule 1). Kept
      // to creators that are not pods themselves, whose own pod the columns already name.
      const meta = obj(at(rec, 'responseObject', 'metadata'));
      const uid = str(meta?.uid);
      const podNs = str(meta?.namespace) ?? namespace;
      const podSa = str(at(rec, 'responseObject', 'spec', 'serviceAccountName'));
      // (a service account creating a pod that runs as itself would read as acting from that pod)
      if (uid && (code === undefined || code < 300) && !(sa && sa[1] === podNs && sa[2] === podSa)) {
        k8sPodUid = uid;
        k8sPod = str(meta?.name) ?? name;
        k8sNamespace = podNs;
        k8sSa = podSa;
      }
    } else if (resource === 'tokenreviews' || resource === 'subjectaccessreviews' || resource === 'selfsubjectreviews') {
      category = 'auth';
    } else if (resource === 'certificatesigningrequests' && verb === 'create') {
      category = 'credential';
    }

    const reqObj = obj(rec.requestObject);
    const isBinding = (resource === 'rolebindings' || resource === 'clusterrolebindings') && reqObj;
    const status = obj(rec.responseStatus);
    const statusReason = [str(status?.reason), str(status?.message)].filter(Boolean).join(': ');
    const sourceIps = strs(rec.sourceIPs);

    const event: EventDraft = {
      source_event_id: str(rec.auditID) ?? null,
      time,
      category,
      action,
      outcome: outcomeOf(code, decision),
      target,
      reason: statusReason || str(annotations?.[ANNOTATION_REASON]) || null,
      actor_id: username ?? null,
      actor_type: username ? actorType(username) : null,
      actor_name: username ?? null,
      credential_id: credentialId ?? null,
      credential_type: credentialId ? credentialType(credentialId) : null,
      k8s_namespace: k8sNamespace ?? null,
      k8s_service_account: k8sSa ?? null,
      k8s_pod: k8sPod ?? null,
      k8s_pod_uid: k8sPodUid ?? null,
      k8s_node: first(extra, EXTRA_NODE_NAME) ?? (username?.startsWith('system:node:') ? username.slice('system:node:'.length) : null),
      src_ip: sourceIps[0] ?? null,
      user_agent: str(rec.userAgent) ?? null,
      ...issued,
      attrs: compact({
        api_version: str(rec.apiVersion),
        stage,
        level: str(rec.level),
        request_uri: requestUri,
        verb,
        resource,
        subresource,
        api_group: str(ref?.apiGroup),
        object_namespace: namespace,
        object_name: name,
        groups: strs(user?.groups).length ? strs(user?.groups) : undefined,
        impersonated_user: str(at(rec, 'impersonatedUser', 'username')),
        impersonated_groups: strs(at(rec, 'impersonatedUser', 'groups')).length ? strs(at(rec, 'impersonatedUser', 'groups')) : undefined,
        decision,
        authz_reason: str(annotations?.[ANNOTATION_REASON]),
        response_code: code,
        source_ips: sourceIps.length > 1 ? sourceIps : undefined,
        audiences: isTokenRequest && strs(at(rec, 'requestObject', 'spec', 'audiences')).length ? strs(at(rec, 'requestObject', 'spec', 'audiences')) : undefined,
        bound_object: isTokenRequest && boundRef ? compact({ kind: str(boundRef.kind), name: str(boundRef.name), uid: str(boundRef.uid) }) : undefined,
        pod_service_account: resource === 'pods' && verb === 'create' && !subresource ? str(at(rec, 'requestObject', 'spec', 'serviceAccountName')) : undefined,
        binding_role: isBinding ? compact({ kind: str(at(reqObj, 'roleRef', 'kind')), name: str(at(reqObj, 'roleRef', 'name')) }) : undefined,
        binding_subjects: isBinding
          ? arr(reqObj.subjects).filter(isObj).map((s) => compact({ kind: str(s.kind), name: str(s.name), namespace: str(s.namespace) }))
          : undefined,
      }),
    };
    return { ok: true, event };
  },
};
