import type { ActorType, Category, Outcome } from '../../model/enums.js';
import type { EventDraft } from '../../model/event.js';
import { arr, at, compact, isObj, obj, str, text, type Obj, type ParseResult, type SourceParser, type SplitRecord } from '../source.js';
import { eventTime, ipOnly } from './cloud-common.js';

/**
 * Google Workspace Admin SDK Reports API activities (login, admin, token, drive, saml,
 * user_accounts, ...): `activities.list` pages (`{"kind":"admin#reports#activities","items":[...]}`),
 * single activities one per line or in arrays, and the one-event-per-record form SIEM pipelines
 * write (the event's `type`, `name` and `parameters` as an object at the top level).
 *
 * An activity holds one or more events. custody writes one row per event: the row's source_ref
 * points at the event (`#/events/<i>`, or `#/items/<j>/events/<i>`), every row of an activity
 * shares its source_event_id (id.uniqueQualifier), and attrs.event_index/event_count say where
 * the event sits. So "records" for the accounting of a file are events: an activity with three
 * events is three records; an activity with none is one record, quarantined.
 */

/** One event of an activity, handed from split() to parse(). Evidence JSON cannot produce this class. */
class ActivityEvent {
  constructor(
    readonly activity: Obj,
    readonly event: unknown,
    readonly index: number,
    readonly count: number,
  ) {}

  /** What a quarantine note shows: the event itself (its pointer locates the activity). */
  toJSON(): unknown {
    return this.event;
  }
}

const LOGIN_APPS = new Set(['login', 'saml']);
const WARNING_RE = /warning|suspicious|attack|leak|disabled_spamming|hijack/i;
const USER_CREDENTIAL_EVENTS = new Set([
  'password_edit',
  '2sv_enroll',
  '2sv_disable',
  'titanium_enroll',
  'titanium_unenroll',
  'recovery_email_edit',
  'recovery_phone_edit',
  'recovery_secret_qa_edit',
  'passkey_enrolled',
  'passkey_removed',
]);
/** Admin events granting or removing domain-wide delegation to an API client. */
const ADMIN_API_CLIENT_GRANT = 'AUTHORIZE_API_CLIENT_ACCESS';
const ADMIN_API_CLIENT_REVOKE = 'REMOVE_API_CLIENT_ACCESS';
/** Parameters naming what an event acted on, in order of preference. */
const TARGET_PARAMS = [
  'doc_id',
  'USER_EMAIL',
  'GROUP_EMAIL',
  'target_user',
  'affected_email_address',
  'API_CLIENT_NAME',
  'DOMAIN_NAME',
  'APPLICATION_NAME',
  'SETTING_NAME',
  'ROLE_NAME',
  'resource_name',
  'application_name',
  'calendar_id',
  'device_id',
  'email_forwarding_destination_address',
];

function looksLikeActivity(v: unknown): boolean {
  if (!isObj(v)) return false;
  const id = obj(v.id);
  if (!id || typeof id.applicationName !== 'string') return false;
  return v.kind === 'admin#reports#activity' || Array.isArray(v.events) || isObj(v.actor) || typeof v.name === 'string' || typeof v.type === 'string';
}

function isActivityList(v: unknown): v is Obj & { items: unknown[] } {
  return isObj(v) && v.kind === 'admin#reports#activities' && Array.isArray(v.items);
}

function eventsOf(activity: unknown, base: string): SplitRecord[] {
  if (!isObj(activity) || !Array.isArray(activity.events) || activity.events.length === 0) return [{ pointer: base, record: activity }];
  const events = activity.events;
  return events.map((e, i) => ({ pointer: `${base}/events/${i}`, record: new ActivityEvent(activity, e, i, events.length) }));
}

/** A Reports API parameter's value, whichever of its typed fields carries it. */
function paramValue(p: Obj): unknown {
  if ('value' in p) return p.value;
  if ('boolValue' in p) return p.boolValue;
  if ('intValue' in p) return p.intValue;
  if ('multiValue' in p) return p.multiValue;
  if ('multiIntValue' in p) return p.multiIntValue;
  if ('messageValue' in p) return paramsOf(at(p, 'messageValue', 'parameter'));
  if ('multiMessageValue' in p) return arr(p.multiMessageValue).map((m) => paramsOf(at(m, 'parameter')));
  return null;
}

/** Parameters as an object: the API's [{name, value|intValue|...}] list, or an object already. */
function paramsOf(v: unknown): Obj {
  if (isObj(v)) return v;
  const out: Obj = {};
  for (const p of arr(v)) {
    if (!isObj(p)) continue;
    const name = str(p.name);
    if (name) out[name] = paramValue(p);
  }
  return out;
}

function paramText(params: Obj, name: string): string | undefined {
  const v = params[name];
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.length === 1 ? text(v[0]) : undefined;
  return undefined;
}

function outcomeOf(app: string, type: string | undefined, name: string, params: Obj): { outcome: Outcome; reason?: string } {
  if (type === 'account_warning' || WARNING_RE.test(name)) return { outcome: 'unknown' };
  if (name === 'login_failure') {
    const why = paramText(params, 'login_failure_type') ?? paramText(params, 'failure_type') ?? paramText(params, 'saml_status_code');
    return { outcome: 'failure', reason: why };
  }
  if (name === 'login_challenge' || name === 'login_verification') {
    const status = paramText(params, 'login_challenge_status');
    if (status && /fail/i.test(status)) return { outcome: 'failure', reason: status };
    return { outcome: status ? 'success' : 'unknown' };
  }
  if (app === 'saml') {
    const code = paramText(params, 'saml_status_code');
    if (code && !code.startsWith('SUCCESS')) return { outcome: 'failure', reason: [code, paramText(params, 'saml_second_level_status_code')].filter(Boolean).join(': ') };
  }
  // The Reports API records completed actions.
  return { outcome: 'success' };
}

function actorOf(actor: Obj | undefined): { id?: string; type?: ActorType } {
  if (!actor) return {};
  const email = str(actor.email);
  const callerType = str(actor.callerType);
  if (callerType === 'KEY' && !email) return { id: str(actor.key) ?? str(actor.profileId), type: 'api_key' };
  if (email) return { id: email, type: email.endsWith('.gserviceaccount.com') ? 'service_account' : 'human' };
  const profile = str(actor.profileId);
  return profile ? { id: profile, type: 'unknown' } : {};
}

export const gworkspace: SourceParser = {
  name: 'gworkspace',
  title: 'Google Workspace',
  format: 'json',

  detect(sample) {
    if (isActivityList(sample)) return sample.items.length === 0 || looksLikeActivity(sample.items[0]);
    if (Array.isArray(sample)) return sample.length > 0 && looksLikeActivity(sample[0]);
    return looksLikeActivity(sample);
  },

  split(value): SplitRecord[] | null {
    if (isActivityList(value)) return value.items.flatMap((a, j) => eventsOf(a, `/items/${j}`));
    if (Array.isArray(value)) return value.flatMap((a, j) => eventsOf(a, `/${j}`));
    if (isObj(value) && Array.isArray(value.events) && value.events.length > 0) return eventsOf(value, '');
    return null;
  },

  parse(record): ParseResult {
    let activity: Obj;
    let event: Obj;
    let index: number | undefined;
    let count: number | undefined;
    if (record instanceof ActivityEvent) {
      if (!isObj(record.event)) return { ok: false, reason: 'activity event is not a JSON object' };
      activity = record.activity;
      event = record.event;
      index = record.index;
      count = record.count;
    } else if (isObj(record)) {
      if (Array.isArray(record.events)) return { ok: false, reason: 'Workspace activity without events' };
      // One event per record: type, name and parameters beside id and actor.
      activity = record;
      event = record;
    } else return { ok: false, reason: 'not a JSON object' };

    const id = obj(activity.id);
    const app = str(id?.applicationName);
    if (!app) return { ok: false, reason: 'not a Workspace activity: no id.applicationName' };
    const timeText = str(id?.time);
    if (!timeText) return { ok: false, reason: 'no id.time' };
    const t = eventTime(timeText, 'id.time');
    if ('error' in t) return { ok: false, reason: t.error };
    const name = str(event.name)?.trim();
    if (!name) return { ok: false, reason: 'Workspace event without a name' };

    const type = str(event.type);
    const params = event.parameters === undefined || event.parameters === null ? {} : paramsOf(event.parameters);
    const actor = obj(activity.actor);
    const who = actorOf(actor);
    const { outcome, reason } = outcomeOf(app, type, name, params);

    let category: Category = 'api';
    let issued: Pick<EventDraft, 'issued_credential_type' | 'issued_to'> = {};
    let target: string | undefined;
    if (app === 'token') {
      const clientId = paramText(params, 'client_id');
      const appName = paramText(params, 'app_name');
      target = appName ?? clientId;
      if (name === 'authorize' || name === 'revoke') category = 'credential';
      if (name === 'authorize' && outcome === 'success') issued = { issued_credential_type: 'oauth_token', issued_to: clientId ?? appName ?? null };
    } else if (app === 'admin' && (name === ADMIN_API_CLIENT_GRANT || name === ADMIN_API_CLIENT_REVOKE)) {
      category = 'credential';
      const client = paramText(params, 'API_CLIENT_NAME');
      if (name === ADMIN_API_CLIENT_GRANT) issued = { issued_credential_type: 'domain_wide_delegation', issued_to: client ?? null };
    } else if (app === 'user_accounts' && USER_CREDENTIAL_EVENTS.has(name)) {
      category = 'credential';
    } else if (LOGIN_APPS.has(app) && (type === 'login' || type === 'account_warning' || name.startsWith('login') || name === 'logout')) {
      category = 'auth';
    }
    if (!target) for (const p of TARGET_PARAMS) if ((target = paramText(params, p))) break;

    const ipText = str(activity.ipAddress);
    const ip = ipOnly(ipText);
    const scopes = params.scope;
    const appInfo = obj(actor?.applicationInfo);
    const draft: EventDraft = {
      source_event_id: text(id?.uniqueQualifier) ?? null,
      time: t.ns,
      host: str(id?.customerId) ?? null,
      category,
      action: `${app}:${name}`,
      outcome,
      target: target ?? null,
      reason: reason ?? null,
      actor_id: who.id ?? null,
      actor_type: who.type ?? null,
      actor_name: str(actor?.email) ?? who.id ?? null,
      src_ip: ip ?? null,
      ...issued,
      attrs: compact({
        application: app,
        event_type: type,
        event_index: count !== undefined && count > 1 ? index : undefined,
        event_count: count !== undefined && count > 1 ? count : undefined,
        profile_id: str(actor?.profileId),
        caller_type: str(actor?.callerType),
        actor_key: str(actor?.key),
        oauth_client_id: str(appInfo?.oauthClientId),
        oauth_app_name: str(appInfo?.applicationName),
        impersonation: typeof appInfo?.impersonation === 'boolean' ? appInfo.impersonation : undefined,
        owner_domain: str(activity.ownerDomain),
        ip_text: ipText && !ip ? ipText : undefined,
        scopes: app === 'token' && Array.isArray(scopes) ? scopes.filter((s) => typeof s === 'string') : undefined,
        parameters: Object.keys(params).length > 0 ? params : undefined,
      }),
    };
    return { ok: true, event: draft };
  },
};
