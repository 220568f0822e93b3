/**
 * Attribution: cgroup path shapes as kubelet, containerd, CRI-O, docker and systemd write them,
 * and resolve() against a real cgroup v2 hierarchy (root only; CUSTODY_REQUIRE_BPF=1 makes a
 * missing privilege a failure).
 */
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CgroupResolver, cgroupV2Root, parseCgroupPath } from '../../src/record/attribution.js';

const ID = '8d3e2a1f0b9c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e';
const UID = '099b88fb-2a99-45ad-af94-d91eb81a87e9';
const U_ = UID.replaceAll('-', '_');

describe('parseCgroupPath: real path shapes', () => {
  const table: [string, string, Omit<ReturnType<typeof parseCgroupPath>, 'cgroup_path'>][] = [
    ['containerd, systemd driver, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['containerd, systemd driver, besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'besteffort' }],
    ['containerd, systemd driver, guaranteed (pod straight under kubepods.slice)', `/kubepods.slice/kubepods-pod${U_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'guaranteed' }],
    ['cgroupfs driver, burstable', `/kubepods/burstable/pod${UID}/${ID}`, { runtime: 'other', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['cgroupfs driver, besteffort', `/kubepods/besteffort/pod${UID}/${ID}`, { runtime: 'other', container_id: ID, pod_uid: UID, qos: 'besteffort' }],
    ['cgroupfs driver, guaranteed (k3s)', `/kubepods/pod${UID}/${ID}`, { runtime: 'other', container_id: ID, pod_uid: UID, qos: 'guaranteed' }],
    ['CRI-O, systemd driver', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-${ID}.scope`, { runtime: 'cri-o', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['CRI-O conmon', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-conmon-${ID}.scope`, { runtime: 'cri-o', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['CRI-O, cgroupfs driver', `/kubepods/burstable/pod${UID}/crio-${ID}`, { runtime: 'cri-o', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['docker under kubelet (cri-dockerd), guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/docker-${ID}.scope`, { runtime: 'docker', container_id: ID, pod_uid: UID, qos: 'guaranteed' }],
    ['docker, systemd driver', `/system.slice/docker-${ID}.scope`, { runtime: 'docker', container_id: ID, pod_uid: null, qos: null }],
    ['docker, cgroupfs driver', `/docker/${ID}`, { runtime: 'docker', container_id: ID, pod_uid: null, qos: null }],
    ['kind (kubelet cgroup root /kubelet)', `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'besteffort' }],
    ['static pod (32-hex config hash as uid)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5a1b2c3d4e5f60718293a4b5c6d7e8f9.slice/cri-containerd-${ID}.scope`, { runtime: 'containerd', container_id: ID, pod_uid: '5a1b2c3d4e5f60718293a4b5c6d7e8f9', qos: 'burstable' }],
    ['a pod cgroup itself (no container)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice`, { runtime: 'other', container_id: null, pod_uid: UID, qos: 'burstable' }],
    ['a container\'s own nested cgroup (systemd inside)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope/init.scope`, { runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'burstable' }],
    ['a systemd service', '/system.slice/ssh.service', { runtime: 'systemd', container_id: null, pod_uid: null, qos: null }],
    ['a login session', '/user.slice/user-0.slice/session-3.scope', { runtime: 'systemd', container_id: null, pod_uid: null, qos: null }],
    ['the root cgroup', '/', { runtime: 'other', container_id: null, pod_uid: null, qos: null }],
    ['/proc/<pid>/cgroup form', `0::/system.slice/docker-${ID}.scope`, { runtime: 'docker', container_id: ID, pod_uid: null, qos: null }],
  ];
  for (const [name, path, want] of table) {
    it(name, () => {
      const got = parseCgroupPath(path);
      expect({ runtime: got.runtime, container_id: got.container_id, pod_uid: got.pod_uid, qos: got.qos }).toEqual(want);
      expect(got.cgroup_path).toBe(path.replace(/^0::/, ''));
    });
  }

  it('a 64-hex name outside any parent it could belong to is not taken for a container when it is the root segment', () => {
    expect(parseCgroupPath(`/${ID}`).container_id).toBeNull();
  });

  it('a pod-like name outside the kubelet pods root is no pod', () => {
    expect(parseCgroupPath(`/system.slice/kubepods-burstable-pod${U_}.slice`).pod_uid).toBeNull();
  });
});

describe('parseCgroupPath: properties', () => {
  const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
  const uuid = fc.uuid();
  const qos = fc.constantFrom('burstable', 'besteffort', 'guaranteed');

  it('every kubelet shape yields the container id, the dashed pod uid and the QoS class', () => {
    fc.assert(
      fc.property(hex64, uuid, qos, fc.constantFrom('systemd-containerd', 'systemd-crio', 'cgroupfs'), (id, uid, q, shape) => {
        const u = uid.replaceAll('-', '_');
        let path: string;
        if (shape === 'cgroupfs') path = q === 'guaranteed' ? `/kubepods/pod${uid}/${id}` : `/kubepods/${q}/pod${uid}/${id}`;
        else {
          const leaf = shape === 'systemd-crio' ? `crio-${id}.scope` : `cri-containerd-${id}.scope`;
          path = q === 'guaranteed' ? `/kubepods.slice/kubepods-pod${u}.slice/${leaf}` : `/kubepods.slice/kubepods-${q}.slice/kubepods-${q}-pod${u}.slice/${leaf}`;
        }
        const got = parseCgroupPath(path);
        expect(got.container_id).toBe(id);
        expect(got.pod_uid).toBe(uid);
        expect(got.qos).toBe(q);
        expect(got.runtime).toBe(shape === 'systemd-crio' ? 'cri-o' : shape === 'cgroupfs' ? 'other' : 'containerd');
      }),
    );
  });

  it('never throws, and whatever it reports is well-formed', () => {
    const seg = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('kubepods.slice', 'kubepods', 'burstable', `pod${UID}`, `cri-containerd-${ID}.scope`, ID, 'docker'));
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), (segs) => {
        const got = parseCgroupPath(`/${segs.join('/')}`);
        if (got.container_id !== null) expect(got.container_id).toMatch(/^[0-9a-f]{64}$/);
        if (got.pod_uid !== null) expect(got.pod_uid).toMatch(/^[0-9a-f-]{32,36}$/);
        expect(['containerd', 'cri-o', 'docker', 'systemd', 'other']).toContain(got.runtime);
        expect(got.cgroup_path.startsWith('/')).toBe(true);
      }),
    );
  });
});

describe('cgroupV2Root', () => {
  it('finds the cgroup2 mount on unified and hybrid hosts, else falls back to /sys/fs/cgroup', () => {
    const dir = mkdtempSync(join(tmpdir(), 'custody-mounts-'));
    try {
      const f = join(dir, 'mounts');
      writeFileSync(f, 'tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n');
      expect(cgroupV2Root(f)).toBe('/sys/fs/cgroup/unified');
      writeFileSync(f, 'sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n');
      expect(cgroupV2Root(f)).toBe('/sys/fs/cgroup');
      writeFileSync(f, 'cgroup2 /mnt/cg\\040v2 cgroup2 rw 0 0\n');
      expect(cgroupV2Root(f)).toBe('/mnt/cg v2');
      expect(cgroupV2Root(join(dir, 'missing'))).toBe('/sys/fs/cgroup');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const REQUIRE = process.env.CUSTODY_REQUIRE_BPF === '1';
const isRoot = process.getuid?.() === 0;
const ROOT = cgroupV2Root();
const cgroup2 = (() => {
  try {
    return statSync(join(ROOT, 'cgroup.controllers')).isFile();
  } catch {
    return false;
  }
})();
const skipReason = !isRoot ? 'not root: cannot create cgroups' : !cgroup2 ? 'no cgroup v2 hierarchy mounted' : null;
if (skipReason && REQUIRE) throw new Error(`CUSTODY_REQUIRE_BPF=1 but ${skipReason}`);

describe.skipIf(skipReason !== null)(`CgroupResolver on the real cgroup v2 hierarchy${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const top = `custody-test-${process.pid}`;
  const rels = [top, `${top}/kubepods.slice`, `${top}/kubepods.slice/kubepods-burstable.slice`, `${top}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice`, `${top}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`];
  afterAll(() => {
    for (const r of [...rels].reverse()) {
      try {
        rmdirSync(join(ROOT, r));
      } catch {
        // not created
      }
    }
  });

  it('resolves a new container cgroup by its id (the directory inode), walking again on a miss', () => {
    const resolver = new CgroupResolver(ROOT, { minRewalkMs: 0 });
    expect(resolver.resolve(statSync(ROOT, { bigint: true }).ino)).toMatchObject({ cgroup_path: '/' });
    for (const r of rels) mkdirSync(join(ROOT, r));
    const leaf = rels[rels.length - 1]!;
    const id = statSync(join(ROOT, leaf), { bigint: true }).ino;
    expect(resolver.resolve(id)).toEqual({ cgroup_id: id, cgroup_path: `/${leaf}`, runtime: 'containerd', container_id: ID, pod_uid: UID, qos: 'burstable' });
    // the snapshot holds it, and the pod's own cgroup with the pod uid but no container
    const snap = resolver.snapshot();
    const pod = statSync(join(ROOT, rels[3]!), { bigint: true }).ino;
    expect(snap.find((a) => a.cgroup_id === pod)).toMatchObject({ pod_uid: UID, container_id: null });
    // an id that is no cgroup resolves to nothing
    expect(resolver.resolve(0n)).toBeNull();
    // a removed cgroup still resolves: ids are not reused within a boot
    for (const r of [...rels].reverse()) rmdirSync(join(ROOT, r));
    expect(resolver.resolve(id)?.container_id).toBe(ID);
  });

  it('does not walk again within minRewalkMs of the last walk', () => {
    const resolver = new CgroupResolver(ROOT, { minRewalkMs: 3_600_000 });
    resolver.snapshot();
    mkdirSync(join(ROOT, top));
    const id = statSync(join(ROOT, top), { bigint: true }).ino;
    expect(resolver.resolve(id)).toBeNull();
    expect(resolver.snapshot().some((a) => a.cgroup_id === id)).toBe(true);
    rmdirSync(join(ROOT, top));
  });
});
