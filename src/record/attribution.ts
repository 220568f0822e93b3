import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Attribution: cgroup v2 id → cgroup path → container id, pod uid and QoS class (issue 3,
 * "Attribution"; DESIGN.md linking rule 1). The kernel hands every event its cgroup id; the
 * path names the runtime's container and the kubelet's pod, so `reconstruct` can tie a process to
 * Kubernetes evidence offline (the recorder writes `snapshot()` into the bundle).
 */

export type Runtime = 'containerd' | 'cri-o' | 'docker' | 'systemd' | 'other';

export interface Attribution {
  /** cgroup v2 id: the inode number of the cgroup's directory in cgroupfs. */
  cgroup_id: bigint;
  /** Path relative to the cgroup v2 root, starting with `/`. */
  cgroup_path: string;
  runtime: Runtime;
  /** 64 lowercase hex digits, runtime-neutral. */
  container_id: string | null;
  /** Pod uid with dashes, as the Kubernetes API and audit log write it. */
  pod_uid: string | null;
  /** guaranteed, burstable or besteffort, for cgroups under the kubelet's pods root. */
  qos: string | null;
}

export type PathAttribution = Omit<Attribution, 'cgroup_id'>;

const HEX64 = '[0-9a-f]{64}';
/** Container cgroups, by runtime, as the systemd and cgroupfs drivers name them. */
const CONTAINER_SEGMENTS: readonly [RegExp, Runtime][] = [
  [new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), 'containerd'],
  // conmon, CRI-O's per-container monitor, runs in its own crio-conmon-<id>.scope
  [new RegExp(`^crio-(?:conmon-)?(${HEX64})(?:\\.scope)?$`), 'cri-o'],
  [new RegExp(`^docker-(${HEX64})\\.scope$`), 'docker'],
  // podman
  [new RegExp(`^libpod-(?:conmon-)?(${HEX64})(?:\\.scope)?$`), 'other'],
];
const BARE_ID = new RegExp(`^(${HEX64})$`);
/**
 * Pod cgroups. systemd driver: `kubepods-<qos>-pod<uid with _>.slice` (guaranteed pods drop the
 * qos part; kind and other nested kubelets prefix `kubelet-`). cgroupfs driver: `pod<uid>`.
 * Static pods' uids are 32-hex hashes without dashes.
 */
const POD_SYSTEMD = /^(?:[a-z0-9]+-)*kubepods(?:-(burstable|besteffort))?-pod([0-9a-f_]{32,36})\.slice$/;
const POD_CGROUPFS = /^pod([0-9a-f-]{32,36})$/;
const KUBEPODS_ROOT = /^(?:[a-z0-9]+-)*kubepods(?:\.slice)?$/;
const QOS_SEGMENT = /^(?:(?:[a-z0-9]+-)*kubepods-)?(burstable|besteffort)(?:\.slice)?$/;
const SYSTEMD_UNIT = /\.(?:slice|scope|service|socket|mount|swap)$/;

/**
 * What a cgroup path says about its processes. Pure; never throws. The deepest container segment
 * wins (a container's own nested cgroups, docker-in-docker); the pod is the nearest one above it.
 * The cgroupfs driver does not name the runtime of a bare `<64 hex>` container under kubepods, so
 * that runtime is `other`; `/docker/<id>` is docker's own cgroupfs parent.
 */
export function parseCgroupPath(path: string): PathAttribution {
  const cgroupPath = normalizePath(path);
  const segs = cgroupPath.split('/').filter(Boolean);
  let container: { id: string; runtime: Runtime; at: number } | null = null;
  for (let i = segs.length - 1; i >= 0 && !container; i--) {
    const s = segs[i]!;
    for (const [re, runtime] of CONTAINER_SEGMENTS) {
      const m = re.exec(s);
      if (m) {
        container = { id: m[1]!, runtime, at: i };
        break;
      }
    }
    if (!container) {
      const m = BARE_ID.exec(s);
      if (m && i > 0) container = { id: m[1]!, runtime: segs[i - 1] === 'docker' ? 'docker' : 'other', at: i };
    }
  }
  const limit = container ? container.at : segs.length;
  let podUid: string | null = null;
  let qos: string | null = null;
  let kubeRoot = -1;
  for (let i = 0; i < limit; i++) {
    const s = segs[i]!;
    if (kubeRoot < 0 && KUBEPODS_ROOT.test(s)) {
      kubeRoot = i;
      continue;
    }
    if (kubeRoot < 0) continue;
    const q = QOS_SEGMENT.exec(s);
    if (q && i === kubeRoot + 1) {
      qos = q[1]!;
      continue;
    }
    const sd = POD_SYSTEMD.exec(s);
    const fs = sd ? null : POD_CGROUPFS.exec(s);
    if (sd || fs) {
      podUid = normalizeUid(sd ? sd[2]! : fs![1]!);
      // a pod straight under the pods root has no QoS parent: guaranteed
      qos = sd?.[1] ?? (i === kubeRoot + 1 ? 'guaranteed' : qos);
    }
  }
  let runtime: Runtime;
  if (container) runtime = container.runtime;
  else if (kubeRoot < 0 && segs.length > 0 && SYSTEMD_UNIT.test(segs[segs.length - 1]!)) runtime = 'systemd';
  else runtime = 'other';
  return { cgroup_path: cgroupPath, runtime, container_id: container?.id ?? null, pod_uid: podUid, qos };
}

/** `/a/b` form: a `0::` prefix (from /proc/<pid>/cgroup) and trailing slashes dropped. */
function normalizePath(path: string): string {
  const p = path.startsWith('0::') ? path.slice(3) : path;
  const segs = p.split('/').filter(Boolean);
  return `/${segs.join('/')}`;
}

/** Kubelet's systemd driver writes pod uids with `_` for `-` (systemd unit name escaping). */
function normalizeUid(uid: string): string {
  return uid.replaceAll('_', '-');
}

/**
 * Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on unified hosts, `/sys/fs/cgroup/unified`
 * on hybrid ones (systemd's legacy layout; the kernel's cgroup ids are v2 ids either way).
 */
export function cgroupV2Root(mounts = '/proc/self/mounts'): string {
  try {
    for (const line of readFileSync(mounts, 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === 'cgroup2' && f[1]) return f[1].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    }
  } catch {
    // no /proc: fall through
  }
  return '/sys/fs/cgroup';
}

export interface ResolverOptions {
  /** Minimum time between two walks of the hierarchy triggered by unknown ids (default 1 s). */
  minRewalkMs?: number;
  /** Most directories one walk visits (default 100 000). */
  maxDirs?: number;
  /** Deepest directory one walk visits, below the root (default 32). */
  maxDepth?: number;
  /** Most attributions kept; the oldest are forgotten first (default 65 536). */
  maxEntries?: number;
}

/**
 * cgroup v2 id → attribution, by walking the cgroup hierarchy. A walk records every directory's
 * inode number (the cgroup id on 64-bit kernels) and path; an unknown id triggers another walk,
 * at most once per `minRewalkMs`, so a flood of events from unknown cgroups costs one walk, not
 * one per event. Entries of removed cgroups are kept: ids are not reused within a boot, and a
 * process's events may be resolved after its container is gone.
 */
export class CgroupResolver {
  private readonly byId = new Map<bigint, Attribution>();
  private lastWalk = -Infinity;
  private readonly opts: Required<ResolverOptions>;

  constructor(
    readonly root = cgroupV2Root(),
    opts: ResolverOptions = {},
  ) {
    this.opts = { minRewalkMs: 1000, maxDirs: 100_000, maxDepth: 32, maxEntries: 65_536, ...opts };
  }

  /**
   * The attribution of a cgroup id, or null when no walk has seen it: an id first seen within
   * `minRewalkMs` of the last walk stays unknown until the next allowed walk, so a caller that
   * buffers rows (a segment) may ask again before it writes them.
   */
  resolve(cgroupId: bigint): Attribution | null {
    const hit = this.byId.get(cgroupId);
    if (hit) return hit;
    if (performance.now() - this.lastWalk < this.opts.minRewalkMs) return null;
    this.walk();
    return this.byId.get(cgroupId) ?? null;
  }

  /** Every cgroup known, after a fresh walk (for the bundle's attribution snapshot). */
  snapshot(): Attribution[] {
    this.walk();
    return [...this.byId.values()];
  }

  private walk(): void {
    this.lastWalk = performance.now();
    const stack: [string, number][] = [['/', 0]];
    let visited = 0;
    while (stack.length > 0 && visited < this.opts.maxDirs) {
      const [rel, depth] = stack.pop()!;
      const abs = rel === '/' ? this.root : join(this.root, rel);
      let ino: bigint;
      try {
        ino = statSync(abs, { bigint: true }).ino;
      } catch {
        continue; // removed while walking
      }
      visited++;
      if (!this.byId.has(ino)) this.remember({ cgroup_id: ino, ...parseCgroupPath(rel) });
      if (depth >= this.opts.maxDepth) continue;
      let children: string[];
      try {
        children = readdirSync(abs, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name);
      } catch {
        continue;
      }
      for (const c of children) stack.push([rel === '/' ? `/${c}` : `${rel}/${c}`, depth + 1]);
    }
  }

  private remember(a: Attribution): void {
    if (this.byId.size >= this.opts.maxEntries) {
      const oldest = this.byId.keys().next();
      if (!oldest.done) this.byId.delete(oldest.value);
    }
    this.byId.set(a.cgroup_id, a);
  }
}
