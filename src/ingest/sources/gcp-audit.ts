import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { arr, at, compact, isObj, num, obj, str, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';
import { epochSecondsNs, eventTime, ipOnly, optionalTime } from './cloud-common.js';

/**
 * GCP Cloud Audit Logs: Cloud Logging `LogEntry` JSON whose `protoPayload` is a
 * `google.cloud.audit.AuditLog`, as users have it:
 *  - one entry per line (Cloud Storage sinks, Pub/Sub and Logstash pipelines),
 *  - exported arrays (`gcloud logging read --format=json`) and `{"entries":[...]}` API pages,
 *  - pretty-printed single entries.
 * Other LogEntries of the same export (textPayload, jsonPayload) are kept as `logging:<log id>`
 * rows, so a mixed export loses nothing.
 */

/** google.rpc.Code names, by number. */
const RPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

/** iamcredentials methods that mint a credential for the target service account, and what they mint. */
const IAMCREDENTIALS_ISSUING: Record<string, string> = {
  GenerateAccessToken: 'gcp_access_token',
  GenerateIdToken: 'gcp_id_token',
  SignJwt: 'gcp_signed_jwt',
  SignBlob: 'gcp_signed_blob',
};
/** Methods (last segment of methodName) that manage credentials without minting one we can name. */
const CREDENTIAL_OPS = new Set([
  'DeleteServiceAccountKey',
  'DisableServiceAccountKey',
  'EnableServiceAccountKey',
  'ExchangeToken',
  'DeleteKey',
  'UndeleteKey',
  'GetKeyString',
]);
const AUTH_OPS = new Set(['AuthorizeUser', 'CheckPolicy', 'StartSession']);

const LOG_NAME_RE = /^(?:projects|organizations|folders|billingAccounts)\/([^/]+)\/logs\/(.+)$/;
const SA_NAME_RE = /(?:^|\/)serviceAccounts\/([^/]+)/;
const KEY_NAME_RE = /^(?:\/\/iam\.googleapis\.com\/)?(projects\/[^/]+\/serviceAccounts\/[^/]+\/keys\/[^/]+)$/;
const STORAGE_OBJECT_RE = /^projects\/_\/buckets\/([^/]+)(?:\/objects\/(.+))?$/;
const K8S_SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;
/** GKE Workload Identity principal: PROJECT.svc.id.goog[NAMESPACE/KSA]. */
const GKE_WI_RE = /^[^\s[\]]+\.svc\.id\.goog\[([^/\]]+)\/([^\]]+)\]$/;

function payloadType(p: Obj): string | undefined {
  return str(p['@type']) ?? str(p.at_sign_type);
}

function looksLikeEntry(v: unknown): boolean {
  if (!isObj(v)) return false;
  const p = obj(v.protoPayload);
  if (p) {
    if (payloadType(p)?.endsWith('google.cloud.audit.AuditLog')) return true;
    if (typeof p.methodName === 'string' && (typeof p.serviceName === 'string' || isObj(p.authenticationInfo))) return true;
  }
  const logName = str(v.logName);
  return logName !== undefined && LOG_NAME_RE.test(logName) && (p !== undefined || isObj(v.jsonPayload) || typeof v.textPayload === 'string');
}

/** `projects/p/logs/cloudaudit.googleapis.com%2Factivity` → { project: 'p', logId: 'cloudaudit.googleapis.com/activity' }. */
function parseLogName(logName: string | undefined): { parent?: string; logId?: string } {
  const m = logName ? LOG_NAME_RE.exec(logName) : null;
  if (!m) return {};
  let logId = m[2]!;
  if (logId.includes('%')) {
    try {
      logId = decodeURIComponent(logId);
    } catch {
      // keep it encoded
    }
  }
  return { parent: m[1], logId };
}

function actorTypeOf(principal: string, subject: string | undefined): ActorType {
  if (subject?.startsWith('serviceAccount:') || principal.endsWith('.gserviceaccount.com')) return 'service_account';
  if (K8S_SA_RE.test(principal) || GKE_WI_RE.test(principal)) return 'service_account';
  if (principal.startsWith('principal://') || principal.startsWith('principalSet://')) {
    return principal.includes('/workforcePools/') ? 'human' : principal.includes('/workloadIdentityPools/') ? 'workload' : 'unknown';
  }
  if (subject?.startsWith('user:')) return 'human';
  if (principal === 'system:anonymous') return 'unknown';
  if (principal.startsWith('system:')) return 'agent';
  return principal.includes('@') ? 'human' : 'unknown';
}

/** A delegation entry's principal: a first-party email, or the subject GCP gives it. */
function delegatorOf(e: unknown): string | undefined {
  return str(at(e, 'firstPartyPrincipal', 'principalEmail')) ?? str(at(e, 'principalSubject')) ?? str(at(e, 'thirdPartyPrincipal', 'thirdPartyClaims', 'principalSubject'));
}

/** The service account a resource name names (projects/-/serviceAccounts/<email or unique id>). */
function serviceAccountOf(...names: (string | undefined)[]): string | undefined {
  let fallback: string | undefined;
  for (const n of names) {
    const m = n ? SA_NAME_RE.exec(n) : null;
    if (!m) continue;
    if (m[1]!.includes('@')) return m[1];
    fallback ??= m[1];
  }
  return fallback;
}

/** Service-account key names as authenticationInfo writes them: //iam.googleapis.com/projects/P/serviceAccounts/SA/keys/K. */
export function canonicalKeyName(name: string | undefined): string | undefined {
  const m = name ? KEY_NAME_RE.exec(name) : null;
  return m ? `//iam.googleapis.com/${m[1]}` : undefined;
}

/** A protobuf Timestamp as the JSON mapping writes it (RFC 3339) or as some exporters do ({seconds}). */
function protoTime(v: unknown): bigint | null {
  if (typeof v === 'string') return optionalTime(v);
  if (isObj(v)) return epochSecondsNs(v.seconds);
  return null;
}

function targetOf(resourceName: string | undefined, authz: unknown[]): string | undefined {
  if (resourceName) {
    const m = STORAGE_OBJECT_RE.exec(resourceName);
    if (m) return m[2] ? `gs://${m[1]}/${m[2]}` : `gs://${m[1]}`;
    return resourceName;
  }
  for (const a of authz) {
    const r = str(at(a, 'resource')) ?? str(at(a, 'resourceAttributes', 'name'));
    if (r) return r;
  }
  return undefined;
}

function outcomeOf(status: Obj | undefined, denied: string[]): { outcome: Outcome; reason?: string; code?: number } {
  const code = num(status?.code);
  const message = str(status?.message);
  if (code !== undefined && code !== 0) {
    const name = RPC_CODES[code] ?? `code ${code}`;
    const detail = arr(status?.details).map((d) => str(at(d, 'reason'))).find(Boolean);
    const text = message ?? detail;
    const reason = text && text !== name ? `${name}: ${text}` : name;
    return { outcome: code === PERMISSION_DENIED || code === UNAUTHENTICATED ? 'denied' : 'failure', reason, code };
  }
  if (denied.length > 0) return { outcome: 'denied', reason: `permission denied: ${denied.join(', ')}` };
  return { outcome: 'success', code };
}

type Issued = Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'>;

function issuedOf(service: string, op: string, p: Obj, resourceName: string | undefined, resourceLabels: Obj | undefined, actorId: string | undefined): Issued | undefined {
  const req = obj(p.request);
  const resp = obj(p.response);
  if (service === 'iamcredentials.googleapis.com') {
    const type = IAMCREDENTIALS_ISSUING[op];
    if (!type) return undefined;
    const sa = serviceAccountOf(str(req?.name), resourceName, str(resourceLabels?.email_id) ? `serviceAccounts/${str(resourceLabels?.email_id)}` : undefined);
    return { issued_to: sa ?? null, issued_credential_type: type, issued_credential_expires: protoTime(resp?.expireTime ?? resp?.expire_time), issued_credential_id: null };
  }
  if (op === 'CreateServiceAccountKey' || op === 'UploadServiceAccountKey') {
    const keyName = str(resp?.name);
    const sa = serviceAccountOf(keyName, str(resourceLabels?.email_id) ? `serviceAccounts/${str(resourceLabels?.email_id)}` : undefined, str(req?.name), resourceName);
    return {
      issued_credential_id: canonicalKeyName(keyName) ?? null,
      issued_credential_type: 'gcp_sa_key',
      issued_credential_expires: protoTime(resp?.validBeforeTime ?? resp?.valid_before_time),
      issued_to: sa ?? null,
    };
  }
  if (service === 'apikeys.googleapis.com' && op === 'CreateKey') {
    return { issued_credential_id: str(resp?.name) ?? null, issued_credential_type: 'gcp_api_key', issued_to: null, issued_credential_expires: null };
  }
  if (service === 'sts.googleapis.com' && op === 'ExchangeToken') {
    return { issued_credential_id: null, issued_credential_type: 'gcp_federated_token', issued_to: actorId ?? null, issued_credential_expires: null };
  }
  return undefined;
}

function unique(xs: string[]): string[] {
  return xs.length < 2 ? xs : [...new Set(xs)];
}

/** A LogEntry that is not an audit record (textPayload, jsonPayload, other protoPayloads without a method). */
function plainEntry(rec: Obj, time: bigint, logId: string | undefined, host: string | undefined): EventDraft {
  const json = obj(rec.jsonPayload);
  const text = typeof rec.textPayload === 'string' ? rec.textPayload : str(json?.message);
  return {
    source_event_id: str(rec.insertId) ?? null,
    time,
    host: host ?? null,
    category: 'api',
    action: `logging:${logId ?? 'entry'}`,
    outcome: 'unknown',
    target: null,
    attrs: compact({
      log_name: str(rec.logName),
      resource_type: str(at(rec, 'resource', 'type')),
      severity: str(rec.severity),
      payload: json ? 'json' : typeof rec.textPayload === 'string' ? 'text' : isObj(rec.protoPayload) ? 'proto' : undefined,
      payload_type: json ? str(json['@type']) : isObj(rec.protoPayload) ? payloadType(rec.protoPayload) : undefined,
      message: text ? (text.length > 1024 ? `${text.slice(0, 1024)}…` : text) : undefined,
    }),
  };
}

export const gcpAudit: SourceParser = {
  name: 'gcp_audit',
  title: 'GCP Cloud Audit Logs',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeEntry(sample[0]);
    if (isObj(sample) && Array.isArray(sample.entries) && !('protoPayload' in sample)) return sample.entries.length > 0 && looksLikeEntry(sample.entries[0]);
    return looksLikeEntry(sample);
  },

  split(value): SplitRecord[] | null {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    if (isObj(value) && Array.isArray(value.entries) && !('protoPayload' in value)) return value.entries.map((record, i) => ({ pointer: `/entries/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const rec = record;
    const p = obj(rec.protoPayload);
    if (!p && !isObj(rec.jsonPayload) && typeof rec.textPayload !== 'string') {
      return { ok: false, reason: 'not a Cloud Logging LogEntry: no protoPayload, jsonPayload or textPayload' };
    }
    const timeText = str(rec.timestamp) ?? str(rec.receiveTimestamp);
    if (!timeText) return { ok: false, reason: 'no timestamp (timestamp or receiveTimestamp)' };
    const t = eventTime(timeText, 'timestamp');
    if ('error' in t) return { ok: false, reason: t.error };

    const { parent, logId } = parseLogName(str(rec.logName));
    const labels = obj(at(rec, 'resource', 'labels'));
    const project = str(labels?.project_id) ?? parent;
    const methodName = str(p?.methodName);
    if (!p || !methodName) {
      if (p && payloadType(p)?.endsWith('google.cloud.audit.AuditLog')) return { ok: false, reason: 'audit log entry without protoPayload.methodName' };
      return { ok: true, event: plainEntry(rec, t.ns, logId, project) };
    }

    const service = str(p.serviceName) ?? str(at(rec, 'resource', 'labels', 'service')) ?? 'gcp';
    const op = methodName.slice(methodName.lastIndexOf('.') + 1);
    const auth = obj(p.authenticationInfo);
    const principalEmail = str(auth?.principalEmail);
    const principalSubject = str(auth?.principalSubject);
    const actorId = principalEmail ?? principalSubject;
    const keyName = canonicalKeyName(str(auth?.serviceAccountKeyName)) ?? str(auth?.serviceAccountKeyName);
    const delegation = arr(auth?.serviceAccountDelegationInfo).map(delegatorOf).filter((x): x is string => Boolean(x));

    const authz = arr(p.authorizationInfo);
    const permissions: string[] = [];
    const denied: string[] = [];
    for (const a of authz) {
      const perm = str(at(a, 'permission'));
      if (!perm) continue;
      permissions.push(perm);
      if (at(a, 'granted') === false) denied.push(perm);
    }
    const status = obj(p.status);
    const { outcome, reason, code } = outcomeOf(status, unique(denied));
    const resourceName = str(p.resourceName);
    const meta = obj(p.requestMetadata);
    const callerIp = str(meta?.callerIp);
    const ip = ipOnly(callerIp);

    const issued = outcome === 'success' ? issuedOf(service, op, p, resourceName, labels, actorId) : undefined;
    let category: Category = 'api';
    if (issued || IAMCREDENTIALS_ISSUING[op] || op === 'CreateServiceAccountKey' || op === 'UploadServiceAccountKey' || CREDENTIAL_OPS.has(op) || (service === 'apikeys.googleapis.com' && op === 'CreateKey')) category = 'credential';
    else if (AUTH_OPS.has(op)) category = 'auth';

    let k8sNamespace: string | undefined;
    let k8sSa: string | undefined;
    const sa = actorId ? (K8S_SA_RE.exec(actorId) ?? GKE_WI_RE.exec(actorId)) : null;
    if (sa) {
      k8sNamespace = sa[1];
      k8sSa = sa[2];
    }

    const statusReason = status ? arr(status.details).map((d) => str(at(d, 'reason'))).filter((x): x is string => Boolean(x)) : [];
    const event: EventDraft = {
      source_event_id: str(rec.insertId) ?? null,
      time: t.ns,
      host: project ?? null,
      category,
      action: `${service}:${methodName}`,
      outcome,
      target: targetOf(resourceName, authz) ?? null,
      reason: reason ?? null,
      actor_id: actorId ?? null,
      actor_type: actorId ? actorTypeOf(actorId, principalSubject) : null,
      actor_name: actorId ?? null,
      credential_id: keyName ?? null,
      credential_type: keyName ? 'gcp_sa_key' : null,
      // The principal that delegated to the acting service account, nearest first (the last of GCP's list).
      session_issuer: delegation.length > 0 ? delegation[delegation.length - 1]! : null,
      k8s_namespace: k8sNamespace ?? null,
      k8s_service_account: k8sSa ?? null,
      src_ip: ip ?? null,
      user_agent: str(meta?.callerSuppliedUserAgent) ?? null,
      ...issued,
      attrs: compact({
        service,
        method: methodName,
        log: logId?.startsWith('cloudaudit.googleapis.com/') ? logId.slice('cloudaudit.googleapis.com/'.length) : logId,
        project,
        resource_type: str(at(rec, 'resource', 'type')),
        location: str(labels?.location) ?? str(labels?.zone) ?? str(labels?.region),
        cluster: str(labels?.cluster_name),
        severity: str(rec.severity),
        operation_id: str(at(rec, 'operation', 'id')),
        principal_subject: principalSubject,
        // Original caller first, as GCP lists it (serviceAccountDelegationInfo).
        delegation_chain: delegation.length > 0 ? delegation : undefined,
        identity_delegation_chain: at(p, 'metadata', 'identityDelegationChain') !== undefined ? arr(at(p, 'metadata', 'identityDelegationChain')).filter((x) => typeof x === 'string') : undefined,
        service_account_key: keyName,
        oauth_client_id: str(at(auth, 'oauthInfo', 'oauthClientId')),
        authority_selector: str(auth?.authoritySelector),
        caller_ip_text: callerIp && !ip ? callerIp : undefined,
        caller_network: str(meta?.callerNetwork),
        permissions: permissions.length > 0 ? unique(permissions) : undefined,
        denied_permissions: denied.length > 0 ? unique(denied) : undefined,
        status_code: code,
        status_reasons: statusReason.length > 0 ? statusReason : undefined,
        k8s_decision: str(at(rec, 'labels', 'authorization.k8s.io/decision')),
        k8s_reason: str(at(rec, 'labels', 'authorization.k8s.io/reason')),
        request_name: str(at(p, 'request', 'name')),
        request_account_id: str(at(p, 'request', 'account_id')) ?? str(at(p, 'request', 'accountId')),
        issued_key_name: issued?.issued_credential_type === 'gcp_sa_key' ? str(at(p, 'response', 'name')) : undefined,
      }),
    };
    return { ok: true, event };
  },
};
