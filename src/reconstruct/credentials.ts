import type { DuckDBValue } from '@duckdb/node-api';

/**
 * Which credential material a file path holds (DESIGN.md rule 2): the recorder logs opens of the
 * paths on its credential prefix list, and the path alone says what was read. One table, used by
 * the SQL of rule 2 (correlate.ts) and by anything that explains a single row. Patterns are RE2
 * (DuckDB's regexp) and JavaScript compatible; the first match wins.
 */
export const CREDENTIAL_MATERIALS: readonly { kind: string; pattern: string; what: string }[] = [
  { kind: 'k8s-service-account-token', pattern: '^(/var)?/run/secrets/kubernetes\\.io/serviceaccount/token$', what: "the pod's service account token (projected)" },
  { kind: 'aws-web-identity-token', pattern: '^(/var)?/run/secrets/eks\\.amazonaws\\.com/serviceaccount/token$', what: 'an AWS web identity token (EKS IRSA)' },
  { kind: 'k8s-service-account', pattern: '^(/var)?/run/secrets/kubernetes\\.io/serviceaccount/', what: "the pod's service account files (CA, namespace)" },
  { kind: 'k8s-projected-token', pattern: '^(/var)?/run/secrets/(tokens|[^/]+\\.[^/]+/serviceaccount)/', what: 'a projected service account token' },
  { kind: 'spiffe-workload-api', pattern: '^(/var)?/run/spire/|/spire-agent/|/spire/.*\\.sock$', what: 'the SPIRE agent (SPIFFE Workload API)' },
  { kind: 'aws-credentials', pattern: '/\\.aws/(credentials|config|sso/cache/|cli/cache/)', what: 'AWS credentials' },
  { kind: 'gcloud-credentials', pattern: '/\\.config/gcloud/', what: 'Google Cloud credentials' },
  { kind: 'azure-credentials', pattern: '/\\.azure/', what: 'Azure credentials' },
  { kind: 'kubeconfig', pattern: '/\\.kube/config$', what: 'a kubeconfig' },
  { kind: 'ssh-key', pattern: '/\\.ssh/', what: 'SSH keys' },
  { kind: 'vault-token', pattern: '/\\.vault-token$', what: 'a Vault token' },
  { kind: 'password-hashes', pattern: '^/etc/(g)?shadow$', what: 'local password hashes' },
  { kind: 'secret-file', pattern: '^(/var)?/run/secrets/', what: 'a mounted secret' },
];

const COMPILED = CREDENTIAL_MATERIALS.map((m) => ({ ...m, re: new RegExp(m.pattern) }));

/** The credential material a path holds, or `credential-file` for other paths on the list. */
export function credentialMaterial(path: string): { kind: string; what: string } {
  const m = COMPILED.find((c) => c.re.test(path));
  return m ? { kind: m.kind, what: m.what } : { kind: 'credential-file', what: 'a file on the credential path list' };
}

/** SQL for the material kind of `column`, with the patterns as bound parameters from `$first` on. */
export function credentialMaterialSql(column: string, first: number): { sql: string; params: DuckDBValue[] } {
  const whens = CREDENTIAL_MATERIALS.map((m, i) => `WHEN regexp_matches(coalesce(${column}, ''), $${first + i}) THEN '${m.kind}'`);
  return { sql: `CASE ${whens.join(' ')} ELSE 'credential-file' END`, params: CREDENTIAL_MATERIALS.map((m) => m.pattern) };
}
