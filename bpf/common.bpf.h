/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by every custody program: configuration, maps, the in-kernel filter
 * chain and the emit helpers. Every program follows the same order:
 *
 *   kind enabled (rodata) -> scope filter -> rate limit -> reserve -> fill -> submit
 *
 * and every way out before submit bumps a per-kind per-CPU counter, so a drop
 * is never silent: filtered, rate_limited, ring_full, emitted.
 */
#ifndef CUSTODY_COMMON_BPF_H
#define CUSTODY_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "custody_wire.h"

#define NSEC_PER_SEC 1000000000ULL
#define MAX_CGROUP_DEPTH 16
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define AT_FDCWD -100
#define TS_COMPAT 0x0002         /* arch/x86/include/asm/thread_info.h */
#define SIGNAL_GROUP_EXIT 0x0004 /* include/linux/sched/signal.h */
#define S_IFMT 00170000
#define S_IFSOCK 0140000

#define ROUND8(x) (((x) + 7) & ~7U)

/* Set by the addon before load; see struct custody_config. */
const volatile struct custody_config custody_cfg = {};

#define KIND_ON(k) (custody_cfg.kinds & (1U << (k)))
#define SCOPED (custody_cfg.filter_pid || custody_cfg.filter_cgroup || custody_cfg.filter_comm)

/* The one ring buffer every program writes to; size set by the addon. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CUSTODY_EV_MAX);
	__type(key, __u32);
	__type(value, struct custody_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CUSTODY_EV_MAX);
	__type(key, __u32);
	__type(value, struct custody_rate);
} rate_limits SEC(".maps");

struct rate_bucket {
	__u64 tokens; /* in 1e-9 events */
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CUSTODY_EV_MAX);
	__type(key, __u32);
	__type(value, struct rate_bucket);
} buckets SEC(".maps");

/* Pid tree: tgids in scope. Userspace seeds it; fork adds children; exit removes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} tracked_tgids SEC(".maps");

/* Cgroup v2 ids whose subtree is in scope. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} allowed_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[CUSTODY_COMM_LEN]);
	__type(value, __u8);
} allowed_comms SEC(".maps");

/* Credential path prefixes: longest-prefix match on the first 64 path bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct custody_prefix_key);
	__type(value, __u32);
} cred_prefixes SEC(".maps");

/* Who a socket belongs to: softirq-side TCP events (SYN-ACK, RST, timeouts)
 * run with an unrelated `current`, so identity comes from here. Keyed by the
 * struct sock address, which never leaves the kernel. */
struct owner {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 tgid;
	__u32 tid;
	char comm[CUSTODY_COMM_LEN];
};
_Static_assert(sizeof(struct owner) == sizeof(struct custody_hdr) - __builtin_offsetof(struct custody_hdr, start_ns),
	       "struct owner mirrors the tail of custody_hdr");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct owner);
} sk_owner SEC(".maps");

/* ---- counters ---- */

#define COUNT(kind, field)                                                     \
	do {                                                                   \
		__u32 k_ = (kind);                                             \
		struct custody_counters *c_ = bpf_map_lookup_elem(&counters, &k_); \
		if (c_)                                                        \
			__sync_fetch_and_add(&c_->field, 1);                   \
	} while (0)

/* ---- filters ---- */

static __always_inline bool cgroup_pass(void)
{
	/* Level 0 is the root; walk down to the task's own cgroup. */
	for (int level = 0; level < MAX_CGROUP_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		if (bpf_map_lookup_elem(&allowed_cgroups, &id))
			return true;
	}
	return false;
}

/* Scope of the current task: pid tree AND cgroup subtree AND comm (each only
 * when enabled in custody_cfg); the recorder itself is never in scope. */
static __always_inline bool scope_pass(__u32 tgid)
{
	if (tgid == custody_cfg.self_tgid)
		return false;
	if (custody_cfg.filter_pid && !bpf_map_lookup_elem(&tracked_tgids, &tgid))
		return false;
	if (custody_cfg.filter_comm) {
		char comm[CUSTODY_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (!bpf_map_lookup_elem(&allowed_comms, comm))
			return false;
	}
	if (custody_cfg.filter_cgroup && !cgroup_pass())
		return false;
	return true;
}

/* Token bucket per kind per CPU. */
static __always_inline bool rate_pass(__u32 kind, __u64 now)
{
	struct custody_rate *r = bpf_map_lookup_elem(&rate_limits, &kind);
	struct rate_bucket *b;
	__u64 elapsed, tokens, cap;

	if (!r || !r->per_sec)
		return true;
	b = bpf_map_lookup_elem(&buckets, &kind);
	if (!b)
		return true;
	/* per_sec and burst are at most 1e6 (checked by the addon), so
	 * elapsed * per_sec stays far below 2^64 with this cap. */
	elapsed = now - b->last_ns;
	if (elapsed > 10000ULL * NSEC_PER_SEC)
		elapsed = 10000ULL * NSEC_PER_SEC;
	cap = (r->burst ? r->burst : 1) * NSEC_PER_SEC;
	tokens = b->tokens + elapsed * r->per_sec;
	if (tokens > cap)
		tokens = cap;
	b->last_ns = now;
	if (tokens < NSEC_PER_SEC) {
		b->tokens = tokens;
		return false;
	}
	b->tokens = tokens - NSEC_PER_SEC;
	return true;
}

/* ---- emit ---- */

static __always_inline void *reserve(__u32 kind, __u32 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);

	if (!e)
		COUNT(kind, ring_full);
	return e;
}

/* For events whose scope was decided earlier (at sys_enter, or by a socket's
 * owner): the rate limit, then the reservation. */
static __always_inline void *rate_reserve(__u32 kind, __u32 size, __u64 now)
{
	if (!rate_pass(kind, now)) {
		COUNT(kind, rate_limited);
		return NULL;
	}
	return reserve(kind, size);
}

/* The whole decision for an event about the current task: scope, rate, reserve. */
static __always_inline void *admit_reserve(__u32 kind, __u32 tgid, __u32 size, __u64 now)
{
	if (!scope_pass(tgid)) {
		COUNT(kind, filtered);
		return NULL;
	}
	return rate_reserve(kind, size, now);
}

/*
 * Wakeups: by default the kernel wakes the reader whenever a record lands in
 * an empty ring, which in a slow stream (an exec loop) is every record: a
 * context switch per event on the same CPUs as the workload. The reader polls
 * every few milliseconds anyway (flushMs), so records go in without a wakeup
 * until the ring is a quarter full; then the reader is woken at once.
 */
static __always_inline void submit(__u32 kind, void *e)
{
	__u64 wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4;

	bpf_ringbuf_submit(e, wake ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	COUNT(kind, emitted);
}

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline void fill_hdr(struct custody_hdr *h, __u32 kind, __u32 size, __u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->kind = kind;
	h->size = size;
	h->flags = 0;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = now;
	h->start_ns = leader_start(current_task());
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->tgid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void owner_from_current(struct owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	o->start_ns = leader_start(current_task());
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->tgid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

#endif /* CUSTODY_COMMON_BPF_H */
