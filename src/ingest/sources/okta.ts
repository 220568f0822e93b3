import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { parseTimeNs } from '../../model/time.js';
import { arr, compact, isObj, num, obj, str, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';

/**
 * Okta System Log (LogEvent objects, https://developer.okta.com/docs/reference/api/system-log/):
 *  - one event per line (SIEM exports, Panther/Elastic pipelines),
 *  - the API's response body (a JSON array of LogEvents),
 *  - Event Hook deliveries (`{"eventType":"com.okta.event_hook","data":{"events":[...]}}`).
 * Some pipelines lower-case every key (`eventtype`, `authenticationcontext`); those records are read
 * the same way and marked `attrs.lowercased_keys`. Keys a pipeline adds (Panther's `p_*`) are not
 * Okta fields: they are listed in `attrs.enrichment_keys` and only `p_event_time` is used, as the
 * time of a record that lost its `published`.
 */

/** Event types that hand out a credential (DESIGN.md rule 3) and what they hand out. */
const API_TOKEN_CREATE = 'system.api_token.create';
const SESSION_START = 'user.session.start';
/** A secret or JSON Web Key added to (or re-activated on) an OAuth client. */
const CLIENT_CREDENTIAL_RE = /^app\.oauth2\.credentials\.lifecycle\.(create|activate)$/;
/** A new OAuth client (service app): its client id is the credential later token grants present. */
const CLIENT_CREATE = 'app.oauth2.client.lifecycle.create';
/** Access, ID and refresh tokens minted by the org or a custom authorization server. */
const TOKEN_GRANT_RE = /^app\.oauth2\.(as\.)?token\.grant(\.|$)/;
/** Credential lifecycle without issuance: revocation, reading a secret back, factor and password changes. */
const CREDENTIAL_RE =
  /^(system\.api_token\.|app\.oauth2\.credentials\.|app\.oauth2\.client\.read_client_secret|app\.oauth2\.(as\.)?token\.revoke|user\.mfa\.factor\.|user\.account\.(reset|update)_password|application\.user_membership\.show_password|user\.credential\.)/;
const AUTH_RE = /^(user\.session\.|user\.authentication\.|app\.oauth2\.(as\.)?authorize|app\.oauth2\.(as\.)?signon|user\.account\.lock)/;
const POLICY_RE = /^policy\.evaluate_/;

const EVENT_TYPE_RE = /^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$/;
const IP_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:.]*$/;
/** Client app actors (OAuth clients, app instances): non-human. */
const CLIENT_ACTOR_TYPES = new Set(['PublicClientApp', 'AppInstance', 'Client', 'ClientApp', 'OAuth2Client']);
/** Target types that name an OAuth client or app. */
const APP_TARGET_TYPES = new Set(['AppInstance', 'PublicClientApp', 'Client', 'ClientApp', 'OAuth2Client']);
/** Values Okta (and its exporters) write where it has nothing. */
const PLACEHOLDER = new Set(['unknown', 'null', 'none', 'redacted']);

/** Key lookup that also finds the lower-cased key some pipelines write. */
function pick(rec: Obj, key: string, seen?: { lower: boolean }): unknown {
  if (key in rec) return rec[key];
  const lower = key.toLowerCase();
  if (lower !== key && lower in rec) {
    if (seen) seen.lower = true;
    return rec[lower];
  }
  return undefined;
}

function real(v: unknown): string | undefined {
  const s = str(v);
  return s && !PLACEHOLDER.has(s.toLowerCase()) ? s : undefined;
}

function looksLikeEvent(v: unknown): boolean {
  if (!isObj(v)) return false;
  const type = str(pick(v, 'eventType'));
  if (!type || !EVENT_TYPE_RE.test(type) || type === 'com.okta.event_hook') return false;
  const hasId = typeof pick(v, 'published') === 'string' || typeof v.uuid === 'string';
  const actor = obj(v.actor);
  const oktaShape =
    (actor !== undefined && (typeof actor.type === 'string' || typeof actor.alternateId === 'string')) ||
    typeof pick(v, 'legacyEventType') === 'string' ||
    typeof pick(v, 'displayMessage') === 'string' ||
    isObj(pick(v, 'authenticationContext'));
  return hasId && oktaShape;
}

function isHook(v: unknown): v is Obj {
  return isObj(v) && v.eventType === 'com.okta.event_hook' && Array.isArray(at2(v, 'data', 'events'));
}

function at2(v: Obj, a: string, b: string): unknown {
  const x = obj(v[a]);
  return x ? x[b] : undefined;
}

function actorType(type: string | undefined): ActorType {
  if (type === 'User') return 'human';
  if (type === 'SystemPrincipal') return 'agent';
  if (type && CLIENT_ACTOR_TYPES.has(type)) return 'service_account';
  if (type === 'Token') return 'api_key';
  return 'unknown';
}

function outcomeOf(result: string | undefined): Outcome {
  switch (result?.toUpperCase()) {
    case 'SUCCESS':
      return 'success';
    case 'FAILURE':
      return 'failure';
    case 'DENY':
      return 'denied';
    case 'ALLOW':
      return 'allowed';
    default:
      // CHALLENGE (a factor was asked for; the action is not complete), SKIPPED, UNKNOWN
      return 'unknown';
  }
}

interface Target {
  id?: string;
  type?: string;
  alternateId?: string;
  displayName?: string;
  detail?: Obj;
}

function targetsOf(v: unknown): Target[] {
  return arr(v)
    .filter(isObj)
    .map((t) => ({ id: str(t.id), type: str(t.type), alternateId: str(t.alternateId), displayName: str(t.displayName), detail: obj(t.detailEntry) }));
}

function label(t: Target | undefined): string | undefined {
  if (!t) return undefined;
  return real(t.alternateId) ?? t.displayName ?? t.id;
}

type Issued = Pick<EventDraft, 'issued_credential_id' | 'issued_credential_type' | 'issued_credential_expires' | 'issued_to'>;

function issuedOf(eventType: string, outcome: Outcome, actorId: string | undefined, sessionId: string | undefined, targets: Target[]): Issued {
  if (outcome === 'failure' || outcome === 'denied') return {};
  if (eventType === SESSION_START) {
    return sessionId && outcome === 'success' ? { issued_credential_id: sessionId, issued_credential_type: 'okta_session', issued_to: actorId ?? null } : {};
  }
  if (eventType === API_TOKEN_CREATE) {
    // The token acts with its creator's permissions: the creator is who it was issued to.
    const token = targets.find((t) => t.type === 'Token');
    return { issued_credential_id: token?.id ?? null, issued_credential_type: 'okta_api_token', issued_to: actorId ?? null };
  }
  const app = targets.find((t) => t.type && APP_TARGET_TYPES.has(t.type));
  // The client, named the way it is named when it acts (actor_id of its token grants).
  const holder = app ? (real(app.alternateId) ?? app.id) : label(targets[0]);
  if (eventType === CLIENT_CREATE) {
    return { issued_credential_id: app?.id ?? null, issued_credential_type: 'okta_oauth_client', issued_to: holder ?? null };
  }
  if (CLIENT_CREDENTIAL_RE.test(eventType)) {
    const secret = targets.find((t) => t !== app && t.id);
    return { issued_credential_id: secret?.id ?? null, issued_credential_type: 'okta_client_secret', issued_to: holder ?? null };
  }
  if (TOKEN_GRANT_RE.test(eventType)) {
    const token = targets.find((t) => /token/i.test(t.type ?? ''));
    const expires = str(token?.detail?.expires);
    return {
      issued_credential_id: token?.id ?? null,
      issued_credential_type: token?.type ? `okta_${token.type.toLowerCase()}` : 'okta_oauth_token',
      issued_credential_expires: expires ? parseTimeNs(expires) : null,
      issued_to: str(token?.detail?.subject) ?? actorId ?? null,
    };
  }
  return {};
}

function categoryOf(eventType: string): Category {
  if (eventType === API_TOKEN_CREATE || eventType === CLIENT_CREATE || CLIENT_CREDENTIAL_RE.test(eventType) || TOKEN_GRANT_RE.test(eventType)) return 'credential';
  if (POLICY_RE.test(eventType)) return 'policy';
  if (AUTH_RE.test(eventType)) return 'auth';
  if (CREDENTIAL_RE.test(eventType)) return 'credential';
  return 'api';
}

/** The request path without its query string (queries carry state tokens). */
function pathOnly(uri: string | undefined): string | undefined {
  return uri?.split('?')[0] || undefined;
}

export const okta: SourceParser = {
  name: 'okta',
  title: 'Okta System Log',
  format: 'json',

  detect(sample) {
    if (isHook(sample)) return true;
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeEvent(sample[0]);
    return looksLikeEvent(sample);
  },

  split(value): SplitRecord[] | null {
    if (isHook(value)) return arr(at2(value, 'data', 'events')).map((record, i) => ({ pointer: `/data/events/${i}`, record }));
    if (Array.isArray(value)) return value.map((record, i) => ({ pointer: `/${i}`, record }));
    return null;
  },

  parse(record): ParseResult {
    if (!isObj(record)) return { ok: false, reason: 'not a JSON object' };
    const rec = record;
    const keys = { lower: false };
    const eventType = str(pick(rec, 'eventType', keys));
    if (!eventType) return { ok: false, reason: 'not an Okta System Log event: no eventType' };
    const published = str(pick(rec, 'published', keys));
    const pTime = str(rec.p_event_time);
    const timeText = published ?? pTime;
    if (!timeText) return { ok: false, reason: 'no published time (a partial Okta event: every LogEvent carries one)' };
    const time = parseTimeNs(timeText);
    if (time === null) return { ok: false, reason: `${published ? 'published' : 'p_event_time'} is not a timestamp: ${JSON.stringify(timeText.slice(0, 64))}` };

    const actor = obj(rec.actor);
    const rawActorType = str(actor?.type);
    const actorId = real(actor?.alternateId) ?? str(actor?.id);
    const client = obj(rec.client);
    const authCtx = obj(pick(rec, 'authenticationContext', keys));
    const outcomeObj = obj(rec.outcome);
    const result = str(outcomeObj?.result);
    const outcome = outcomeOf(result);
    const outcomeReason = str(outcomeObj?.reason);
    const transaction = obj(rec.transaction);
    const txDetail = obj(transaction?.detail);
    const debugData = obj(pick(obj(pick(rec, 'debugContext', keys)) ?? {}, 'debugData'));
    const security = obj(pick(rec, 'securityContext', keys));
    const geo = obj(client?.geographicalContext);
    const targets = targetsOf(rec.target);

    const sessionId = real(authCtx?.externalSessionId);
    const apiTokenId = str(txDetail?.requestApiTokenId);
    const clientActor = rawActorType !== undefined && CLIENT_ACTOR_TYPES.has(rawActorType);
    let credentialId: string | undefined;
    let credentialType: string | undefined;
    if (apiTokenId) {
      credentialId = apiTokenId;
      credentialType = 'okta_api_token';
    } else if (sessionId) {
      credentialId = sessionId;
      credentialType = 'okta_session';
    } else if (clientActor && str(actor?.id)) {
      credentialId = str(actor?.id);
      credentialType = 'okta_oauth_client';
    }

    const ip = str(client?.ipAddress);
    const ipChain = arr(obj(rec.request)?.ipChain)
      .map((x) => str(obj(x)?.ip))
      .filter((x): x is string => Boolean(x));
    const enrichment = Object.keys(rec).filter((k) => k.startsWith('p_'));
    const issued = issuedOf(eventType, outcome, actorId, sessionId, targets);

    const event: EventDraft = {
      source_event_id: real(rec.uuid) ?? null,
      time,
      category: categoryOf(eventType),
      action: `okta:${eventType}`,
      outcome,
      target: label(targets[0]) ?? null,
      reason: outcomeReason ?? (result && outcome !== 'success' ? result : null),
      actor_id: actorId ?? null,
      actor_type: actor ? actorType(rawActorType) : null,
      actor_name: real(actor?.displayName) ?? null,
      credential_id: credentialId ?? null,
      credential_type: credentialType ?? null,
      credential_issuer: str(obj(authCtx?.issuer)?.id) ?? null,
      src_ip: ip && IP_RE.test(ip) ? ip : null,
      user_agent: str(obj(client?.userAgent)?.rawUserAgent) ?? null,
      ...issued,
      attrs: compact({
        event_type: eventType,
        legacy_event_type: str(pick(rec, 'legacyEventType', keys)),
        display_message: str(pick(rec, 'displayMessage', keys)),
        severity: str(rec.severity),
        outcome_result: result,
        okta_actor_id: str(actor?.id),
        okta_actor_type: rawActorType,
        transaction_id: real(transaction?.id),
        transaction_type: str(transaction?.type),
        external_session_id: sessionId && credentialId !== sessionId ? sessionId : undefined,
        authentication_provider: str(authCtx?.authenticationProvider),
        credential_provider: str(authCtx?.credentialProvider),
        authn_credential_type: str(authCtx?.credentialType),
        authn_interface: str(authCtx?.interface),
        client_id: str(client?.id),
        client_device: str(client?.device),
        client_zone: real(client?.zone),
        source_address: ip && !IP_RE.test(ip) ? ip : undefined,
        ip_chain: ipChain.length > 1 ? ipChain : undefined,
        geo: geo ? compact({ city: str(geo.city), state: str(geo.state), country: str(geo.country) }) : undefined,
        as_org: str(security?.asOrg),
        as_number: num(security?.asNumber),
        isp: str(security?.isp),
        domain: str(security?.domain),
        is_proxy: typeof security?.isProxy === 'boolean' ? security.isProxy : undefined,
        request_uri: pathOnly(real(debugData?.requestUri)),
        request_id: real(debugData?.requestId),
        threat_suspected: str(debugData?.threatSuspected),
        risk: str(debugData?.risk),
        behaviors: str(debugData?.behaviors),
        grant_type: str(debugData?.grantType),
        granted_scopes: str(debugData?.grantedScopes),
        privilege_granted: str(debugData?.privilegeGranted),
        targets: targets.length
          ? targets.slice(0, 10).map((t) => compact({ type: t.type, id: t.id, alternate_id: t.alternateId, display_name: t.displayName }))
          : undefined,
        enrichment_keys: enrichment.length ? enrichment : undefined,
        time_field: published ? undefined : 'p_event_time',
        lowercased_keys: keys.lower || undefined,
      }),
    };
    return { ok: true, event };
  },
};
