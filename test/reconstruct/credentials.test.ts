import { describe, expect, it } from 'vitest';
import { credentialMaterial, credentialMaterialSql } from '../../src/reconstruct/credentials.js';
import { Db } from '../../src/util/duckdb.js';

/** Paths on the recorder's default credential list (src/record/prefixes.ts), and what they hold. */
const PATHS: [string, string][] = [
  ['/var/run/secrets/kubernetes.io/serviceaccount/token', 'k8s-service-account-token'],
  ['/run/secrets/kubernetes.io/serviceaccount/token', 'k8s-service-account-token'],
  ['/var/run/secrets/kubernetes.io/serviceaccount/ca.crt', 'k8s-service-account'],
  ['/var/run/secrets/eks.amazonaws.com/serviceaccount/token', 'aws-web-identity-token'],
  ['/var/run/secrets/tokens/vault-token', 'k8s-projected-token'],
  ['/run/spire/sockets/agent.sock', 'spiffe-workload-api'],
  ['/tmp/spire-agent/public/api.sock', 'spiffe-workload-api'],
  ['/root/.aws/credentials', 'aws-credentials'],
  ['/home/ci/.aws/sso/cache/0a1b.json', 'aws-credentials'],
  ['/home/ci/.config/gcloud/application_default_credentials.json', 'gcloud-credentials'],
  ['/root/.azure/msal_token_cache.json', 'azure-credentials'],
  ['/root/.kube/config', 'kubeconfig'],
  ['/home/ci/.ssh/id_ed25519', 'ssh-key'],
  ['/root/.vault-token', 'vault-token'],
  ['/etc/shadow', 'password-hashes'],
  ['/run/secrets/db-password', 'secret-file'],
  ['/opt/app/creds.txt', 'credential-file'],
];

describe('credential material by path', () => {
  it('names what each path on the credential list holds', () => {
    expect(PATHS.map(([p]) => [p, credentialMaterial(p).kind])).toEqual(PATHS);
  });

  it('the SQL form (DuckDB regexp, bound patterns) agrees with the TypeScript one', async () => {
    const db = await Db.open();
    try {
      const { sql, params } = credentialMaterialSql('p', 2);
      const { listValue, LIST, VARCHAR } = await import('@duckdb/node-api');
      const reader = await db.conn.runAndReadAll(`SELECT p, ${sql} FROM (SELECT unnest($1) AS p) ORDER BY p`, [listValue(PATHS.map(([p]) => p)), ...params], [LIST(VARCHAR), ...params.map(() => VARCHAR)]);
      expect(reader.getRows()).toEqual([...PATHS].sort(([a], [b]) => (a < b ? -1 : 1)));
    } finally {
      db.close();
    }
  });
});
