/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Opens of credential paths: open/openat/openat2 whose path is under a prefix
 * in cred_prefixes.
 *
 * An absolute path that matches as passed is matched at sys_enter, before
 * anything is reserved, and sys_exit adds the fd or -errno. Every other open
 * that succeeded is matched at sys_exit on the opened file's own path, walked
 * from its dentry up through the mounts to the task's root: a relative name
 * (`cd /var/run/secrets/...; cat token`, openat on a directory fd), a symlink,
 * `/proc/self/root/...`, `//` or `..` cannot hide a credential read. Such
 * events carry CUSTODY_F_RESOLVED, the walked path, and the name as passed.
 * A failed open of a relative name is matched on its directory's walked path
 * (cwd or dirfd) with the name appended as passed; a failed open of an
 * absolute name that does not match as passed is not reported (there is
 * nothing to walk from).
 */
#ifndef CUSTODY_FILE_BPF_H
#define CUSTODY_FILE_BPF_H

#include "common.bpf.h"
#include "sys.bpf.h"

/* struct open_how (include/uapi/linux/openat2.h) */
struct custody_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/* The call's dirfd, flags and mode, and the user pointer to its path (x86_64
 * registers; at sys_exit they still hold the arguments). */
static __always_inline const char *open_args(struct pt_regs *regs, long nr, __s32 *dfd, __u32 *flags, __u32 *mode)
{
	const char *filename;

	if (nr == NR_open) {
		*dfd = AT_FDCWD;
		filename = (const char *)BPF_CORE_READ(regs, di);
		*flags = BPF_CORE_READ(regs, si);
		*mode = BPF_CORE_READ(regs, dx);
	} else {
		*dfd = BPF_CORE_READ(regs, di);
		filename = (const char *)BPF_CORE_READ(regs, si);
		if (nr == NR_openat) {
			*flags = BPF_CORE_READ(regs, dx);
			*mode = BPF_CORE_READ(regs, r10);
		} else {
			struct custody_open_how how = {};

			bpf_probe_read_user(&how, sizeof(how), (void *)BPF_CORE_READ(regs, dx));
			*flags = how.flags;
			*mode = how.mode;
		}
	}
	return filename;
}

/* Fills p->open and returns true when the path as passed is under a credential prefix. */
static __always_inline bool open_enter(struct pt_regs *regs, long nr, struct pending *p)
{
	struct pending_open *o = &p->open;
	const char *filename;
	__u32 *prefix_id;
	long n;

	filename = open_args(regs, nr, &o->dfd, &o->flags, &o->mode);
	n = bpf_probe_read_user_str(o->path, sizeof(o->path), filename);
	if (n <= 1 || o->path[0] != '/')
		return false;
	o->path_len = n - 1;
	o->truncated = n == sizeof(o->path);
	/* Bytes after the NUL are stale, but prefixlen keeps the match within the path. */
	o->prefixlen = (o->path_len < CUSTODY_PREFIX_LEN ? o->path_len : CUSTODY_PREFIX_LEN) * 8;
	prefix_id = bpf_map_lookup_elem(&cred_prefixes, &o->prefixlen);
	if (!prefix_id)
		return false;
	o->prefix_id = *prefix_id;
	return true;
}

static __always_inline void open_exit(struct pending *p, long ret, __u64 now)
{
	struct pending_open *o = &p->open;
	struct custody_open *e;
	__u32 len = o->path_len;

	/* Matched as passed: no `given`, so its bytes are not reserved (ring space is what is reserved, not what is sent). */
	e = rate_reserve(CUSTODY_EV_OPEN, offsetof(struct custody_open, given), now);
	if (!e)
		return;
	if (len > CUSTODY_PATH_LEN - 1)
		len = CUSTODY_PATH_LEN - 1;
	fill_hdr(&e->hdr, CUSTODY_EV_OPEN, offsetof(struct custody_open, path) + ROUND8(len + 1), now);
	if (o->truncated)
		e->hdr.flags |= CUSTODY_F_TRUNCATED;
	e->ret = ret;
	e->dfd = o->dfd;
	e->flags = o->flags;
	e->mode = o->mode;
	e->prefix_id = o->prefix_id;
	e->path_len = len;
	e->given_len = 0;
	__builtin_memcpy(e->path, o->path, sizeof(e->path));
	submit(CUSTODY_EV_OPEN, e);
}

/* Path components collected for one path (mount crossings come on top); deeper paths are not matched. */
#define CUSTODY_WALK_MAX 64 /* a power of two: indexes are masked with it for the verifier */

struct path_walk {
	/* prefixlen + buf form the cred_prefixes LPM key (first 64 path bytes). */
	__u32 prefixlen;
	char buf[CUSTODY_PATH_LEN * 2];
	__u32 truncated;
	/* Walk state lives here, not on the stack: values read back from a map are not
	 * tracked as constants, so the verifier sees every loop step as the same state. */
	__u32 n, off, reached;
	const unsigned char *names[CUSTODY_WALK_MAX];
	__u32 lens[CUSTODY_WALK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_walk);
} walk_scratch SEC(".maps");

struct walk_ctx {
	struct path_walk *w;
	struct dentry *d, *root_d;
	struct vfsmount *vm, *root_m;
	struct mount *m;
	long mnt_off;
};

/* One step up: a dentry name collected, or a mount point crossed. */
static long walk_up(__u64 i, void *arg)
{
	/* Locals, not c->...: BPF_CORE_READ relocates every access in its first argument. */
	struct walk_ctx *c = arg;
	struct dentry *d = c->d, *parent;
	struct vfsmount *vm = c->vm;
	struct mount *m = c->m, *mp;
	struct path_walk *w = c->w;
	__u32 n = w->n;

	if (d == c->root_d && vm == c->root_m) {
		w->reached = 1;
		return 1;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (d == BPF_CORE_READ(vm, mnt_root) || d == parent) {
		mp = BPF_CORE_READ(m, mnt_parent);
		if (mp == m) {
			w->reached = 1; /* the root mount of the namespace (or a detached one) */
			return 1;
		}
		c->d = BPF_CORE_READ(m, mnt_mountpoint);
		c->m = mp;
		c->vm = (struct vfsmount *)((char *)mp + c->mnt_off);
		return 0;
	}
	if (n >= CUSTODY_WALK_MAX)
		return 1;
	w->names[n & (CUSTODY_WALK_MAX - 1)] = BPF_CORE_READ(d, d_name.name);
	w->lens[n & (CUSTODY_WALK_MAX - 1)] = BPF_CORE_READ(d, d_name.len);
	w->n = n + 1;
	c->d = parent;
	return 0;
}

/* One component written, root first: `/` and the name (cut at the buffer's bound). */
static long write_down(__u64 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct path_walk *w = c->w;
	__u32 k, len, off = w->off;

	if (i >= w->n)
		return 1;
	k = (w->n - 1 - (__u32)i) & (CUSTODY_WALK_MAX - 1);
	if (off >= CUSTODY_PATH_LEN - 1)
		return 1;
	len = w->lens[k];
	if (off + 1 + len > CUSTODY_PATH_LEN - 1) {
		w->truncated = 1;
		len = CUSTODY_PATH_LEN - 2 - off;
	}
	w->buf[off & (CUSTODY_PATH_LEN - 1)] = '/';
	off++;
	len &= CUSTODY_PATH_LEN - 1;
	bpf_probe_read_kernel(&w->buf[off & (CUSTODY_PATH_LEN - 1)], len, w->names[k]);
	w->off = off + len;
	return w->truncated ? 1 : 0;
}

/*
 * The path of (d, vm) as the current task names it: dentry names up to the
 * mount's root, across mount points (mnt_mountpoint in the parent mount),
 * until the task's root (chroot and container roots included) or the root of
 * its mount namespace. Written to w->buf (cut at CUSTODY_PATH_LEN - 1 bytes,
 * w->truncated set); returns its length, or -1 when the walk is deeper than
 * CUSTODY_WALK_MAX (the head would be unknown). Both walks run under
 * bpf_loop, so the verifier checks each step once.
 */
static __always_inline long walk_path(struct task_struct *task, struct dentry *d, struct vfsmount *vm, struct path_walk *w)
{
	struct walk_ctx c = { .w = w, .d = d, .vm = vm };
	__u32 off;

	if (!d || !vm)
		return -1;
	c.mnt_off = bpf_core_field_offset(struct mount, mnt);
	c.m = (struct mount *)((char *)vm - c.mnt_off);
	c.root_d = BPF_CORE_READ(task, fs, root.dentry);
	c.root_m = BPF_CORE_READ(task, fs, root.mnt);
	w->n = 0;
	w->off = 0;
	w->reached = 0;
	w->truncated = 0;
	bpf_loop(CUSTODY_WALK_MAX * 2, walk_up, &c, 0);
	if (!w->reached)
		return -1;
	bpf_loop(CUSTODY_WALK_MAX, write_down, &c, 0);
	off = w->off & (CUSTODY_PATH_LEN - 1);
	if (w->n == 0)
		w->buf[off++] = '/';
	w->buf[off] = 0;
	return off;
}

/* The path of the file behind fd (see walk_path), or -1 when fd has no file. */
static __always_inline long fd_path(int fd, struct path_walk *w)
{
	struct task_struct *task = current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return -1;
	return walk_path(task, BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt), w);
}

/* The directory a relative name is looked up from: the task's cwd, or dirfd's file. */
static __always_inline long dir_path(int dfd, struct path_walk *w)
{
	struct task_struct *task = current_task();

	if (dfd != AT_FDCWD)
		return fd_path(dfd, w);
	return walk_path(task, BPF_CORE_READ(task, fs, pwd.dentry), BPF_CORE_READ(task, fs, pwd.mnt), w);
}

/*
 * sys_exit of an open that did not match as passed: match the opened file's
 * walked path; for a failed open of a relative name, its directory's walked
 * path with the name appended as passed (an attempt on a credential file that
 * does not exist or may not be read). Returns false when it is not a
 * credential path.
 */
static __always_inline bool open_resolved_exit(struct pt_regs *regs, long nr, long ret, __u64 now)
{
	__u32 zero = 0, *prefix_id, mode, oflags;
	struct custody_open *e;
	struct path_walk *w;
	const char *filename;
	long len, n;
	__s32 dfd;

	w = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!w)
		return false;
	filename = open_args(regs, nr, &dfd, &oflags, &mode);
	if (ret >= 0) {
		len = fd_path(ret, w);
	} else {
		char first = 0;

		bpf_probe_read_user(&first, 1, filename);
		if (first == '/' || first == 0)
			return false; /* absolute names were matched as passed; nothing to walk from */
		len = dir_path(dfd, w);
		if (len <= 0 || len >= CUSTODY_PATH_LEN - 1)
			return false;
		if (len > 1)
			w->buf[len++ & (CUSTODY_PATH_LEN - 1)] = '/';
		n = bpf_probe_read_user_str(&w->buf[len & (CUSTODY_PATH_LEN - 1)], CUSTODY_PATH_LEN, filename);
		if (n <= 1)
			return false;
		len += n - 1;
		if (len > CUSTODY_PATH_LEN - 1) {
			w->truncated = 1;
			len = CUSTODY_PATH_LEN - 1;
		}
		w->buf[len & (CUSTODY_PATH_LEN - 1)] = 0;
	}
	if (len <= 0)
		return false;
	w->prefixlen = (len < CUSTODY_PREFIX_LEN ? len : CUSTODY_PREFIX_LEN) * 8;
	prefix_id = bpf_map_lookup_elem(&cred_prefixes, &w->prefixlen);
	if (!prefix_id)
		return false;
	e = rate_reserve(CUSTODY_EV_OPEN, sizeof(*e), now);
	if (!e)
		return true;
	e->prefix_id = *prefix_id;
	e->dfd = dfd;
	e->flags = oflags;
	e->mode = mode;
	e->ret = ret;
	e->path_len = len & (CUSTODY_PATH_LEN - 1);
	bpf_probe_read_kernel(e->path, sizeof(e->path), w->buf);
	n = bpf_probe_read_user_str(e->given, sizeof(e->given), filename);
	e->given_len = n > 1 ? n - 1 : 0;
	if (n <= 0)
		e->given[0] = 0;
	fill_hdr(&e->hdr, CUSTODY_EV_OPEN, offsetof(struct custody_open, given) + ROUND8(e->given_len + 1), now);
	e->hdr.flags |= CUSTODY_F_RESOLVED;
	if (w->truncated || n == sizeof(e->given))
		e->hdr.flags |= CUSTODY_F_TRUNCATED;
	submit(CUSTODY_EV_OPEN, e);
	return true;
}

#endif /* CUSTODY_FILE_BPF_H */
