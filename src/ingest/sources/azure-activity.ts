import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { at, compact, isObj, num, obj, str, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';
import { epochSecondsNs, eventTime, ipAndPort, jsonColumn } from './cloud-common.js';
import { isEntraRecord } from './entra-id.js';

/**
 * Azure Activity Log (and Azure Monitor resource logs that travel with it), in both shapes users
 * have:
 *  - the diagnostic-settings / export schema: `{time, resourceId, operationName, category,
 *    resultType, callerIpAddress, correlationId, identity{authorization, claims}, properties}`,
 *    one record per line or in an Event Hub `{"records":[...]}` batch (storage resource logs such
 *    as StorageRead/StorageWrite share this envelope and are read too);
 *  - the REST / SDK shape (`az monitor activity-log list`, the Python SDK's snake_case `as_dict()`):
 *    `caller`, `claims`, `authorization{action, scope}`, `operationName{value}`, `status{value}`,
 *    `eventTimestamp`, `eventDataId`, ... in camelCase or snake_case, as a list, a `{"value":[...]}`
 *    page or one per line.
 * The token an ARM call presented is named by its `uti` claim (credential_id, type entra_token),
 * the same id an Entra ID sign-in records as uniqueTokenIdentifier when it issued that token.
 */

/** Long-form claim URIs (the short names are used when the token carries them). */
const CLAIM = {
  upn: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn',
  name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  oid: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
  tid: 'http://schemas.microsoft.com/identity/claims/tenantid',
  amr: 'http://schemas.microsoft.com/claims/authnmethodsreferences',
  scope: 'http://schemas.microsoft.com/identity/claims/scope',
} as const;

/** Activity Log categories: a record with one of these is ours even when it carries Entra-looking fields. */
const ACTIVITY_CATEGORIES = new Set(['Administrative', 'ServiceHealth', 'ResourceHealth', 'Alert', 'Autoscale', 'Recommendation', 'Security', 'Policy']);

/** Operations that hand their caller a credential (keys, SAS, cluster credentials, publishing profiles, ...). */
const CREDENTIAL_ACTION_RE =
  /\/(?:listkeys|regeneratekey|listaccountsas|listservicesas|listclusteradmincredential|listclusterusercredential|listclustermonitoringusercredential|listcredentials?|listconnectionstrings|listsecrets|publishxml|listpublishingcredentials|listauthkeys|regenerateauthkey|generatekey|listadminkeys|listquerykeys|getaccesstoken|begingetaccess)\/action$|\/federatedidentitycredentials\/write$/i;
const POLICY_DENY_RE = /\/policies\/deny\/action$/i;
const PROVIDER_RE = /\/providers\/([^/]+)/i;
const SUBSCRIPTION_RE = /^\/subscriptions\/([^/]+)/i;
const DENIED_TEXT_RE = /forbidden|unauthori[sz]ed|authorizationfailed|authenticationfailed|linkedauthorizationfailed|\b40[13]\b/i;
const QUERY_RE = /\?.*$/s;

const SUCCESS = new Set(['success', 'succeeded', 'ok', 'created', 'resolved']);
const FAILURE = new Set(['failed', 'failure', 'canceled', 'cancelled', 'error']);

function isRestShape(v: Obj): boolean {
  const op = v.operationName ?? v.operation_name;
  return isObj(op) && typeof op.value === 'string' && (typeof v.eventTimestamp === 'string' || typeof v.event_timestamp === 'string');
}

function isDiagnosticShape(v: Obj): boolean {
  return typeof v.time === 'string' && typeof v.operationName === 'string' && (typeof v.resourceId === 'string' || typeof v.category === 'string' || typeof v.callerIpAddress === 'string');
}

function looksLikeRecord(v: unknown): boolean {
  if (!isObj(v)) return false;
  if (isRestShape(v)) return true;
  if (!isDiagnosticShape(v)) return false;
  return !isEntraRecord(v) || ACTIVITY_CATEGORIES.has(str(v.category) ?? '');
}

/** A REST/SDK field, camelCase or snake_case. */
function pick(v: Obj, camel: string, snake: string): unknown {
  return v[camel] ?? v[snake];
}

/** `{value, localizedValue}` objects of the REST shape, or plain strings. */
function valueOf(v: unknown): string | undefined {
  return isObj(v) ? str(v.value) : str(v);
}

interface Activity {
  time: string | undefined;
  timeField: string;
  operation: string | undefined;
  logCategory: string | undefined;
  result: string | undefined;
  subStatus: string | undefined;
  resultSignature: string | undefined;
  resultDescription: string | undefined;
  statusCode: number | undefined;
  statusText: string | undefined;
  caller: string | undefined;
  claims: Obj | undefined;
  authz: Obj | undefined;
  ipText: string | undefined;
  correlationId: string | undefined;
  eventDataId: string | undefined;
  resourceId: string | undefined;
  props: Obj | undefined;
  identity: Obj | undefined;
  tenantId: string | undefined;
  subscriptionId: string | undefined;
  extra: Obj;
}

function fromDiagnostic(v: Obj): Activity {
  const identity = obj(v.identity);
  const props = obj(v.properties);
  return {
    time: str(v.time),
    timeField: 'time',
    operation: str(v.operationName),
    logCategory: str(v.category),
    result: str(v.resultType),
    subStatus: str(props?.statusCode),
    resultSignature: text(v.resultSignature),
    resultDescription: str(v.resultDescription),
    statusCode: num(v.statusCode),
    statusText: str(v.statusText),
    caller: str(v.caller) ?? str(props?.caller),
    claims: obj(identity?.claims),
    authz: obj(identity?.authorization),
    ipText: str(v.callerIpAddress),
    correlationId: str(v.correlationId),
    eventDataId: str(v.eventDataId) ?? str(props?.eventDataId),
    resourceId: str(v.resourceId),
    props,
    identity,
    tenantId: str(v.tenantId),
    subscriptionId: undefined,
    extra: compact({ level: str(v.level), location: str(v.location), operation_version: str(v.operationVersion), protocol: str(v.protocol), uri: str(v.uri)?.replace(QUERY_RE, '') }),
  };
}

function fromRest(v: Obj): Activity {
  const http = obj(pick(v, 'httpRequest', 'http_request'));
  const props = obj(v.properties);
  return {
    time: str(pick(v, 'eventTimestamp', 'event_timestamp')),
    timeField: typeof v.eventTimestamp === 'string' ? 'eventTimestamp' : 'event_timestamp',
    operation: valueOf(pick(v, 'operationName', 'operation_name')),
    logCategory: valueOf(v.category),
    result: valueOf(v.status),
    subStatus: valueOf(pick(v, 'subStatus', 'sub_status')) || str(props?.statusCode),
    resultSignature: undefined,
    resultDescription: str(v.description),
    statusCode: undefined,
    statusText: undefined,
    caller: str(v.caller),
    claims: obj(v.claims),
    authz: obj(v.authorization),
    ipText: str(pick(http ?? {}, 'clientIpAddress', 'client_ip_address')),
    correlationId: str(pick(v, 'correlationId', 'correlation_id')),
    eventDataId: str(pick(v, 'eventDataId', 'event_data_id')),
    resourceId: str(pick(v, 'resourceId', 'resource_id')),
    props,
    identity: undefined,
    tenantId: str(pick(v, 'tenantId', 'tenant_id')),
    subscriptionId: str(pick(v, 'subscriptionId', 'subscription_id')),
    extra: compact({
      level: str(v.level),
      event_name: valueOf(pick(v, 'eventName', 'event_name')),
      operation_id: str(pick(v, 'operationId', 'operation_id')),
      resource_group: str(pick(v, 'resourceGroupName', 'resource_group_name')) ?? str(v.resourceGroup),
      resource_type: valueOf(pick(v, 'resourceType', 'resource_type')),
      http_method: str(http?.method),
      client_request_id: str(pick(http ?? {}, 'clientRequestId', 'client_request_id')),
      submission_time: str(pick(v, 'submissionTimestamp', 'submission_timestamp')),
    }),
  };
}

function claim(claims: Obj | undefined, short: string, long?: string): string | undefined {
  if (!claims) return undefined;
  return str(claims[short]) ?? (long ? str(claims[long]) : undefined);
}

interface Actor {
  id?: string;
  type?: ActorType;
  name?: string;
}

/** Who acted: a user (UPN), a service principal or managed identity (object id), from the token claims, else the caller. */
function actorOf(r: Activity): Actor {
  const c = r.claims;
  const upn = claim(c, 'upn', CLAIM.upn) ?? claim(c, 'unique_name');
  const nameClaim = claim(c, 'name', CLAIM.name);
  const email = claim(c, 'email', CLAIM.email);
  const idtyp = claim(c, 'idtyp');
  const appid = claim(c, 'appid') ?? claim(c, 'azp');
  const oid = claim(c, 'oid', CLAIM.oid);
  const mirid = claim(c, 'xms_mirid');
  const caller = r.caller;
  if (mirid) return { id: oid ?? caller ?? appid, type: 'workload', name: mirid.slice(mirid.lastIndexOf('/') + 1) || mirid };
  const userish = [upn, caller, claim(c, CLAIM.name), email].find((x) => x?.includes('@'));
  if (idtyp === 'user' || (idtyp !== 'app' && userish)) {
    const id = upn ?? userish ?? caller ?? oid;
    return { id, type: 'human', name: nameClaim && !nameClaim.includes('@') ? nameClaim : id };
  }
  if (idtyp === 'app' || appid) return { id: oid ?? caller ?? appid, type: 'service_account', name: appid };
  // Storage resource logs: identity.requester names the OAuth caller.
  const requester = obj(r.identity?.requester);
  if (requester) {
    const rupn = str(requester.upn);
    if (rupn) return { id: rupn, type: 'human', name: rupn };
    const robj = str(requester.objectId) ?? str(requester.appId);
    if (robj) return { id: robj, type: 'service_account', name: str(requester.appId) };
  }
  if (email) return { id: email, type: email.includes('@') ? 'human' : 'agent', name: email };
  if (caller) return { id: caller, type: caller.includes('@') ? 'human' : 'unknown', name: caller };
  return {};
}

/** Why an operation failed: the error in properties.statusMessage (a JSON string), else the status texts. Only read on failure. */
function failureDetail(r: Activity): { code?: string; text?: string } {
  const statusMessage = jsonColumn(r.props?.statusMessage);
  const code = str(at(statusMessage, 'error', 'code'));
  const message = str(at(statusMessage, 'error', 'message'));
  return { code, text: [code, message].filter(Boolean).join(': ') || r.resultDescription || r.subStatus || r.statusText };
}

function outcomeOf(r: Activity, action: string): { outcome: Outcome; reason?: string } {
  if (POLICY_DENY_RE.test(action)) return { outcome: 'denied', reason: failureDetail(r).text ?? 'denied by Azure Policy' };
  if (r.statusCode !== undefined) {
    const code = r.statusCode;
    if (code >= 100 && code < 400) return { outcome: 'success' };
    return { outcome: code === 401 || code === 403 ? 'denied' : 'failure', reason: r.statusText ? `${code} ${r.statusText}` : String(code) };
  }
  const result = r.result?.toLowerCase();
  if (!result) {
    // Storage resource logs without statusCode still say how the request ended.
    const metric = str(r.props?.metricResponseType);
    if (!metric) return { outcome: 'unknown' };
    if (metric === 'Success') return { outcome: 'success' };
    return { outcome: metric.startsWith('Authorization') || metric.startsWith('Authentication') ? 'denied' : 'failure', reason: metric };
  }
  if (SUCCESS.has(result)) return { outcome: 'success' };
  if (FAILURE.has(result)) {
    const detail = failureDetail(r);
    const deniedText = [r.subStatus, r.resultSignature, detail.code].some((x) => x !== undefined && DENIED_TEXT_RE.test(x));
    return { outcome: deniedText ? 'denied' : 'failure', reason: detail.text || r.result };
  }
  // Start, Accept, Active, InProgress, Updated: a phase of an operation, not its end.
  return { outcome: 'unknown' };
}

function actionOf(r: Activity): string | undefined {
  const a = str(r.authz?.action) ?? r.operation;
  if (!a) return undefined;
  if (a.includes('/')) return a;
  // Resource-log operations (GetBlob, PutBlob, ...) name no provider: take it from the resource.
  const provider = r.resourceId ? PROVIDER_RE.exec(r.resourceId)?.[1] : r.logCategory?.startsWith('Storage') ? 'Microsoft.Storage' : undefined;
  return `${provider ?? 'azure'}:${a}`;
}

export const azureActivity: SourceParser = {
  name: 'azure_activity',
  title: 'Azure Activity Log',
  format: 'json',

  detect(sample) {
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeRecord(sample[0]);
    if (isObj(sample)) {
      if (Array.isArray(sample.records)) return sample.records.length > 0 && looksLikeRecord(sample.records[0]);
      if (Array.isArray(sample.value)) return sample.value.length > 0 && looksLikeRecord(sample.value[0]);
    }
    return looksLikeRecord(sample);
  },

  split(value): SplitRecord[] | null {
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    if (isObj(value) && typeof value.operationName !== 'string' && !isObj(value.operationName)) {
      if (Array.isArray(value.records)) return value.records.map((record, i) => ({ pointer: `/records/${i}`, record }));
      if (Array.isArray(value.value)) return value.value.map((record, i) => ({ pointer: `/value/${i}`, record }));
    }
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    let r: Activity;
    if (isRestShape(record)) r = fromRest(record);
    else if (isDiagnosticShape(record) || typeof record.operationName === 'string') {
      if (isEntraRecord(record) && !ACTIVITY_CATEGORIES.has(str(record.category) ?? '')) {
        return { ok: false, reason: `an Entra ID record (category ${JSON.stringify((str(record.category) ?? '?').slice(0, 64))}), not Activity Log: ingest it with --source entra_id` };
      }
      r = fromDiagnostic(record);
    } else if (isEntraRecord(record)) {
      return { ok: false, reason: 'an Entra ID record, not Activity Log: ingest it with --source entra_id' };
    } else return { ok: false, reason: 'not an Azure Activity Log record: no operationName' };

    if (!r.time) return { ok: false, reason: `no ${r.timeField}` };
    const t = eventTime(r.time, r.timeField);
    if ('error' in t) return { ok: false, reason: t.error };
    const action = actionOf(r);
    if (!action) return { ok: false, reason: 'not an Azure Activity Log record: no operationName' };

    const actor = actorOf(r);
    const { outcome, reason } = outcomeOf(r, action);
    const c = r.claims;
    const uti = claim(c, 'uti');
    const sasOrKey = str(r.identity?.type);
    let credentialId: string | undefined;
    let credentialType: string | undefined;
    if (uti) {
      credentialId = uti;
      credentialType = 'entra_token';
    } else if (sasOrKey === 'SAS' || sasOrKey === 'AccountKey') {
      credentialId = str(r.identity?.tokenHash);
      credentialType = sasOrKey === 'SAS' ? 'azure_sas' : 'azure_storage_key';
    }

    const addr = ipAndPort(r.ipText);
    const ip = addr.ip ?? ipAndPort(claim(c, 'ipaddr')).ip;
    const credentialOp = CREDENTIAL_ACTION_RE.test(action);
    let category: Category = 'api';
    if (credentialOp) category = 'credential';
    else if (r.logCategory === 'Policy') category = 'policy';
    const props = r.props;
    const objectKey = str(props?.objectKey);
    const evidence = obj(r.authz?.evidence);
    const subscription = r.subscriptionId ?? (r.resourceId ? SUBSCRIPTION_RE.exec(r.resourceId)?.[1] : undefined);

    const event: EventDraft = {
      source_event_id: r.eventDataId ?? null,
      time: t.ns,
      host: subscription ?? r.tenantId ?? null,
      category,
      action,
      outcome,
      target: objectKey ?? r.resourceId ?? str(r.authz?.scope) ?? (typeof r.extra.uri === 'string' ? r.extra.uri : undefined) ?? null,
      reason: reason ?? null,
      actor_id: actor.id ?? null,
      actor_type: actor.type ?? null,
      actor_name: actor.name ?? null,
      credential_id: credentialId ?? null,
      credential_type: credentialType ?? (sasOrKey === 'OAuth' ? 'entra_token' : null),
      credential_issuer: uti ? (claim(c, 'iss') ?? null) : null,
      credential_expires: uti ? epochSecondsNs(claim(c, 'exp')) : null,
      src_ip: ip ?? null,
      src_port: addr.port ?? null,
      user_agent: str(props?.userAgentHeader) ?? null,
      ...(credentialOp && outcome === 'success' ? { issued_credential_type: 'azure_resource_key', issued_to: actor.id ?? null } : {}),
      attrs: compact({
        operation_name: r.operation && r.operation !== action ? r.operation : undefined,
        log_category: r.logCategory,
        result_type: r.result,
        result_signature: r.resultSignature,
        sub_status: r.subStatus,
        status_code: r.statusCode,
        correlation_id: r.correlationId,
        resource_provider: r.resourceId ? PROVIDER_RE.exec(r.resourceId)?.[1] : undefined,
        authorization_scope: str(r.authz?.scope),
        role: str(evidence?.role),
        role_assignment_id: str(evidence?.roleAssignmentId),
        role_assignment_scope: str(evidence?.roleAssignmentScope),
        principal_id: str(evidence?.principalId),
        principal_type: str(evidence?.principalType),
        caller: r.caller && r.caller !== actor.id ? r.caller : undefined,
        app_id: claim(c, 'appid') ?? claim(c, 'azp'),
        object_id: claim(c, 'oid', CLAIM.oid),
        identity_type: claim(c, 'idtyp'),
        managed_identity_resource: claim(c, 'xms_mirid'),
        tenant_id: r.tenantId ?? claim(c, 'tid', CLAIM.tid),
        subscription_id: subscription,
        auth_methods: claim(c, 'amr', CLAIM.amr),
        scope: claim(c, 'scp', CLAIM.scope),
        audience: claim(c, 'aud'),
        token_session_id: claim(c, 'sid'),
        caller_address: r.ipText && !addr.ip ? r.ipText : undefined,
        storage_auth: sasOrKey,
        account_name: str(props?.accountName),
        service_type: str(props?.serviceType),
        response_type: str(props?.metricResponseType),
        entity: str(props?.entity),
        ...r.extra,
      }),
    };
    return { ok: true, event };
  },
};

