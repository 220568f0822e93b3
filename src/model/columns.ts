/**
 * The normalized event model: one row per observed action, the same column set
 * for every source (DESIGN.md, "Normalized event model"). This list is the single
 * definition of the Parquet schema, the DuckDB staging schema and the order in
 * which `reconstruct` prints columns. Add columns at the end; never rename.
 */

export type ColumnType = 'VARCHAR' | 'BIGINT' | 'INTEGER' | 'TIMESTAMP_NS' | 'VARCHAR[]';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly group: 'row' | 'what' | 'who' | 'credential' | 'issued' | 'where' | 'process' | 'extra';
  readonly description: string;
}

export const COLUMNS = [
  // identity of the row
  { name: 'event_id', type: 'VARCHAR', group: 'row', description: 'Stable id: first 32 hex digits of sha256(source ":" source_ref).' },
  { name: 'source_event_id', type: 'VARCHAR', group: 'row', description: "The vendor's own record id (CloudTrail eventID, Kubernetes auditID, ...)." },
  { name: 'time', type: 'TIMESTAMP_NS', group: 'row', description: 'When the action happened, UTC, nanoseconds.' },
  { name: 'source', type: 'VARCHAR', group: 'row', description: 'Source name (cloudtrail, k8s_audit, kernel, ...).' },
  { name: 'source_ref', type: 'VARCHAR', group: 'row', description: 'Where the raw record is: <bundle path>:<line>[#<json pointer>] or <segment>:<row>.' },
  { name: 'host', type: 'VARCHAR', group: 'row', description: 'Host, cluster or account the record was produced on, where known.' },
  // what
  { name: 'category', type: 'VARCHAR', group: 'what', description: 'process, network, file, auth, credential, api, policy, enforcement, or gap (recorder drops).' },
  { name: 'action', type: 'VARCHAR', group: 'what', description: 'What was attempted, e.g. s3:GetObject, create serviceaccounts/token, exec.' },
  { name: 'outcome', type: 'VARCHAR', group: 'what', description: 'success, failure, denied, allowed or unknown.' },
  { name: 'target', type: 'VARCHAR', group: 'what', description: 'What the action was on (object URI, resource path, address, file).' },
  { name: 'reason', type: 'VARCHAR', group: 'what', description: 'Error code, denial reason or status message.' },
  // who
  { name: 'actor_id', type: 'VARCHAR', group: 'who', description: 'The principal that acted, as the source names it (ARN, username, SPIFFE id, ...).' },
  { name: 'actor_type', type: 'VARCHAR', group: 'who', description: 'human, service_account, role_session, workload, api_key, agent or unknown.' },
  { name: 'actor_name', type: 'VARCHAR', group: 'who', description: 'A short display name for the actor.' },
  // with what
  { name: 'credential_id', type: 'VARCHAR', group: 'credential', description: 'The credential presented (access key id, token credential id, accessor, ...).' },
  { name: 'credential_type', type: 'VARCHAR', group: 'credential', description: 'aws_session_key, aws_access_key, k8s_token, oidc_token, ...' },
  { name: 'credential_expires', type: 'TIMESTAMP_NS', group: 'credential', description: 'When the presented credential expires, where known.' },
  { name: 'credential_issuer', type: 'VARCHAR', group: 'credential', description: 'Who issued the presented credential (IdP URL, role ARN, ...).' },
  // where
  { name: 'spiffe_id', type: 'VARCHAR', group: 'where', description: 'SPIFFE id of the workload, where known.' },
  { name: 'k8s_namespace', type: 'VARCHAR', group: 'where', description: 'Kubernetes namespace of the workload the row is about.' },
  { name: 'k8s_pod', type: 'VARCHAR', group: 'where', description: 'Kubernetes pod name.' },
  { name: 'k8s_pod_uid', type: 'VARCHAR', group: 'where', description: 'Kubernetes pod uid.' },
  { name: 'k8s_service_account', type: 'VARCHAR', group: 'where', description: 'Kubernetes service account name (without namespace).' },
  { name: 'container_id', type: 'VARCHAR', group: 'where', description: 'Container id (runtime-neutral hex id).' },
  { name: 'cgroup_id', type: 'BIGINT', group: 'where', description: 'Kernel cgroup v2 id.' },
  { name: 'src_ip', type: 'VARCHAR', group: 'where', description: 'Source address of the action.' },
  { name: 'src_port', type: 'INTEGER', group: 'where', description: 'Source port.' },
  { name: 'dst_ip', type: 'VARCHAR', group: 'where', description: 'Destination address.' },
  { name: 'dst_port', type: 'INTEGER', group: 'where', description: 'Destination port.' },
  { name: 'protocol', type: 'VARCHAR', group: 'where', description: 'tcp, udp, https, ...' },
  { name: 'user_agent', type: 'VARCHAR', group: 'where', description: 'Client user agent as logged (attacker-controlled).' },
  // process
  { name: 'process_key', type: 'VARCHAR', group: 'process', description: 'boot id + pid + start time: identifies a process across pid reuse.' },
  { name: 'pid', type: 'BIGINT', group: 'process', description: 'Process id (tgid).' },
  { name: 'ppid', type: 'BIGINT', group: 'process', description: 'Parent process id.' },
  { name: 'parent_key', type: 'VARCHAR', group: 'process', description: 'process_key of the parent.' },
  { name: 'uid', type: 'BIGINT', group: 'process', description: 'User id.' },
  { name: 'exe', type: 'VARCHAR', group: 'process', description: 'Executable path.' },
  { name: 'argv', type: 'VARCHAR[]', group: 'process', description: 'Arguments.' },
  { name: 'comm', type: 'VARCHAR', group: 'process', description: 'Kernel task name.' },
  // custody's additions for linking (DESIGN.md "Linking", rule 3)
  { name: 'issued_credential_id', type: 'VARCHAR', group: 'issued', description: 'A credential this action issued (STS session key, token credential id, ...).' },
  { name: 'issued_credential_type', type: 'VARCHAR', group: 'issued', description: 'Type of the issued credential.' },
  { name: 'issued_credential_expires', type: 'TIMESTAMP_NS', group: 'issued', description: 'Expiry of the issued credential.' },
  { name: 'issued_to', type: 'VARCHAR', group: 'issued', description: 'Principal that received the issued credential (e.g. the assumed-role session ARN).' },
  { name: 'session_issuer', type: 'VARCHAR', group: 'who', description: 'The principal behind the acting session (role ARN for a role session).' },
  { name: 'k8s_node', type: 'VARCHAR', group: 'where', description: 'Kubernetes node the workload runs on, where known.' },
  { name: 'attrs', type: 'VARCHAR', group: 'extra', description: 'Source-specific fields as a JSON object (kept for detail views and rules).' },
] as const satisfies readonly ColumnSpec[];

export type ColumnName = (typeof COLUMNS)[number]['name'];

export const COLUMN_NAMES: readonly ColumnName[] = COLUMNS.map((c) => c.name);

/** Schema version of normalized event Parquet files; bump when a column changes meaning. */
export const EVENT_SCHEMA_VERSION = 1;

/** DuckDB column definitions, e.g. for read_json(columns=...) and CREATE TABLE. */
export function duckdbColumnList(): string {
  return COLUMNS.map((c) => `${c.name} ${c.type}`).join(', ');
}
