/* SPDX-License-Identifier: GPL-2.0-only */
/* Process lifecycle: exec, fork (and the pid tree), exit. */
#ifndef CUSTODY_PROC_BPF_H
#define CUSTODY_PROC_BPF_H

#include "common.bpf.h"
#include "sys.bpf.h"

SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task, *parent;
	struct custody_exec *e;
	struct mm_struct *mm;
	__u64 uid_gid, args_len;
	long n;

	if (!KIND_ON(CUSTODY_EV_EXEC))
		return 0;
	e = admit_reserve(CUSTODY_EV_EXEC, tgid, sizeof(*e), now);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, CUSTODY_EV_EXEC, sizeof(*e), now);

	task = current_task();
	parent = BPF_CORE_READ(task, real_parent);
	e->ppid = BPF_CORE_READ(parent, tgid);
	e->parent_start_ns = leader_start(parent);
	uid_gid = bpf_get_current_uid_gid();
	e->uid = (__u32)uid_gid;
	e->gid = uid_gid >> 32;
	e->euid = BPF_CORE_READ(task, real_cred, euid.val);
	e->egid = BPF_CORE_READ(task, real_cred, egid.val);
	e->argc = BPF_CORE_READ(bprm, argc);
	e->old_tid = old_pid;

	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	e->filename_len = n > 0 ? n - 1 : 0;
	if (n == sizeof(e->filename))
		e->hdr.flags |= CUSTODY_F_TRUNCATED;

	/* argv lives NUL-separated in the new image's stack, [arg_start, arg_end):
	 * one bounded read, split by userspace. */
	mm = BPF_CORE_READ(task, mm);
	args_len = BPF_CORE_READ(mm, arg_end) - BPF_CORE_READ(mm, arg_start);
	if (args_len > CUSTODY_ARGS_LEN) {
		args_len = CUSTODY_ARGS_LEN;
		e->hdr.flags |= CUSTODY_F_TRUNCATED;
	}
	if (bpf_probe_read_user(e->args, args_len, (void *)BPF_CORE_READ(mm, arg_start)))
		args_len = 0;
	e->args_len = args_len;
	e->hdr.size = offsetof(struct custody_exec, args) + ROUND8(args_len);
	submit(CUSTODY_EV_EXEC, e);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	struct custody_fork *e;
	__u64 now;

	if (child_tgid != BPF_CORE_READ(child, pid))
		return 0; /* a new thread, not a new process */

	/* Pid tree: the child of a tracked process is tracked, before it runs. */
	if (custody_cfg.filter_pid && bpf_map_lookup_elem(&tracked_tgids, &parent_tgid)) {
		__u32 one = 1;

		bpf_map_update_elem(&tracked_tgids, &child_tgid, &one, BPF_ANY);
	}

	if (!KIND_ON(CUSTODY_EV_FORK))
		return 0;
	now = bpf_ktime_get_boot_ns();
	e = admit_reserve(CUSTODY_EV_FORK, parent_tgid, sizeof(*e), now);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, CUSTODY_EV_FORK, sizeof(*e), now);
	e->child_start_ns = BPF_CORE_READ(child, start_boottime);
	e->child_tgid = child_tgid;
	e->parent_tgid = parent_tgid;
	submit(CUSTODY_EV_FORK, e);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, tgid = pid_tgid >> 32;
	struct task_struct *task = current_task();
	struct signal_struct *sig;
	struct custody_exit *e;
	__u64 now;

	/* A thread that dies inside a traced syscall leaves its entry behind. */
	if (SYSCALL_KINDS_ON)
		bpf_map_delete_elem(&pending, &tid);

	/* Only when the whole process is gone: signal->live was decremented
	 * before this tracepoint, so 0 means this is the last thread. */
	sig = BPF_CORE_READ(task, signal);
	if (BPF_CORE_READ(sig, live.counter) != 0)
		return 0;

	if (KIND_ON(CUSTODY_EV_EXIT)) {
		now = bpf_ktime_get_boot_ns();
		e = admit_reserve(CUSTODY_EV_EXIT, tgid, sizeof(*e), now);
		if (e) {
			fill_hdr(&e->hdr, CUSTODY_EV_EXIT, sizeof(*e), now);
			/* What wait(2) will report for the process. */
			if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
				e->status = BPF_CORE_READ(sig, group_exit_code);
			else
				e->status = BPF_CORE_READ(task, exit_code);
			e->leader = tid == tgid;
			submit(CUSTODY_EV_EXIT, e);
		}
	}

	if (custody_cfg.filter_pid)
		bpf_map_delete_elem(&tracked_tgids, &tgid);
	return 0;
}

#endif /* CUSTODY_PROC_BPF_H */
