import type { ActorType, Category, Outcome } from './enums.js';

/**
 * One normalized row, as parsers produce it and the staging writer serializes it.
 * Times are nanoseconds since the Unix epoch, UTC, as bigint (exact for kernel clocks).
 * Every field except the row identity is optional: a source fills what it knows.
 */
export interface NormalizedEvent {
  event_id: string;
  source_event_id?: string | null;
  time: bigint;
  source: string;
  source_ref: string;
  host?: string | null;

  category: Category;
  action: string;
  outcome: Outcome;
  target?: string | null;
  reason?: string | null;

  actor_id?: string | null;
  actor_type?: ActorType | null;
  actor_name?: string | null;

  credential_id?: string | null;
  credential_type?: string | null;
  credential_expires?: bigint | null;
  credential_issuer?: string | null;

  spiffe_id?: string | null;
  k8s_namespace?: string | null;
  k8s_pod?: string | null;
  k8s_pod_uid?: string | null;
  k8s_service_account?: string | null;
  container_id?: string | null;
  cgroup_id?: bigint | null;
  src_ip?: string | null;
  src_port?: number | null;
  dst_ip?: string | null;
  dst_port?: number | null;
  protocol?: string | null;
  user_agent?: string | null;

  process_key?: string | null;
  pid?: number | null;
  ppid?: number | null;
  parent_key?: string | null;
  uid?: number | null;
  exe?: string | null;
  argv?: string[] | null;
  comm?: string | null;

  issued_credential_id?: string | null;
  issued_credential_type?: string | null;
  issued_credential_expires?: bigint | null;
  issued_to?: string | null;
  session_issuer?: string | null;
  k8s_node?: string | null;

  attrs?: Record<string, unknown> | null;
}

/** What a parser returns for one record: the event without the row identity the pipeline assigns. */
export type EventDraft = Omit<NormalizedEvent, 'event_id' | 'source' | 'source_ref'>;
