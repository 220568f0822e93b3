import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { arr, at, compact, isObj, num, obj, str, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';
import { eventTime, ipAndPort, jsonColumn } from './cloud-common.js';

/**
 * Microsoft Entra ID sign-in logs (interactive, non-interactive, service principal, managed
 * identity, AD FS) and audit logs, in the shapes users have them:
 *  - the Azure Monitor diagnostic-settings envelope `{time, resourceId, operationName, category,
 *    properties{...}}`, one per line or inside an Event Hub `{"records":[...]}` batch;
 *  - the Log Analytics / Sentinel table export (`SigninLogs`, `AADNonInteractiveUserSignInLogs`,
 *    `AADServicePrincipalSignInLogs`, `AADManagedIdentitySignInLogs`, `AuditLogs`): PascalCase
 *    columns, nested fields as JSON strings;
 *  - Microsoft Graph `auditLogs/signIns` and `auditLogs/directoryAudits` objects (a `{"value":[...]}`
 *    page or one object per line).
 *
 * A successful sign-in issues a token: issued_credential_id is the sign-in's uniqueTokenIdentifier
 * (the `uti` claim of the token, which Azure Activity records carry as the credential they present);
 * the session id stays in attrs.session_id. Audit records that add a credential to an application or
 * service principal are credential issuance, issued to the target and identified by the key id
 * (KeyIdentifier) that the service principal's later sign-ins present as servicePrincipalCredentialKeyId.
 */

type SignInKind = 'interactive' | 'non_interactive' | 'service_principal' | 'managed_identity' | 'adfs';

/** Diagnostic-settings categories and Log Analytics tables of sign-in logs. */
const SIGN_IN_TABLES: Record<string, SignInKind> = {
  SignInLogs: 'interactive',
  NonInteractiveUserSignInLogs: 'non_interactive',
  ServicePrincipalSignInLogs: 'service_principal',
  ManagedIdentitySignInLogs: 'managed_identity',
  ADFSSignInLogs: 'adfs',
  SigninLogs: 'interactive',
  AADNonInteractiveUserSignInLogs: 'non_interactive',
  AADServicePrincipalSignInLogs: 'service_principal',
  AADManagedIdentitySignInLogs: 'managed_identity',
};
const AUDIT_TABLES = new Set(['AuditLogs']);
/** Other Entra categories a diagnostic setting exports; recognized (so the file is ours) and quarantined with a clear reason. */
const OTHER_ENTRA_TABLES = new Set([
  'ProvisioningLogs',
  'AADProvisioningLogs',
  'RiskyUsers',
  'UserRiskEvents',
  'AADUserRiskEvents',
  'AADRiskyUsers',
  'RiskyServicePrincipals',
  'ServicePrincipalRiskEvents',
  'AADRiskyServicePrincipals',
  'AADServicePrincipalRiskEvents',
  'MicrosoftGraphActivityLogs',
  'NetworkAccessTrafficLogs',
  'EnrichedOffice365AuditLogs',
  'B2CRequestLogs',
]);
const SOURCE_SYSTEM = 'Azure AD';
/** Activity Log categories and resource ids, to point Activity records met here at --source azure_activity. */
const ACTIVITY_LOG_CATEGORIES = new Set(['Administrative', 'ServiceHealth', 'ResourceHealth', 'Alert', 'Autoscale', 'Recommendation', 'Security', 'Policy']);
const SUBSCRIPTION_RESOURCE_RE = /^\/subscriptions\//i;
const AADIAM_RESOURCE_RE = /^\/tenants\/[^/]+\/providers\/microsoft\.aadiam\/?$/i;

/** Sign-in error codes that mean Conditional Access blocked the sign-in. */
const CA_BLOCK_CODES = new Set([53000, 53001, 53002, 53003, 53004, 530032, 530034, 530035]);

/** Log Analytics columns whose names do not camel-case into the Graph/diagnostic property names. */
const LA_RENAMES: Record<string, string> = {
  IPAddress: 'ipAddress',
  ConditionalAccessPolicies: 'appliedConditionalAccessPolicies',
  LocationDetails: 'location',
  ResourceIdentity: 'resourceId',
  AADOperationType: 'operationType',
  AADTenantId: 'aadTenantId',
  Id: 'id',
};
/** Log Analytics columns that hold JSON as a string. */
const LA_JSON = new Set([
  'Status',
  'ConditionalAccessPolicies',
  'LocationDetails',
  'DeviceDetail',
  'MfaDetail',
  'InitiatedBy',
  'TargetResources',
  'AdditionalDetails',
  'AuthenticationDetails',
  'AuthenticationProcessingDetails',
  'NetworkLocationDetails',
]);

const KEY_ID_RE = /KeyIdentifier=([0-9A-Fa-f-]{36})/g;
const KEY_DESC_RE = /\[KeyIdentifier=([0-9A-Fa-f-]{36}),KeyType=([^,\]]*),KeyUsage=([^,\]]*),DisplayName=([^\]]*)\]/g;
const CRED_ACTIVITY_RE = /credential|certificates and secrets/i;
const CRED_ADD_RE = /^(?:add|update)\b/i;
const QUOTES_RE = /"/g;

/** Whether a record is an Entra ID record in any of the shapes this parser reads. */
export function isEntraRecord(v: unknown): boolean {
  if (!isObj(v)) return false;
  const cat = str(v.category);
  if (isObj(v.properties)) {
    if (cat && (SIGN_IN_TABLES[cat] !== undefined || AUDIT_TABLES.has(cat) || OTHER_ENTRA_TABLES.has(cat))) return true;
    const rid = str(v.resourceId) ?? str(v.resourceid);
    if (rid && AADIAM_RESOURCE_RE.test(rid)) return true;
  }
  const table = str(v.Type);
  if (table && (SIGN_IN_TABLES[table] !== undefined || AUDIT_TABLES.has(table)) && (str(v.SourceSystem) === SOURCE_SYSTEM || typeof v.TimeGenerated === 'string')) return true;
  return isGraphSignIn(v) || isGraphAudit(v);
}

function isGraphSignIn(v: Obj): boolean {
  return typeof v.createdDateTime === 'string' && typeof v.appId === 'string' && isObj(v.status) && (typeof v.userPrincipalName === 'string' || typeof v.servicePrincipalId === 'string');
}

function isGraphAudit(v: Obj): boolean {
  return typeof v.activityDateTime === 'string' && typeof v.activityDisplayName === 'string' && isObj(v.initiatedBy);
}

interface View {
  /** The record's properties, in Graph/diagnostic camelCase. */
  props: Obj;
  /** The diagnostic envelope (or the LA row), for fields that only it has. */
  env: Obj;
  table?: string;
  shape: 'diagnostic' | 'log_analytics' | 'graph';
}

function fromLogAnalytics(rec: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(rec)) {
    const name = LA_RENAMES[k] ?? (k.length > 0 ? k[0]!.toLowerCase() + k.slice(1) : k);
    out[name] = LA_JSON.has(k) ? (jsonColumn(v) ?? v) : v;
  }
  return out;
}

function viewOf(rec: Obj): View {
  const props = obj(rec.properties);
  if (props) return { props, env: rec, table: str(rec.category), shape: 'diagnostic' };
  const table = str(rec.Type);
  if (table && (typeof rec.TimeGenerated === 'string' || str(rec.SourceSystem) === SOURCE_SYSTEM)) return { props: fromLogAnalytics(rec), env: rec, table, shape: 'log_analytics' };
  return { props: rec, env: rec, shape: 'graph' };
}

function kindOf(view: View): SignInKind | 'audit' | undefined {
  const { props, table } = view;
  if (table) {
    const k = SIGN_IN_TABLES[table];
    if (k) return k;
    if (AUDIT_TABLES.has(table)) return 'audit';
    if (OTHER_ENTRA_TABLES.has(table)) return undefined;
  }
  if (isObj(props.initiatedBy) || typeof props.activityDisplayName === 'string') return 'audit';
  if (typeof props.createdDateTime === 'string' && (str(props.userPrincipalName) || str(props.servicePrincipalId) || str(props.appId))) {
    if (str(props.servicePrincipalId) && !str(props.userPrincipalName)) return 'service_principal';
    return props.isInteractive === false ? 'non_interactive' : 'interactive';
  }
  return undefined;
}

function timeOf(view: View, primary: string): { ns: bigint } | { error: string } {
  const candidates: [unknown, string][] = [
    [view.props[primary], primary],
    [view.env.time, 'time'],
    [view.env.TimeGenerated, 'TimeGenerated'],
  ];
  for (const [v, field] of candidates) {
    const s = str(v);
    if (s) return eventTime(s, field);
  }
  return { error: `no time (${primary}, time or TimeGenerated)` };
}

function credentialTypeOf(clientCredentialType: string | undefined): string {
  switch (clientCredentialType) {
    case 'clientSecret':
      return 'entra_client_secret';
    case 'clientAssertion':
    case 'certificate':
      return 'entra_client_certificate';
    case 'federatedIdentityCredential':
      return 'entra_federated_credential';
    default:
      return 'entra_app_credential';
  }
}

function keyTypeOf(keyType: string | undefined): string | undefined {
  if (!keyType) return undefined;
  const k = keyType.replace(QUOTES_RE, '');
  if (k === 'Password') return 'entra_client_secret';
  if (k === 'AsymmetricX509Cert' || k === 'Symmetric' || k === 'X509CertAndPassword') return 'entra_client_certificate';
  return k ? `entra_${k.toLowerCase()}` : undefined;
}

function policyNames(policies: unknown[], result: string): string[] {
  const out: string[] = [];
  for (const p of policies) {
    if (str(at(p, 'result')) !== result) continue;
    const name = str(at(p, 'displayName')) ?? str(at(p, 'id'));
    if (name) out.push(name);
  }
  return out;
}

function signIn(view: View, kind: SignInKind): ParseResult {
  const { props, env } = view;
  const t = timeOf(view, 'createdDateTime');
  if ('error' in t) return { ok: false, reason: t.error };

  const status = obj(props.status);
  const errorCode = num(status?.errorCode) ?? num(props.resultType) ?? num(env.resultType);
  const failureReason = str(status?.failureReason) ?? str(props.resultDescription) ?? str(env.resultDescription);
  const caStatus = str(props.conditionalAccessStatus);
  const policies = arr(props.appliedConditionalAccessPolicies);
  const caFailed = policyNames(policies, 'failure');
  const caSucceeded = policyNames(policies, 'success');
  const resultText = str(env.resultType) ?? str(props.result);

  let outcome: Outcome;
  let reason: string | undefined;
  if (caStatus === 'failure' || (errorCode !== undefined && CA_BLOCK_CODES.has(errorCode))) {
    outcome = 'denied';
    reason = caFailed.length > 0 ? `conditional access: ${caFailed.join(', ')}` : `conditional access${failureReason ? `: ${failureReason}` : ''}`;
  } else if (errorCode !== undefined) {
    outcome = errorCode === 0 ? 'success' : 'failure';
    if (errorCode !== 0) reason = failureReason ? `${errorCode}: ${failureReason}` : String(errorCode);
  } else if (resultText && /^succe/i.test(resultText)) {
    outcome = 'success';
  } else if (resultText && /^fail/i.test(resultText)) {
    outcome = 'failure';
    reason = failureReason;
  } else {
    outcome = 'unknown';
  }

  const upn = str(props.userPrincipalName);
  const userId = str(props.userId);
  const spId = str(props.servicePrincipalId);
  const appId = str(props.appId);
  let actorId: string | undefined;
  let actorType: ActorType;
  let actorName: string | undefined;
  let credentialId: string | undefined;
  let credentialType: string | undefined;
  const clientCredentialType = str(props.clientCredentialType);
  if (kind === 'service_principal' || kind === 'managed_identity') {
    actorId = spId ?? appId;
    actorType = kind === 'managed_identity' ? 'workload' : 'service_account';
    actorName = str(props.servicePrincipalName) ?? str(props.appDisplayName) ?? actorId;
    const keyId = str(props.servicePrincipalCredentialKeyId);
    const thumbprint = str(props.servicePrincipalCredentialThumbprint);
    const federated = str(props.federatedCredentialId);
    if (keyId) {
      credentialId = keyId;
      credentialType = credentialTypeOf(clientCredentialType);
    } else if (thumbprint) {
      credentialId = thumbprint;
      credentialType = 'entra_client_certificate';
    } else if (federated) {
      credentialId = federated;
      credentialType = 'entra_federated_credential';
    }
  } else {
    actorId = upn ?? userId;
    actorType = 'human';
    actorName = str(props.userDisplayName) ?? upn ?? userId;
  }

  const uti = str(props.uniqueTokenIdentifier);
  const issued = outcome === 'success' && uti ? { issued_credential_id: uti, issued_credential_type: 'entra_token', issued_to: actorId ?? null } : {};
  const ip = ipAndPort(str(props.ipAddress)).ip ?? ipAndPort(str(env.callerIpAddress)).ip;
  const location = obj(props.location);
  const resourceName = str(props.resourceDisplayName);

  const event: EventDraft = {
    source_event_id: str(props.id) ?? null,
    time: t.ns,
    host: str(props.tenantId) ?? str(env.tenantId) ?? str(env.TenantId) ?? str(props.resourceTenantId) ?? null,
    category: 'auth',
    action: 'entra:Sign-in',
    outcome,
    target: resourceName ?? str(props.resourceId) ?? str(props.appDisplayName) ?? null,
    reason: reason ?? null,
    actor_id: actorId ?? null,
    actor_type: actorId ? actorType : null,
    actor_name: actorName ?? null,
    credential_id: credentialId ?? null,
    credential_type: credentialType ?? null,
    src_ip: ip ?? null,
    user_agent: str(props.userAgent) ?? null,
    ...issued,
    attrs: compact({
      log: view.table,
      sign_in_type: kind,
      user_id: kind === 'service_principal' || kind === 'managed_identity' ? undefined : userId,
      user_type: str(props.userType),
      app_id: appId,
      app_name: str(props.appDisplayName),
      service_principal_id: spId,
      resource_id: str(props.resourceId),
      resource_sp_id: str(props.resourceServicePrincipalId),
      session_id: str(props.sessionId),
      correlation_id: str(props.correlationId) ?? str(env.correlationId),
      original_request_id: str(props.originalRequestId),
      error_code: errorCode,
      failure_reason: errorCode ? failureReason : undefined,
      conditional_access_status: caStatus,
      ca_policies_failed: caFailed.length > 0 ? caFailed : undefined,
      ca_policies_succeeded: caSucceeded.length > 0 ? caSucceeded : undefined,
      authentication_requirement: str(props.authenticationRequirement),
      authentication_protocol: str(props.authenticationProtocol),
      client_app: str(props.clientAppUsed),
      client_credential_type: clientCredentialType && clientCredentialType !== 'none' ? clientCredentialType : undefined,
      incoming_token_type: str(props.incomingTokenType) !== 'none' ? str(props.incomingTokenType) : undefined,
      token_issuer_type: str(props.tokenIssuerType),
      token_issuer_name: str(props.tokenIssuerName),
      federated_credential_id: str(props.federatedCredentialId),
      managed_identity_type: str(props.managedIdentityType) !== 'none' ? str(props.managedIdentityType) : undefined,
      is_interactive: typeof props.isInteractive === 'boolean' ? props.isInteractive : undefined,
      home_tenant_id: str(props.homeTenantId),
      risk_level: str(props.riskLevelDuringSignIn) !== 'none' ? str(props.riskLevelDuringSignIn) : undefined,
      risk_state: str(props.riskState) !== 'none' ? str(props.riskState) : undefined,
      risk_event_types: arr(props.riskEventTypes).length > 0 ? arr(props.riskEventTypes).filter((x) => typeof x === 'string') : undefined,
      location: location ? compact({ city: str(location.city), state: str(location.state), country: str(location.countryOrRegion) }) : undefined,
      device_id: str(at(props, 'deviceDetail', 'deviceId')),
      device_os: str(at(props, 'deviceDetail', 'operatingSystem')),
      tenant_id: str(props.tenantId) ?? str(env.tenantId),
      resource_tenant_id: str(props.resourceTenantId),
    }),
  };
  return { ok: true, event };
}

interface KeyAdded {
  ids: string[];
  names: string[];
  type?: string;
}

/** Key ids that a target's KeyDescription gained (newValue minus oldValue), and their type. */
function keysAdded(target: unknown): KeyAdded {
  const ids: string[] = [];
  const names: string[] = [];
  let type: string | undefined;
  for (const m of arr(at(target, 'modifiedProperties'))) {
    const name = str(at(m, 'displayName'));
    const nv = str(at(m, 'newValue'));
    if (name === 'KeyType' && nv) type ??= keyTypeOf(nv);
    if (name !== 'KeyDescription' || !nv) continue;
    const before = new Set<string>();
    const ov = str(at(m, 'oldValue'));
    if (ov) for (const x of ov.matchAll(KEY_ID_RE)) before.add(x[1]!.toLowerCase());
    for (const x of nv.matchAll(KEY_DESC_RE)) {
      if (before.has(x[1]!.toLowerCase())) continue;
      ids.push(x[1]!);
      type ??= keyTypeOf(x[2]);
      if (x[4]) names.push(x[4]);
    }
  }
  return { ids, names, type };
}

function additionalDetail(details: unknown[], key: string): string | undefined {
  for (const d of details) if (str(at(d, 'key')) === key) return str(at(d, 'value'));
  return undefined;
}

function audit(view: View): ParseResult {
  const { props, env } = view;
  const activity = (str(props.activityDisplayName) ?? str(props.operationName) ?? str(env.operationName) ?? str(env.OperationName))?.trim();
  if (!activity) return { ok: false, reason: 'Entra ID audit record without activityDisplayName or operationName' };
  const t = timeOf(view, 'activityDateTime');
  if ('error' in t) return { ok: false, reason: t.error };

  const by = obj(props.initiatedBy);
  const user = obj(by?.user);
  const app = obj(by?.app);
  let actorId: string | undefined;
  let actorType: ActorType | undefined;
  let actorName: string | undefined;
  if (user && (str(user.userPrincipalName) || str(user.id))) {
    actorId = str(user.userPrincipalName) ?? str(user.id);
    actorType = 'human';
    actorName = str(user.displayName) ?? actorId;
  } else if (app && (str(app.servicePrincipalId) || str(app.appId) || str(app.displayName))) {
    actorId = str(app.servicePrincipalId) ?? str(app.appId) ?? str(app.displayName);
    actorType = 'service_account';
    actorName = str(app.displayName) ?? str(app.servicePrincipalName) ?? actorId;
  }

  const result = (str(props.result) ?? str(env.result) ?? str(env.Result))?.toLowerCase();
  const resultReason = str(props.resultReason) ?? str(env.ResultReason) ?? str(props.resultDescription);
  const outcome: Outcome = result === 'success' ? 'success' : result === 'failure' || result === 'timeout' ? 'failure' : 'unknown';

  const targets = arr(props.targetResources).filter(isObj);
  const first = targets[0];
  let category: Category = 'api';
  let issued: Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_to'> = {};
  let issuedIds: string[] = [];
  let issuedNames: string[] = [];
  const credActivity = CRED_ACTIVITY_RE.test(activity);
  for (const target of targets) {
    const added = keysAdded(target);
    if (added.ids.length === 0 && !(credActivity && added.type)) continue;
    if (outcome === 'success' && (added.ids.length > 0 || CRED_ADD_RE.test(activity))) {
      issued = {
        issued_credential_id: added.ids[0] ?? null,
        issued_credential_type: added.type ?? 'entra_app_credential',
        issued_to: str(target.id) ?? str(target.displayName) ?? null,
      };
      issuedIds = added.ids;
      issuedNames = added.names;
    }
    break;
  }
  if (credActivity || issued.issued_to !== undefined) category = 'credential';

  const details = arr(props.additionalDetails);
  const ip = ipAndPort(str(user?.ipAddress)).ip ?? ipAndPort(str(env.callerIpAddress)).ip;
  const event: EventDraft = {
    source_event_id: str(props.id) ?? null,
    time: t.ns,
    host: str(props.tenantId) ?? str(env.tenantId) ?? str(env.TenantId) ?? null,
    category,
    action: `entra:${activity}`,
    outcome,
    target: first ? (str(first.userPrincipalName) ?? str(first.displayName) ?? str(first.id) ?? null) : null,
    reason: outcome === 'success' ? null : (resultReason ?? null),
    actor_id: actorId ?? null,
    actor_type: actorType ?? null,
    actor_name: actorName ?? null,
    src_ip: ip ?? null,
    user_agent: str(props.userAgent) ?? additionalDetail(details, 'User-Agent') ?? null,
    ...issued,
    attrs: compact({
      log: view.table === 'AuditLogs' || view.shape !== 'diagnostic' ? 'AuditLogs' : view.table,
      audit_category: view.shape === 'log_analytics' ? str(env.Category) : (str(props.category) ?? (view.table !== 'AuditLogs' ? view.table : undefined)),
      logged_by_service: str(props.loggedByService),
      operation_type: str(props.operationType),
      correlation_id: str(props.correlationId) ?? str(env.correlationId),
      result: result,
      initiated_by_user_id: str(user?.id),
      initiated_by_app_id: str(app?.appId),
      initiated_by_sp_id: str(app?.servicePrincipalId),
      targets:
        targets.length > 0
          ? targets.slice(0, 10).map((x) => compact({ type: str(x.type), id: str(x.id), name: str(x.displayName), upn: str(x.userPrincipalName) }))
          : undefined,
      issued_key_ids: issuedIds.length > 1 ? issuedIds : undefined,
      issued_key_names: issuedNames.length > 0 ? issuedNames : undefined,
      tenant_id: str(props.tenantId) ?? str(env.tenantId) ?? str(env.TenantId),
    }),
  };
  return { ok: true, event };
}

export const entraId: SourceParser = {
  name: 'entra_id',
  title: 'Microsoft Entra ID',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && isEntraRecord(sample[0]);
    if (isObj(sample)) {
      if (Array.isArray(sample.records)) return sample.records.length > 0 && isEntraRecord(sample.records[0]);
      if (Array.isArray(sample.value)) return sample.value.length > 0 && isEntraRecord(sample.value[0]);
    }
    return isEntraRecord(sample);
  },

  split(value): SplitRecord[] | null {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    if (isObj(value) && !isEntraRecord(value)) {
      if (Array.isArray(value.records)) return value.records.map((record, i) => ({ pointer: `/records/${i}`, record }));
      if (Array.isArray(value.value)) return value.value.map((record, i) => ({ pointer: `/value/${i}`, record }));
    }
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const view = viewOf(record);
    const kind = kindOf(view);
    if (kind === undefined) {
      const what = view.table ?? text(record.category) ?? str(record.operationName);
      const reason = what ? `not an Entra ID sign-in or audit record (category ${JSON.stringify(what.slice(0, 64))})` : 'not an Entra ID sign-in or audit record';
      // An Activity Log record in the same Event Hub capture: say where it belongs.
      const rid = str(record.resourceId);
      const activity = (what !== undefined && ACTIVITY_LOG_CATEGORIES.has(what)) || (rid !== undefined && SUBSCRIPTION_RESOURCE_RE.test(rid));
      return { ok: false, reason: activity ? `${reason}: an Azure Activity Log record, ingest it with --source azure_activity` : reason };
    }
    return kind === 'audit' ? audit(view) : signIn(view, kind);
  },
};
