import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, compact, isObj, num, obj, str, strs, type Obj, type ParseResult, type SourceParser } from '../source.js';

/**
 * HashiCorp Vault audit device, JSON format (file, socket and syslog devices write the same
 * entries): one `request` and one `response` entry per API call, sharing `request.id`
 * (https://developer.hashicorp.com/vault/docs/audit; field names from vault/audit/types.go).
 *
 * Both entries become rows: they are separate records with their own time, and only the response
 * says how the call ended (error, response.auth of a login, a lease). The request row's outcome is
 * what Vault decided before handling it: `allowed`/`denied` when the entry carries
 * `auth.policy_results`, `failure`/`denied` when Vault refused it outright, else `unknown`.
 *
 * Values Vault HMACs (`hmac-sha256:…`, the default for tokens, accessors and request/response data)
 * are kept exactly as written: the same accessor always has the same HMAC under one audit device,
 * so `credential_id` still joins a login's response to the later requests made with its token.
 */

const LOGIN_RE = /^auth\/.+\/login(\/|$)/;
const TOKEN_CREATE_RE = /^auth\/token\/create(-orphan)?(\/|$)/;
const DENIED_RE = /permission denied|not authorized|unauthorized|forbidden|access denied/i;
const IP_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;

function looksLikeEntry(v: unknown): boolean {
  if (!isObj(v)) return false;
  if (v.type !== 'request' && v.type !== 'response') return false;
  const req = obj(v.request);
  if (!req) return false;
  return typeof req.operation === 'string' || typeof req.path === 'string' || typeof req.id === 'string';
}

/** Vault wraps errors as multierror text: "1 error occurred:\n\t* permission denied\n\n". */
export function cleanVaultError(err: string): string {
  const items = [...err.matchAll(/^\s*\*\s+(.+?)\s*$/gm)].map((m) => m[1]!);
  if (/^\d+ errors? occurred:/.test(err) && items.length > 0) return items.join('; ');
  return err.trim();
}

function classify(err: string): Outcome {
  return DENIED_RE.test(err) ? 'denied' : 'failure';
}

/** What kind of principal a Vault token belongs to, from its auth method's metadata and display name. */
function actorTypeOf(auth: Obj | undefined, metadata: Obj | undefined): ActorType | undefined {
  if (!auth) return undefined;
  const display = str(auth.display_name) ?? '';
  if (str(metadata?.service_account_name) || display.startsWith('kubernetes-')) return 'service_account';
  if (str(metadata?.role_name) || display.startsWith('approle')) return 'service_account';
  if (str(metadata?.username) || display === 'root' || /^(userpass|ldap|oidc|okta|github|radius)-/.test(display)) return 'human';
  if (display.startsWith('aws-') || display.startsWith('gcp-') || display.startsWith('azure-') || display.startsWith('cert-') || display.startsWith('jwt-')) {
    return 'workload';
  }
  return str(auth.accessor) || str(auth.entity_id) || display ? 'unknown' : undefined;
}

function addSeconds(base: bigint | null, seconds: number | undefined): bigint | null {
  if (base === null || seconds === undefined || seconds <= 0) return null;
  return base + BigInt(Math.round(seconds)) * 1_000_000_000n;
}

export const vault: SourceParser = {
  name: 'vault',
  title: 'HashiCorp Vault audit',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeEntry(sample[0]);
    return looksLikeEntry(sample);
  },

  split(value) {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const rec = record;
    const entryType = str(rec.type);
    if (entryType !== 'request' && entryType !== 'response') {
      return { ok: false, reason: `not a Vault audit entry: type is ${JSON.stringify(rec.type ?? null)}, not "request" or "response"` };
    }
    const req = obj(rec.request);
    if (!req) return { ok: false, reason: 'Vault audit entry without a request object' };
    const timeText = str(rec.time);
    if (!timeText) return { ok: false, reason: 'Vault audit entry without time' };
    const time = parseTimeNs(timeText);
    if (time === null) return { ok: false, reason: `time is not a timestamp: ${JSON.stringify(timeText.slice(0, 64))}` };

    const path = str(req.path);
    const operation = str(req.operation) ?? '?';
    const isLogin = path !== undefined && LOGIN_RE.test(path);
    const auth = obj(rec.auth);
    const resp = obj(rec.response);
    const error = str(rec.error);
    const responseDataError = resp ? obj(resp.data)?.error : undefined;
    const policyAllowed = obj(auth?.policy_results)?.allowed;

    // How it ended.
    let outcome: Outcome;
    let reason: string | undefined;
    if (error) {
      reason = cleanVaultError(error);
      outcome = classify(reason);
    } else if (policyAllowed === false) {
      outcome = 'denied';
      reason = 'policy_results.allowed is false';
    } else if (entryType === 'request') {
      outcome = policyAllowed === true ? 'allowed' : 'unknown';
    } else if (responseDataError !== undefined) {
      outcome = 'failure';
      reason = typeof responseDataError === 'string' && !responseDataError.startsWith('hmac-') ? responseDataError : 'response.data.error (HMAC-hashed in the audit log)';
    } else {
      outcome = 'success';
    }

    // A login or token creation hands out a token; its accessor is what later requests present.
    // Vault also writes the new token into the response entry's own `auth` for logins.
    const respAuth = obj(resp?.auth);
    const issuedAuth = entryType === 'response' && outcome === 'success' ? (respAuth ?? (isLogin && str(auth?.accessor) ? auth : undefined)) : undefined;
    const issuedAccessor = str(issuedAuth?.accessor);
    const leaseId = str(obj(resp?.secret)?.lease_id);

    // Who acted: for a login, the identity that logged in (the caller presented a JWT or password, not a token).
    const actorAuth = isLogin ? issuedAuth : auth;
    const metadata = obj(actorAuth?.metadata) ?? obj(respAuth?.metadata);
    const entityId = str(actorAuth?.entity_id);
    const display = str(actorAuth?.display_name);
    const actorId = entityId ?? display;
    const accessor = isLogin ? undefined : (str(auth?.accessor) ?? str(req.client_token_accessor));
    const issueTime = str(auth?.token_issue_time);

    let issued: Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'> = {};
    if (issuedAccessor) {
      issued = {
        issued_credential_id: issuedAccessor,
        issued_credential_type: 'vault_token',
        issued_credential_expires: addSeconds(time, num(issuedAuth?.token_ttl) ?? num(issuedAuth?.lease_duration)),
        issued_to: str(issuedAuth?.entity_id) ?? str(issuedAuth?.display_name) ?? null,
      };
    } else if (leaseId && entryType === 'response' && outcome === 'success') {
      issued = { issued_credential_id: leaseId, issued_credential_type: 'vault_lease', issued_to: actorId ?? null };
    }

    let category: Category = 'api';
    if (isLogin) category = 'auth';
    else if ((path && TOKEN_CREATE_RE.test(path)) || issued.issued_credential_id) category = 'credential';

    const namespacePath = str(obj(req.namespace)?.path);
    const target = path ? `${namespacePath ?? ''}${path}` : null;
    const remote = str(req.remote_address);
    const policies = strs(actorAuth?.policies);
    const tokenPolicies = strs(actorAuth?.token_policies);
    const identityPolicies = strs(actorAuth?.identity_policies);
    const metaOut = metadata ? Object.fromEntries(Object.entries(metadata).filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) : undefined;

    const event: EventDraft = {
      source_event_id: str(req.id) ?? null,
      time,
      category,
      action: `vault:${operation}${path ? ` ${path}` : ''}`,
      outcome,
      target,
      reason: reason ?? null,
      actor_id: actorId ?? null,
      actor_type: actorTypeOf(actorAuth, metadata) ?? null,
      actor_name: display ?? null,
      credential_id: accessor ?? null,
      credential_type: accessor ? 'vault_token' : null,
      credential_expires: accessor && issueTime ? addSeconds(parseTimeNs(issueTime), num(auth?.token_ttl)) : null,
      k8s_namespace: str(metadata?.service_account_namespace) ?? null,
      k8s_service_account: str(metadata?.service_account_name) ?? null,
      k8s_pod: str(metadata?.pod_name) ?? null,
      k8s_pod_uid: str(metadata?.pod_uid) ?? null,
      src_ip: remote && IP_RE.test(remote) ? remote : null,
      src_port: num(req.remote_port) ?? null,
      ...issued,
      attrs: compact({
        entry_type: entryType,
        operation,
        path,
        mount_type: str(req.mount_type) ?? str(resp?.mount_type),
        mount_point: str(req.mount_point),
        mount_accessor: str(req.mount_accessor),
        namespace_id: str(obj(req.namespace)?.id),
        namespace_path: namespacePath,
        client_id: str(req.client_id),
        entity_id: entityId,
        display_name: display,
        token_type: str(actorAuth?.token_type),
        policies: policies.length ? policies : undefined,
        token_policies: tokenPolicies.length ? tokenPolicies : undefined,
        identity_policies: identityPolicies.length ? identityPolicies : undefined,
        metadata: metaOut && Object.keys(metaOut).length ? metaOut : undefined,
        service_account_uid: str(metadata?.service_account_uid),
        granting_policies: arr(obj(auth?.policy_results)?.granting_policies)
          .map((p) => str(obj(p)?.name))
          .filter(Boolean),
        policy_allowed: typeof policyAllowed === 'boolean' ? policyAllowed : undefined,
        error,
        lease_id: leaseId,
        remote_address: remote && !IP_RE.test(remote) ? remote : undefined,
        wrap_ttl: num(req.wrap_ttl) || undefined,
        forwarded: rec.forwarded === true ? true : undefined,
        forwarded_from: str(rec.forwarded_from),
      }),
    };
    const a = event.attrs as Record<string, unknown>;
    if (Array.isArray(a.granting_policies) && a.granting_policies.length === 0) delete a.granting_policies;
    return { ok: true, event };
  },
};
