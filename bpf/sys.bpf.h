/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Syscall pairing: sys_enter saves what the call was asked to do (arguments,
 * user memory, credentials before) in `pending` keyed by tid; sys_exit adds the
 * result and emits. x86_64 syscall numbers; 32-bit (compat) syscalls are not
 * decoded (their numbers mean other calls) and are ignored.
 */
#ifndef CUSTODY_SYS_BPF_H
#define CUSTODY_SYS_BPF_H

#include "common.bpf.h"

#define NR_open 2
#define NR_connect 42
#define NR_accept 43
#define NR_setuid 105
#define NR_setgid 106
#define NR_setreuid 113
#define NR_setregid 114
#define NR_setgroups 116
#define NR_setresuid 117
#define NR_setresgid 119
#define NR_setfsuid 122
#define NR_setfsgid 123
#define NR_capset 126
#define NR_openat 257
#define NR_accept4 288
#define NR_openat2 437

#define SYSCALL_KINDS_ON                                                        \
	(KIND_ON(CUSTODY_EV_CONNECT) || KIND_ON(CUSTODY_EV_ACCEPT) ||          \
	 KIND_ON(CUSTODY_EV_OPEN) || KIND_ON(CUSTODY_EV_CRED))

struct pending_open {
	/* prefixlen + path form the cred_prefixes LPM key (first 64 path bytes). */
	__u32 prefixlen;
	char path[CUSTODY_PATH_LEN];
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u32 prefix_id;
	__u16 path_len;
	__u16 truncated;
};

struct pending_conn {
	__s32 fd;
	__u16 family;
	__u16 dport;
	__u16 path_len;
	__u8 daddr[16];
	char path[CUSTODY_UNIX_PATH_LEN];
};

struct pending_cred {
	__u32 op;
	__u32 arg[3];
	struct custody_ids ids;
	struct custody_caps caps;
};

struct pending {
	__u32 nr;
	__u32 _pad;
	union {
		struct pending_open open;
		struct pending_conn conn;
		struct pending_cred cred;
		__s32 listen_fd;
	};
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* Per-CPU build area for a pending entry (too large for the 512-byte stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pending);
} scratch SEC(".maps");

/* Which event kind a syscall feeds, 0 for none. */
static __always_inline __u32 syscall_kind(long nr)
{
	switch (nr) {
	case NR_connect:
		return CUSTODY_EV_CONNECT;
	case NR_accept:
	case NR_accept4:
		return CUSTODY_EV_ACCEPT;
	case NR_open:
	case NR_openat:
	case NR_openat2:
		return CUSTODY_EV_OPEN;
	case NR_setuid:
	case NR_setgid:
	case NR_setreuid:
	case NR_setregid:
	case NR_setgroups:
	case NR_setresuid:
	case NR_setresgid:
	case NR_setfsuid:
	case NR_setfsgid:
	case NR_capset:
		return CUSTODY_EV_CRED;
	default:
		return 0;
	}
}

static __always_inline bool task_is_compat(struct task_struct *task)
{
	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
}

static __always_inline struct pending *scratch_entry(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* The socket behind fd in the current task, or NULL (bad fd, not a socket). */
static __always_inline struct sock *sock_from_fd(int fd)
{
	struct task_struct *task = current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

#endif /* CUSTODY_SYS_BPF_H */
