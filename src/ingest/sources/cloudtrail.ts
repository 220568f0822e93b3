import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, at, compact, isObj, obj, str, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';

/**
 * AWS CloudTrail, in the shapes users have it:
 *  - S3 delivery files `{"Records":[...]}` (.json / .json.gz, whole AWSLogs/ trees),
 *  - one record per line (CloudWatch Logs export, Logstash/OTRF pipelines with `@timestamp`),
 *  - `aws cloudtrail lookup-events` output as JSON Lines (`EventId`, `EventTime`, and the
 *    record as a JSON string in `CloudTrailEvent`),
 *  - exported JSON arrays.
 * Digest files (`digestStartTime`, `logFiles`) are recognized and hold no events.
 */

/** STS and IAM calls that hand out a credential (DESIGN.md rule 3, issuance → use). */
const ISSUING = new Set([
  'AssumeRole',
  'AssumeRoleWithWebIdentity',
  'AssumeRoleWithSAML',
  'AssumeRoot',
  'GetSessionToken',
  'GetFederationToken',
  'CreateAccessKey',
  'GetRoleCredentials',
]);

const AUTH_EVENTS = new Set(['ConsoleLogin', 'CheckMfa', 'SwitchRole', 'ExitRole', 'RenewRole', 'CredentialChallenge', 'CredentialVerification', 'UserAuthentication', 'Federate']);

const DENIED_RE = /AccessDenied|Unauthorized|Forbidden|NotAuthorized|InvalidClientTokenId|ExpiredToken|SignatureDoesNotMatch/i;

const IP_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;

const K8S_SA_RE = /^system:serviceaccount:([^:]+):([^:]+)$/;

function looksLikeRecord(v: unknown): boolean {
  if (!isObj(v)) return false;
  if (typeof v.CloudTrailEvent === 'string' || isObj(v.CloudTrailEvent)) return true;
  if (typeof v.eventVersion === 'string' && (typeof v.eventSource === 'string' || typeof v.eventType === 'string')) return true;
  return typeof v.eventName === 'string' && typeof v.eventSource === 'string' && (isObj(v.userIdentity) || typeof v.eventTime === 'string');
}

function isDigest(v: unknown): boolean {
  return isObj(v) && typeof v.digestStartTime === 'string' && Array.isArray(v.logFiles);
}

/** CloudTrail writes STS expirations like "Sep 14, 2020, 7:01:26 AM" (UTC); newer records use ISO 8601. */
const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
const CT_EXPIRY_RE = /^([A-Z][a-z]{2}) (\d{1,2}), (\d{4}),? (\d{1,2}):(\d{2}):(\d{2})\s?(AM|PM)$/;

export function parseCloudTrailExpiry(value: unknown): bigint | null {
  if (typeof value === 'number' && Number.isFinite(value)) return BigInt(Math.round(value)) * 1_000_000n;
  const s = str(value);
  if (!s) return null;
  const m = CT_EXPIRY_RE.exec(s.trim());
  if (m) {
    const month = MONTHS[m[1]!];
    if (month === undefined) return null;
    let hour = Number(m[4]) % 12;
    if (m[7] === 'PM') hour += 12;
    const ms = Date.UTC(Number(m[3]), month, Number(m[2]), hour, Number(m[5]), Number(m[6]));
    return Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : null;
  }
  return parseTimeNs(s);
}

function keyType(key: string): string {
  if (key.startsWith('ASIA')) return 'aws_session_key';
  if (key.startsWith('AKIA')) return 'aws_access_key';
  return 'aws_key';
}

interface Actor {
  id?: string;
  type?: ActorType;
  name?: string;
  sessionIssuer?: string;
  credentialIssuer?: string;
  credentialType?: string;
}

function actorOf(ui: Obj | undefined, resp: Obj | undefined): Actor {
  if (!ui) return {};
  const type = str(ui.type);
  const arn = str(ui.arn);
  const issuer = str(at(ui, 'sessionContext', 'sessionIssuer', 'arn'));
  const key = str(ui.accessKeyId);
  switch (type) {
    case 'AssumedRole': {
      const parts = arn?.split(':assumed-role/')[1];
      return { id: arn ?? str(ui.principalId), type: 'role_session', name: parts ?? str(ui.principalId), sessionIssuer: issuer, credentialIssuer: issuer };
    }
    case 'IAMUser': {
      const console = ui.invokedBy === 'signin.amazonaws.com' || (key?.startsWith('ASIA') ?? false);
      return { id: arn ?? str(ui.principalId), type: console ? 'human' : 'api_key', name: str(ui.userName) ?? arn?.split(':user/')[1] };
    }
    case 'Root':
      return { id: arn ?? `aws:root:${text(ui.accountId) ?? '?'}`, type: 'human', name: 'root' };
    case 'FederatedUser':
      return { id: arn ?? str(ui.principalId), type: 'role_session', name: arn?.split(':federated-user/')[1], sessionIssuer: issuer, credentialIssuer: issuer };
    case 'WebIdentityUser': {
      const subject = str(resp?.subjectFromWebIdentityToken) ?? str(ui.userName) ?? str(ui.principalId);
      const isSa = subject ? K8S_SA_RE.test(subject) : false;
      return { id: subject, type: isSa ? 'service_account' : 'unknown', name: subject, credentialIssuer: str(ui.identityProvider), credentialType: 'oidc_token' };
    }
    case 'SAMLUser':
      return { id: str(ui.userName) ?? str(ui.principalId), type: 'human', name: str(ui.userName), credentialIssuer: str(ui.identityProvider), credentialType: 'saml_assertion' };
    case 'AWSService':
      return { id: str(ui.invokedBy) ?? 'aws-service', type: 'agent', name: str(ui.invokedBy) };
    case 'IdentityCenterUser':
      return { id: arn ?? str(ui.userId), type: 'human', name: str(ui.userName) ?? str(ui.userId) };
    case 'AWSAccount':
      return { id: str(ui.principalId) ?? text(ui.accountId), type: 'unknown', name: text(ui.accountId) };
    default: {
      const id = arn ?? str(ui.principalId) ?? str(ui.userName) ?? str(ui.invokedBy);
      return { id, type: id ? 'unknown' : undefined, name: str(ui.userName) ?? str(ui.invokedBy) };
    }
  }
}

const TARGET_KEYS = ['roleArn', 'userName', 'roleName', 'groupName', 'policyArn', 'functionName', 'secretId', 'name', 'tableName', 'keyId', 'instanceId', 'trailName', 'clusterName', 'bucketName'];

function targetOf(service: string, eventName: string, req: Obj | undefined, resources: unknown[]): string | undefined {
  if (service === 's3' && req) {
    const bucket = str(req.bucketName);
    const key = str(req.key);
    if (bucket) return key ? `s3://${bucket}/${key}` : `s3://${bucket}`;
  }
  if (eventName.startsWith('AssumeRole') && req) {
    const role = str(req.roleArn);
    if (role) return role;
  }
  for (const r of resources) {
    const a = str(at(r, 'ARN')) ?? str(at(r, 'arn'));
    if (a) return a;
  }
  if (req) {
    for (const k of TARGET_KEYS) {
      const v = str(req[k]);
      if (v) return v;
    }
    const inst = str(at(arr(at(req, 'instancesSet', 'items'))[0], 'instanceId'));
    if (inst) return inst;
  }
  return undefined;
}

/**
 * The assumed-role session ARN STS gives a session, for records that omit assumedRoleUser
 * (EC2 role delivery): arn:aws:iam::ACCT:role/[path/]NAME + session → arn:aws:sts::ACCT:assumed-role/NAME/SESSION.
 */
export function sessionArnOf(req: Obj | undefined): string | undefined {
  const role = str(req?.roleArn);
  const session = str(req?.roleSessionName);
  const m = role ? /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(role) : null;
  if (!m || !session) return undefined;
  return `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${session}`;
}

function issuedOf(eventName: string, ui: Obj | undefined, resp: Obj | undefined, req: Obj | undefined): Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'> {
  if (!ISSUING.has(eventName) || !resp) return {};
  if (eventName === 'CreateAccessKey') {
    const ak = obj(resp.accessKey);
    const id = str(ak?.accessKeyId);
    if (!id) return {};
    const user = str(ak?.userName);
    const account = text(ui?.accountId);
    return { issued_credential_id: id, issued_credential_type: keyType(id), issued_to: user && account ? `arn:aws:iam::${account}:user/${user}` : user ?? null };
  }
  const creds = obj(resp.credentials) ?? obj(resp.roleCredentials);
  const id = str(creds?.accessKeyId);
  if (!id) return {};
  const to = str(at(resp, 'assumedRoleUser', 'arn')) ?? str(at(resp, 'federatedUser', 'arn')) ?? sessionArnOf(req) ?? str(ui?.arn);
  return { issued_credential_id: id, issued_credential_type: keyType(id), issued_credential_expires: parseCloudTrailExpiry(creds?.expiration), issued_to: to ?? null };
}

function outcomeOf(rec: Obj): { outcome: Outcome; reason?: string } {
  const code = str(rec.errorCode);
  const msg = str(rec.errorMessage);
  if (code) return { outcome: DENIED_RE.test(code) ? 'denied' : 'failure', reason: msg ? `${code}: ${msg}` : code };
  const login = str(at(rec, 'responseElements', 'ConsoleLogin'));
  if (login === 'Failure') return { outcome: 'failure', reason: msg ?? 'ConsoleLogin Failure' };
  return { outcome: 'success' };
}

function unwrap(record: unknown): { rec: Obj; lookup?: Obj } | { error: string } {
  if (!isObj(record)) return { error: 'not a JSON object' };
  const inner = record.CloudTrailEvent;
  if (typeof inner === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(inner);
    } catch (err) {
      return { error: `CloudTrailEvent is not valid JSON: ${(err as Error).message}` };
    }
    if (!isObj(parsed)) return { error: 'CloudTrailEvent is not a JSON object' };
    return { rec: parsed, lookup: record };
  }
  if (isObj(inner)) return { rec: inner, lookup: record };
  return { rec: record };
}

export const cloudtrail: SourceParser = {
  name: 'cloudtrail',
  title: 'AWS CloudTrail',
  format: 'json',

  detect(sample) {
    if (isDigest(sample)) return true;
    if (isObj(sample) && Array.isArray(sample.Records)) return sample.Records.length === 0 || looksLikeRecord(sample.Records[0]);
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeRecord(sample[0]);
    return looksLikeRecord(sample);
  },

  split(value): SplitRecord[] | null {
    if (isDigest(value)) return [];
    if (isObj(value) && Array.isArray(value.Records)) return value.Records.map((record, i) => ({ pointer: `/Records/${i}`, record }));
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    const u = unwrap(record);
    if ('error' in u) return { ok: false, reason: u.error };
    const { rec, lookup } = u;
    const eventType = str(rec.eventType);
    const insight = eventType === 'AwsCloudTrailInsight';
    const eventName = str(rec.eventName) ?? (insight ? str(at(rec, 'insightDetails', 'eventName')) : undefined) ?? str(lookup?.EventName);
    if (!eventName) return { ok: false, reason: 'not a CloudTrail record: no eventName' };
    const timeText = str(rec.eventTime) ?? str(rec['@timestamp']) ?? str(lookup?.EventTime);
    if (!timeText) return { ok: false, reason: 'not a CloudTrail record: no eventTime' };
    const time = parseTimeNs(timeText);
    if (time === null) return { ok: false, reason: `eventTime is not a timestamp: ${JSON.stringify(timeText.slice(0, 64))}` };

    const eventSource = str(rec.eventSource) ?? str(lookup?.EventSource) ?? (insight ? str(at(rec, 'insightDetails', 'eventSource')) : undefined) ?? '';
    const service = eventSource.replace(/\.amazonaws\.com$/, '') || 'aws';
    const ui = obj(rec.userIdentity);
    const resp = obj(rec.responseElements);
    const req = obj(rec.requestParameters);
    const resources = arr(rec.resources);
    const actor = actorOf(ui, resp);
    const key = str(ui?.accessKeyId);
    const { outcome, reason } = outcomeOf(rec);
    const issued = issuedOf(eventName, ui, resp, req);
    const sourceIp = str(rec.sourceIPAddress);

    let category: Category = 'api';
    if (ISSUING.has(eventName)) category = 'credential';
    else if (eventType === 'AwsConsoleSignIn' || AUTH_EVENTS.has(eventName)) category = 'auth';

    let k8sNamespace: string | undefined;
    let k8sSa: string | undefined;
    const sa = actor.type === 'service_account' && actor.id ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(actor.id) : null;
    if (sa) {
      k8sNamespace = sa[1];
      k8sSa = sa[2];
    }

    const event: EventDraft = {
      source_event_id: str(rec.eventID) ?? str(lookup?.EventId) ?? null,
      time,
      host: text(rec.recipientAccountId) ?? text(ui?.accountId) ?? null,
      category,
      action: insight ? `insight:${service}:${eventName}` : `${service}:${eventName}`,
      outcome,
      target: targetOf(service, eventName, req, resources) ?? null,
      reason: reason ?? null,
      actor_id: actor.id ?? null,
      actor_type: actor.type ?? null,
      actor_name: actor.name ?? null,
      credential_id: key ?? null,
      credential_type: key ? keyType(key) : (actor.credentialType ?? null),
      credential_issuer: actor.credentialIssuer ?? null,
      session_issuer: actor.sessionIssuer ?? null,
      k8s_namespace: k8sNamespace ?? null,
      k8s_service_account: k8sSa ?? null,
      src_ip: sourceIp && IP_RE.test(sourceIp) ? sourceIp : null,
      user_agent: str(rec.userAgent) ?? null,
      ...issued,
      attrs: compact({
        event_source: eventSource || undefined,
        event_type: eventType,
        region: str(rec.awsRegion),
        account: text(rec.recipientAccountId),
        read_only: typeof rec.readOnly === 'boolean' ? rec.readOnly : undefined,
        error_code: str(rec.errorCode),
        error_message: str(rec.errorMessage),
        request_id: str(rec.requestID),
        shared_event_id: str(rec.sharedEventID),
        vpc_endpoint_id: str(rec.vpcEndpointId),
        source_address: sourceIp && !IP_RE.test(sourceIp) ? sourceIp : undefined,
        identity_type: str(ui?.type),
        principal_id: str(ui?.principalId),
        identity_arn: str(ui?.arn),
        user_name: str(ui?.userName),
        invoked_by: str(ui?.invokedBy),
        identity_provider: str(ui?.identityProvider),
        session_issuer_type: str(at(ui, 'sessionContext', 'sessionIssuer', 'type')),
        session_issuer_name: str(at(ui, 'sessionContext', 'sessionIssuer', 'userName')),
        session_created: str(at(ui, 'sessionContext', 'attributes', 'creationDate')),
        mfa_authenticated: str(at(ui, 'sessionContext', 'attributes', 'mfaAuthenticated')),
        source_identity: str(at(ui, 'sessionContext', 'sourceIdentity')) ?? str(resp?.sourceIdentity),
        ec2_role_delivery: str(at(ui, 'sessionContext', 'ec2RoleDelivery')),
        federated_provider: str(at(ui, 'sessionContext', 'webIdFederationData', 'federatedProvider')),
        role_arn: str(req?.roleArn),
        role_session_name: str(req?.roleSessionName),
        subject_from_web_identity_token: str(resp?.subjectFromWebIdentityToken),
        audience: str(resp?.audience),
        provider: str(resp?.provider),
        assumed_role_id: str(at(resp, 'assumedRoleUser', 'assumedRoleId')),
        assumed_role_arn: str(at(resp, 'assumedRoleUser', 'arn')),
        resources: resources.length ? resources.map((r) => str(at(r, 'ARN')) ?? str(at(r, 'arn'))).filter(Boolean) : undefined,
        console_login: str(at(rec, 'responseElements', 'ConsoleLogin')),
        lookup_username: str(lookup?.Username),
      }),
    };
    return { ok: true, event };
  },
};
