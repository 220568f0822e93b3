/**
 * The minimal attributor the recorder uses until the full one (container id, pod uid, runtime
 * from the path shapes) is wired in: a cgroup v2 id is the inode number of the cgroup's
 * directory, so walking the hierarchy finds its path. The walk is redone on a miss, at most
 * once a second, so cgroups created while recording resolve too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Attribution, Attributor } from './rows.js';

const REWALK_MS = 1000;

/**
 * Where cgroup v2 is mounted: /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a
 * hybrid one (v1 controllers beside it; their inode numbers mean nothing to cgroup ids).
 */
export function cgroup2Root(mounts = '/proc/self/mounts'): string {
  try {
    for (const line of readFileSync(mounts, 'utf8').split('\n')) {
      const [, dir, type] = line.split(' ');
      if (type === 'cgroup2' && dir) return dir.replace(/\\040/g, ' ');
    }
  } catch {
    // no /proc: fall through
  }
  return '/sys/fs/cgroup';
}

/** Paths are relative to the cgroup v2 root, as /proc/<pid>/cgroup shows them ("/" = root). */
export function cgroupPathAttributor(root = cgroup2Root()): Attributor {
  let byId = new Map<bigint, string>();
  let walkedAt = -Infinity;
  const walk = () => {
    const next = new Map<bigint, string>();
    const visit = (dir: string, rel: string) => {
      try {
        next.set(statSync(dir, { bigint: true }).ino, rel || '/');
        for (const d of readdirSync(dir, { withFileTypes: true })) {
          if (d.isDirectory()) visit(join(dir, d.name), `${rel}/${d.name}`);
        }
      } catch {
        // a cgroup removed during the walk
      }
    };
    visit(root, '');
    byId = next;
    walkedAt = Date.now();
  };
  return (cgroupId: bigint): Attribution | null => {
    let path = byId.get(cgroupId);
    if (path === undefined && Date.now() - walkedAt >= REWALK_MS) {
      walk();
      path = byId.get(cgroupId);
    }
    if (path === undefined) return null;
    return { cgroup_path: path, runtime: null, container_id: null, pod_uid: null, qos: null };
  };
}
