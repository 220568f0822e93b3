/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * custody_wire.h — the records the BPF programs write into the ring buffer and
 * the configuration/counter structs shared with the native addon.
 *
 * Rules for this file (the TypeScript decoder in src/record/wire.ts mirrors it,
 * and test/record/wire.test.ts compares both through the addon's layout()):
 *   - fixed-size fields only, explicit padding, every struct a multiple of 8;
 *   - a kind number, once published, never changes meaning; new kinds get new
 *     numbers, new fields go at the end of a record (and bump WIRE_VERSION);
 *   - all integers are little-endian host order (x86_64), ports in host order,
 *     IP addresses in network order (as on the wire), IPv4 in bytes 0..3.
 *
 * Included by BPF C (types come from vmlinux.h) and by C++ (linux/types.h).
 */
#ifndef CUSTODY_WIRE_H
#define CUSTODY_WIRE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define CUSTODY_WIRE_VERSION 1

/* Event kinds: stable op numbers; bit (1 << kind) in custody_config.kinds. */
#define CUSTODY_EV_EXEC 1
#define CUSTODY_EV_FORK 2
#define CUSTODY_EV_EXIT 3
#define CUSTODY_EV_CONNECT 4
#define CUSTODY_EV_ACCEPT 5
#define CUSTODY_EV_TCP_STATE 6
#define CUSTODY_EV_TCP_RESET 7
#define CUSTODY_EV_OPEN 8
#define CUSTODY_EV_CRED 9
#define CUSTODY_EV_SIGNAL 10
#define CUSTODY_EV_MAX 11 /* array bound: counters and rate limits are indexed by kind */

/* custody_hdr.flags */
#define CUSTODY_F_TRUNCATED 0x1 /* a string/argv field was cut at its bound */
#define CUSTODY_F_NO_TASK 0x2   /* softirq/timer context: tgid/tid/comm/cgroup unknown (0) */
#define CUSTODY_F_OWNER 0x4     /* identity is the socket's recorded owner, not current */
#define CUSTODY_F_RESOLVED 0x8  /* open: path was resolved from the opened file; given holds the name as passed */

/* Bounds */
#define CUSTODY_COMM_LEN 16
#define CUSTODY_FILENAME_LEN 256
#define CUSTODY_ARGS_LEN 512 /* NUL-separated argv bytes, first N bytes only */
#define CUSTODY_PATH_LEN 256
#define CUSTODY_UNIX_PATH_LEN 108
#define CUSTODY_PREFIX_LEN 64 /* credential path prefixes: first 64 bytes of a path */

/* Common header on every record. size = bytes of this record (header included),
 * a multiple of 8; records with a variable tail are trimmed to what was filled. */
struct custody_hdr {
	__u16 kind;
	__u16 size;
	__u16 flags;
	__u16 cpu;
	__u64 ts_ns;     /* bpf_ktime_get_boot_ns() at the event */
	__u64 start_ns;  /* thread-group leader start_boottime (ns since boot): process key part */
	__u64 cgroup_id; /* cgroup v2 id of the task (bpf_get_current_cgroup_id) */
	__u32 tgid;
	__u32 tid;
	char comm[CUSTODY_COMM_LEN];
};

/* CUSTODY_EV_EXEC: sched_process_exec, after the new image is in place. */
struct custody_exec {
	struct custody_hdr hdr;
	__u64 parent_start_ns; /* real_parent's leader start_boottime: parent process key */
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 argc;      /* full argument count (bprm->argc), even when args[] is cut */
	__u32 old_tid;   /* tid that called execve (differs when a non-leader thread exec'd) */
	__u16 filename_len; /* bytes in filename, without the NUL */
	__u16 args_len;     /* bytes in args (NUL-separated, last NUL included when not cut) */
	char filename[CUSTODY_FILENAME_LEN]; /* path as passed to execve (bprm->filename) */
	char args[CUSTODY_ARGS_LEN];         /* record is trimmed after args_len (rounded up to 8) */
};

/* CUSTODY_EV_FORK: a new process (not a thread); hdr is the parent. */
struct custody_fork {
	struct custody_hdr hdr;
	__u64 child_start_ns;
	__u32 child_tgid;
	__u32 parent_tgid;
};

/* CUSTODY_EV_EXIT: the last thread of a process exits. */
struct custody_exit {
	struct custody_hdr hdr;
	__u32 status;  /* wait(2) status word: (code << 8) | termsig | 0x80 if core */
	__u32 leader;  /* 1 when the exiting thread is the thread-group leader */
};

/* Socket 4/5-tuple from the local side's point of view. */
struct custody_tuple {
	__u16 family;   /* AF_INET 2, AF_INET6 10, AF_UNIX 1 */
	__u16 protocol; /* IPPROTO_TCP 6, IPPROTO_UDP 17, ... (0 when unknown) */
	__u16 sport;    /* local port */
	__u16 dport;    /* remote port */
	__u8 saddr[16]; /* local address */
	__u8 daddr[16]; /* remote address */
};

/* CUSTODY_EV_CONNECT (sys_enter/sys_exit connect) and CUSTODY_EV_ACCEPT
 * (sys_exit accept/accept4, successful only). For connect, daddr/dport/path
 * are what the caller asked for, saddr/sport what the socket had at return. */
struct custody_sock {
	struct custody_hdr hdr;
	__s32 ret; /* connect: 0 or -errno (-111 refused, -110 timed out, -115 in progress); accept: new fd */
	__s32 fd;  /* connect: socket fd; accept: listening fd */
	struct custody_tuple tuple;
	__u16 path_len; /* AF_UNIX: bytes of sun_path used (abstract names start with NUL) */
	__u16 _pad0[3];
	char path[CUSTODY_UNIX_PATH_LEN]; /* AF_UNIX only; record trimmed to before path otherwise */
	__u8 _pad1[4];
};

/* TCP states (include/net/tcp_states.h) */
#define CUSTODY_TCP_ESTABLISHED 1
#define CUSTODY_TCP_SYN_SENT 2
#define CUSTODY_TCP_SYN_RECV 3
#define CUSTODY_TCP_FIN_WAIT1 4
#define CUSTODY_TCP_FIN_WAIT2 5
#define CUSTODY_TCP_TIME_WAIT 6
#define CUSTODY_TCP_CLOSE 7
#define CUSTODY_TCP_CLOSE_WAIT 8
#define CUSTODY_TCP_LAST_ACK 9
#define CUSTODY_TCP_LISTEN 10
#define CUSTODY_TCP_CLOSING 11
#define CUSTODY_TCP_NEW_SYN_RECV 12

#define CUSTODY_RST_SENT 1
#define CUSTODY_RST_RECEIVED 2

/* CUSTODY_EV_TCP_STATE (inet_sock_set_state) and CUSTODY_EV_TCP_RESET
 * (tcp_send_reset / tcp_receive_reset). */
struct custody_tcp {
	struct custody_hdr hdr;
	struct custody_tuple tuple;
	__u8 oldstate; /* TCP_* state; for resets: the socket's state (0 when no socket) */
	__u8 newstate; /* TCP_* state; 0 for resets */
	__u8 rst;      /* 0, CUSTODY_RST_SENT or CUSTODY_RST_RECEIVED */
	__u8 _pad[5];
};

/* CUSTODY_EV_OPEN: open/openat/openat2 of a path under a credential prefix. */
struct custody_open {
	struct custody_hdr hdr;
	__s32 ret;  /* fd or -errno */
	__s32 dfd;  /* dirfd argument (-100 = AT_FDCWD) */
	__u32 flags;
	__u32 mode;
	__u32 prefix_id; /* value stored with the matching prefix (index in setCredPrefixes) */
	__u16 path_len;  /* bytes in path, without the NUL */
	__u16 given_len; /* CUSTODY_F_RESOLVED: bytes in given, without the NUL; else 0 */
	/* Without CUSTODY_F_RESOLVED: the path as passed, matched as it was (the
	 * record is trimmed after path_len + NUL, rounded up to 8). With it: the
	 * opened file's path walked from its dentry up to the task's root, and
	 * given is the name as passed (relative, through a link, /proc/self/root,
	 * `//`, `..`); the record is trimmed after given. */
	char path[CUSTODY_PATH_LEN];
	char given[CUSTODY_PATH_LEN];
};

/* CUSTODY_EV_CRED operations (stable, not syscall numbers) */
#define CUSTODY_CRED_SETUID 1
#define CUSTODY_CRED_SETGID 2
#define CUSTODY_CRED_SETREUID 3
#define CUSTODY_CRED_SETREGID 4
#define CUSTODY_CRED_SETRESUID 5
#define CUSTODY_CRED_SETRESGID 6
#define CUSTODY_CRED_SETFSUID 7
#define CUSTODY_CRED_SETFSGID 8
#define CUSTODY_CRED_CAPSET 9
#define CUSTODY_CRED_SETGROUPS 10

struct custody_ids {
	__u32 uid, euid, suid, fsuid;
	__u32 gid, egid, sgid, fsgid;
};

struct custody_caps {
	__u64 effective, permitted, inheritable;
};

/* CUSTODY_EV_CRED: the call, its arguments, its result, and the task's
 * credentials before (sys_enter) and after (sys_exit). */
struct custody_cred {
	struct custody_hdr hdr;
	__u32 op;      /* CUSTODY_CRED_* */
	__s32 ret;     /* 0 or -errno (setfsuid/setfsgid: the previous fs id) */
	__u32 arg[3];  /* id arguments in call order (0xffffffff = unchanged); capset: 0;
			* setgroups: arg[0] = number of groups */
	__u32 _pad0;
	struct custody_ids old_ids;
	struct custody_ids new_ids;
	struct custody_caps old_caps;
	struct custody_caps new_caps;
};

/* CUSTODY_EV_SIGNAL: signal_generate; hdr is the sender (current). */
struct custody_signal {
	struct custody_hdr hdr;
	__u32 sig;
	__s32 si_code;  /* SI_USER 0, SI_TKILL -6, SI_KERNEL 0x80, CLD_EXITED 1 (SIGCHLD), ... */
	__u32 target_tgid;
	__u32 target_tid;
	__u64 target_start_ns;
	__s32 result;   /* TRACE_SIGNAL_DELIVERED 0, IGNORED 1, ALREADY_PENDING 2, OVERFLOW_FAIL 3, LOSE_INFO 4 */
	__u32 group;    /* 1 when sent to the whole thread group */
};

/* ---- configuration and accounting (not ring records) ---- */

/* .rodata, set by the addon before load (fixed for the life of the object). */
struct custody_config {
	__u32 kinds;          /* bitmask of (1 << CUSTODY_EV_*) to emit */
	__u32 self_tgid;      /* the recorder's own process: never recorded */
	__u8 filter_pid;      /* only tgids in map tracked_tgids (children added at fork) */
	__u8 filter_cgroup;   /* only tasks at or below a cgroup in map allowed_cgroups */
	__u8 filter_comm;     /* only tasks whose comm is in map allowed_comms */
	__u8 _pad0[5];
};

/* PERCPU_ARRAY counters[kind]; userspace sums the CPUs. */
struct custody_counters {
	__u64 emitted;
	__u64 ring_full;
	__u64 rate_limited;
	__u64 filtered;
};

/* ARRAY rate_limits[kind]: token bucket per kind per CPU; per_sec 0 = unlimited. */
struct custody_rate {
	__u64 per_sec;
	__u64 burst;
};

/* LPM_TRIE cred_prefixes key: prefixlen in bits, data = first bytes of the path. */
struct custody_prefix_key {
	__u32 prefixlen;
	__u8 data[CUSTODY_PREFIX_LEN];
};

#ifdef __cplusplus
#define CUSTODY_STATIC_ASSERT static_assert
#else
#define CUSTODY_STATIC_ASSERT _Static_assert
#endif
#define CUSTODY_WIRE_CHECK(type, size) \
	CUSTODY_STATIC_ASSERT(sizeof(struct type) == (size), #type " size changed: update wire.ts")
CUSTODY_WIRE_CHECK(custody_hdr, 56);
CUSTODY_WIRE_CHECK(custody_exec, 864);
CUSTODY_WIRE_CHECK(custody_fork, 72);
CUSTODY_WIRE_CHECK(custody_exit, 64);
CUSTODY_WIRE_CHECK(custody_tuple, 40);
CUSTODY_WIRE_CHECK(custody_sock, 224);
CUSTODY_WIRE_CHECK(custody_tcp, 104);
CUSTODY_WIRE_CHECK(custody_open, 592);
CUSTODY_WIRE_CHECK(custody_cred, 192);
CUSTODY_WIRE_CHECK(custody_signal, 88);
CUSTODY_WIRE_CHECK(custody_config, 16);
CUSTODY_WIRE_CHECK(custody_counters, 32);
CUSTODY_WIRE_CHECK(custody_rate, 16);
CUSTODY_WIRE_CHECK(custody_prefix_key, 68);

#endif /* CUSTODY_WIRE_H */
