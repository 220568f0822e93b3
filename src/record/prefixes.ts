/**
 * Credential path prefixes for the kernel's open filter. The kernel matches
 * the first bytes of absolute paths only, so `~/` prefixes are expanded here,
 * once per home directory of the users in /etc/passwd.
 */

/**
 * The credential files and sockets a responder wants to see opened, by default: Kubernetes
 * service-account and mounted secrets, cloud CLI credentials, kubeconfig, SSH keys, the Vault
 * token helper's file, the shadow file, and SPIRE agent sockets (Workload API).
 */
export const DEFAULT_CRED_PREFIXES: readonly string[] = [
  '/var/run/secrets/',
  '/run/secrets/',
  '~/.aws/',
  '~/.config/gcloud/',
  '~/.azure/',
  '~/.kube/config',
  '~/.ssh/',
  '~/.vault-token',
  '/etc/shadow',
  '/run/spire/',
  '/var/run/spire/',
  '/tmp/spire-agent/',
];

/** Bytes of a path the kernel compares (CUSTODY_PREFIX_LEN). */
export const CRED_PREFIX_MAX_BYTES = 64;
/** Entries the kernel's prefix map holds. */
export const CRED_PREFIX_MAX_ENTRIES = 256;

/** Distinct absolute home directories from passwd(5) text, `/` excluded. */
export function userHomes(passwd: string): string[] {
  const homes = new Set<string>();
  for (const line of passwd.split('\n')) {
    if (line.startsWith('#')) continue;
    const home = line.split(':')[5];
    if (home && home.startsWith('/') && home !== '/') homes.add(home.replace(/\/+$/, ''));
  }
  return [...homes].sort();
}

/** `~/x` becomes `<home>/x` for every home; other prefixes pass through. Order kept, duplicates dropped. */
export function expandCredPrefixes(prefixes: readonly string[], homes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const p of prefixes) {
    if (p === '~' || p.startsWith('~/')) {
      for (const home of homes) out.add(home + p.slice(1));
    } else {
      out.add(p);
    }
  }
  return [...out];
}

/** Why a prefix cannot go to the kernel, or null when it can. */
export function credPrefixProblem(prefix: string): string | null {
  if (!prefix.startsWith('/')) return `credential prefix "${prefix}" is not an absolute path`;
  const bytes = Buffer.byteLength(prefix, 'utf8');
  if (bytes > CRED_PREFIX_MAX_BYTES) {
    return `credential prefix "${prefix}" is ${bytes} bytes; the kernel matches at most ${CRED_PREFIX_MAX_BYTES}`;
  }
  return null;
}
