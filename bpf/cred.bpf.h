/* SPDX-License-Identifier: GPL-2.0-only */
/* uid/gid/capability changes: set*id, setgroups and capset, credentials before and after. */
#ifndef CUSTODY_CRED_BPF_H
#define CUSTODY_CRED_BPF_H

#include "common.bpf.h"
#include "sys.bpf.h"

static __always_inline void read_creds(struct custody_ids *ids, struct custody_caps *caps)
{
	const struct cred *c = BPF_CORE_READ(current_task(), real_cred);

	ids->uid = BPF_CORE_READ(c, uid.val);
	ids->euid = BPF_CORE_READ(c, euid.val);
	ids->suid = BPF_CORE_READ(c, suid.val);
	ids->fsuid = BPF_CORE_READ(c, fsuid.val);
	ids->gid = BPF_CORE_READ(c, gid.val);
	ids->egid = BPF_CORE_READ(c, egid.val);
	ids->sgid = BPF_CORE_READ(c, sgid.val);
	ids->fsgid = BPF_CORE_READ(c, fsgid.val);
	/* kernel_cap_t is a u64 since 6.3 and two u32 before: same 8 bytes (LE). */
	caps->effective = 0;
	caps->permitted = 0;
	caps->inheritable = 0;
	bpf_probe_read_kernel(&caps->effective, 8, __builtin_preserve_access_index(&c->cap_effective));
	bpf_probe_read_kernel(&caps->permitted, 8, __builtin_preserve_access_index(&c->cap_permitted));
	bpf_probe_read_kernel(&caps->inheritable, 8, __builtin_preserve_access_index(&c->cap_inheritable));
}

static __always_inline __u32 cred_op(long nr)
{
	switch (nr) {
	case NR_setuid:
		return CUSTODY_CRED_SETUID;
	case NR_setgid:
		return CUSTODY_CRED_SETGID;
	case NR_setreuid:
		return CUSTODY_CRED_SETREUID;
	case NR_setregid:
		return CUSTODY_CRED_SETREGID;
	case NR_setresuid:
		return CUSTODY_CRED_SETRESUID;
	case NR_setresgid:
		return CUSTODY_CRED_SETRESGID;
	case NR_setfsuid:
		return CUSTODY_CRED_SETFSUID;
	case NR_setfsgid:
		return CUSTODY_CRED_SETFSGID;
	case NR_setgroups:
		return CUSTODY_CRED_SETGROUPS;
	default:
		return CUSTODY_CRED_CAPSET;
	}
}

static __always_inline void cred_enter(struct pt_regs *regs, long nr, struct pending *p)
{
	struct pending_cred *c = &p->cred;

	c->op = cred_op(nr);
	if (c->op == CUSTODY_CRED_CAPSET) {
		c->arg[0] = c->arg[1] = c->arg[2] = 0;
	} else if (c->op == CUSTODY_CRED_SETGROUPS) {
		c->arg[0] = BPF_CORE_READ(regs, di);
		c->arg[1] = c->arg[2] = 0;
	} else {
		c->arg[0] = BPF_CORE_READ(regs, di);
		c->arg[1] = BPF_CORE_READ(regs, si);
		c->arg[2] = BPF_CORE_READ(regs, dx);
	}
	read_creds(&c->ids, &c->caps);
}

static __always_inline void cred_exit(struct pending *p, long ret, __u64 now)
{
	struct pending_cred *c = &p->cred;
	struct custody_cred *e;

	e = rate_reserve(CUSTODY_EV_CRED, sizeof(*e), now);
	if (!e)
		return;
	fill_hdr(&e->hdr, CUSTODY_EV_CRED, sizeof(*e), now);
	e->op = c->op;
	e->ret = ret;
	e->arg[0] = c->arg[0];
	e->arg[1] = c->arg[1];
	e->arg[2] = c->arg[2];
	e->_pad0 = 0;
	e->old_ids = c->ids;
	e->old_caps = c->caps;
	read_creds(&e->new_ids, &e->new_caps);
	submit(CUSTODY_EV_CRED, e);
}

#endif /* CUSTODY_CRED_BPF_H */
