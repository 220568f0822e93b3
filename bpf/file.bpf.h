/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Opens of credential paths: open/openat/openat2 whose path starts with a
 * prefix in cred_prefixes. The path is copied and matched at sys_enter, before
 * anything is reserved; sys_exit adds the fd or -errno.
 *
 * Only absolute paths are matched: a relative path (dirfd or cwd based) cannot
 * be resolved here without walking dentries, and is not reported.
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

/* Fills p->open and returns true when the path is under a credential prefix. */
static __always_inline bool open_enter(struct pt_regs *regs, long nr, struct pending *p)
{
	struct pending_open *o = &p->open;
	const char *filename;
	__u32 *prefix_id;
	long n;

	if (nr == NR_open) {
		o->dfd = AT_FDCWD;
		filename = (const char *)BPF_CORE_READ(regs, di);
		o->flags = BPF_CORE_READ(regs, si);
		o->mode = BPF_CORE_READ(regs, dx);
	} else {
		o->dfd = BPF_CORE_READ(regs, di);
		filename = (const char *)BPF_CORE_READ(regs, si);
		if (nr == NR_openat) {
			o->flags = BPF_CORE_READ(regs, dx);
			o->mode = BPF_CORE_READ(regs, r10);
		} else {
			struct custody_open_how how = {};

			bpf_probe_read_user(&how, sizeof(how), (void *)BPF_CORE_READ(regs, dx));
			o->flags = how.flags;
			o->mode = how.mode;
		}
	}

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

	e = rate_reserve(CUSTODY_EV_OPEN, sizeof(*e), now);
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
	e->_pad0 = 0;
	__builtin_memcpy(e->path, o->path, sizeof(e->path));
	submit(CUSTODY_EV_OPEN, e);
}

#endif /* CUSTODY_FILE_BPF_H */
