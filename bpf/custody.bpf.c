// SPDX-License-Identifier: GPL-2.0-only
/*
 * custody kernel capture: one object, one ring buffer (`events`), one program
 * per tracepoint. Every attach point is a raw tracepoint (no tracefs, no
 * kprobes, no fentry needed). The addon attaches only the programs the
 * enabled kinds need and leaves the others unloaded.
 *
 *   handle_exec                 sched_process_exec   EXEC
 *   handle_fork                 sched_process_fork   FORK, pid tree
 *   handle_exit                 sched_process_exit   EXIT, pid tree, pending cleanup
 *   handle_sys_enter/_exit      sys_enter/sys_exit   CONNECT, ACCEPT, OPEN, CRED
 *                                                    (OPEN: matched as passed at enter,
 *                                                    else on the opened file's path at exit)
 *   handle_inet_sock_set_state  inet_sock_set_state  TCP_STATE, socket owners
 *   handle_tcp_send_reset       tcp_send_reset       TCP_RESET
 *   handle_tcp_receive_reset    tcp_receive_reset    TCP_RESET
 *   handle_signal_generate      signal_generate      SIGNAL
 *
 * sys_enter and sys_exit run for every syscall on the machine, so each is a
 * single dispatcher that returns after one switch for the calls it ignores.
 */
#include "common.bpf.h"
#include "sys.bpf.h"
#include "proc.bpf.h"
#include "net.bpf.h"
#include "file.bpf.h"
#include "cred.bpf.h"
#include "signal.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long nr)
{
	__u32 kind = syscall_kind(nr);
	__u64 pid_tgid;
	__u32 tid;
	struct pending *p;

	if (!kind || !KIND_ON(kind))
		return 0;
	if (task_is_compat(current_task()))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	if (!scope_pass(pid_tgid >> 32)) {
		COUNT(kind, filtered);
		return 0;
	}
	p = scratch_entry();
	if (!p)
		return 0;
	p->nr = nr;
	switch (kind) {
	case CUSTODY_EV_CONNECT:
		connect_enter(regs, p);
		if (!connect_family_wanted(p->conn.family))
			return 0;
		break;
	case CUSTODY_EV_ACCEPT:
		p->listen_fd = BPF_CORE_READ(regs, di);
		break;
	case CUSTODY_EV_OPEN:
		/* Not a credential path as passed: sys_exit matches the opened file's own path. */
		if (!open_enter(regs, nr, p))
			return 0;
		break;
	case CUSTODY_EV_CRED:
		cred_enter(regs, nr, p);
		break;
	default:
		return 0;
	}
	tid = (__u32)pid_tgid;
	bpf_map_update_elem(&pending, &tid, p, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	__u32 kind = syscall_kind(nr);
	__u64 pid_tgid;
	__u32 tid;
	struct pending *p;
	__u64 now;

	if (!kind || !KIND_ON(kind))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p) {
		/* An open that did not match as passed (sys_enter kept nothing). */
		if (kind != CUSTODY_EV_OPEN || task_is_compat(current_task()) || !scope_pass(pid_tgid >> 32))
			return 0;
		if (!open_resolved_exit(regs, nr, ret, bpf_ktime_get_boot_ns()))
			COUNT(kind, filtered);
		return 0;
	}
	if (p->nr == nr) {
		now = bpf_ktime_get_boot_ns();
		switch (kind) {
		case CUSTODY_EV_CONNECT:
			connect_exit(p, ret, now);
			break;
		case CUSTODY_EV_ACCEPT:
			accept_exit(p, ret, now);
			break;
		case CUSTODY_EV_OPEN:
			open_exit(p, ret, now);
			break;
		case CUSTODY_EV_CRED:
			cred_exit(p, ret, now);
			break;
		}
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
