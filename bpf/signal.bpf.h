/* SPDX-License-Identifier: GPL-2.0-only */
/* Signals: signal_generate, in the sender's context for kill/tkill/tgkill. */
#ifndef CUSTODY_SIGNAL_BPF_H
#define CUSTODY_SIGNAL_BPF_H

#include "common.bpf.h"

#define SI_USER 0
#define SI_KERNEL 0x80
#define CUSTODY_SIGCHLD 17

SEC("raw_tp/signal_generate")
int BPF_PROG(handle_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 target_tgid = BPF_CORE_READ(task, tgid);
	struct custody_signal *e;
	int si_code;

	/* as the tracepoint itself does: SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) */
	if ((unsigned long)info == 0)
		si_code = SI_USER;
	else if ((unsigned long)info == 1)
		si_code = SI_KERNEL;
	else
		si_code = BPF_CORE_READ(info, si_code);
	/* The SIGCHLD the kernel sends a parent for a child's exit or stop (si_code CLD_*, > 0)
	 * repeats what the exit row shows, once per process: counted as filtered, not recorded.
	 * A SIGCHLD a process sends (kill, sigqueue: si_code <= 0) is recorded like any signal. */
	if (sig == CUSTODY_SIGCHLD && si_code > 0 && si_code != SI_KERNEL) {
		COUNT(CUSTODY_EV_SIGNAL, filtered);
		return 0;
	}
	/* In scope when the sender is, or when a tracked process is the target
	 * (a signal from outside the tree into it is evidence too). */
	if (!scope_pass(tgid) &&
	    !(custody_cfg.filter_pid && bpf_map_lookup_elem(&tracked_tgids, &target_tgid))) {
		COUNT(CUSTODY_EV_SIGNAL, filtered);
		return 0;
	}
	e = rate_reserve(CUSTODY_EV_SIGNAL, sizeof(*e), now);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, CUSTODY_EV_SIGNAL, sizeof(*e), now);
	e->sig = sig;
	e->si_code = si_code;
	e->target_tgid = target_tgid;
	e->target_tid = BPF_CORE_READ(task, pid);
	e->target_start_ns = leader_start(task);
	e->result = result;
	e->group = group;
	submit(CUSTODY_EV_SIGNAL, e);
	return 0;
}

#endif /* CUSTODY_SIGNAL_BPF_H */
