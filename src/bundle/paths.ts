import { posix, resolve, sep } from 'node:path';

/**
 * Why a bundle-relative path is unsafe, or null when it is safe: relative, `/`-separated,
 * normalized, no `..`, no NUL or control characters, and resolving inside the bundle.
 * Manifests come with the evidence: a path that leaves the bundle is refused.
 */
export function unsafePathReason(bundleDir: string, rel: string): string | null {
  if (rel.length === 0) return 'empty path';
  if (rel.length > 4096) return 'path longer than 4096 characters';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(rel)) return 'path holds a control character or backslash';
  if (rel.startsWith('/')) return 'absolute path';
  if (posix.normalize(rel) !== rel) return 'path is not normalized';
  if (rel.split('/').some((seg) => seg === '..' || seg === '.' || seg === '')) return 'path has a . or .. segment';
  const root = resolve(bundleDir);
  const abs = resolve(root, rel);
  if (!abs.startsWith(root + sep)) return 'path leaves the bundle';
  return null;
}

/** A file name reduced to safe characters, for names derived from evidence (input file names). */
export function safeFileName(name: string, max = 96): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return (cleaned || '_').slice(-max);
}
