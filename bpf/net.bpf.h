/* SPDX-License-Identifier: GPL-2.0-only */
/* Network: connect/accept (syscall pairs) and TCP state changes and resets. */
#ifndef CUSTODY_NET_BPF_H
#define CUSTODY_NET_BPF_H

#include "common.bpf.h"
#include "sys.bpf.h"

#define TCP_KINDS_ON (KIND_ON(CUSTODY_EV_TCP_STATE) || KIND_ON(CUSTODY_EV_TCP_RESET))

/* Local/remote addresses of a socket. Only sock_common fields are read, so
 * this is also safe for request and time-wait sockets. */
static __always_inline void tuple_from_sk(struct custody_tuple *t, const struct sock *sk)
{
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t->family == AF_INET) {
		bpf_core_read(t->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (t->family == AF_INET6) {
		bpf_core_read(t->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline void tuple_clear(struct custody_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
}

/* Tuple of the reply to skb (an incoming segment): local = its destination. */
static __always_inline void tuple_from_skb_reply(struct custody_tuple *t, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	struct tcphdr tcp;
	__u8 version = 0;

	bpf_probe_read_kernel(&version, 1, head + nh);
	version >>= 4;
	if (version == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		t->family = AF_INET;
		__builtin_memcpy(t->saddr, &ip.daddr, 4);
		__builtin_memcpy(t->daddr, &ip.saddr, 4);
	} else if (version == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		t->family = AF_INET6;
		__builtin_memcpy(t->saddr, &ip6.daddr, 16);
		__builtin_memcpy(t->daddr, &ip6.saddr, 16);
	} else {
		return;
	}
	if (bpf_probe_read_kernel(&tcp, sizeof(tcp), head + th))
		return;
	t->sport = bpf_ntohs(tcp.dest);
	t->dport = bpf_ntohs(tcp.source);
}

static __always_inline void own_socket(const struct sock *sk)
{
	struct owner o;
	__u64 key = (__u64)sk;

	if (!sk || !TCP_KINDS_ON)
		return;
	owner_from_current(&o);
	bpf_map_update_elem(&sk_owner, &key, &o, BPF_ANY);
}

/* ---- connect ---- */

static __always_inline void connect_enter(struct pt_regs *regs, struct pending *p)
{
	void *uaddr = (void *)BPF_CORE_READ(regs, si);
	__u32 addrlen = BPF_CORE_READ(regs, dx);
	struct pending_conn *c = &p->conn;

	c->fd = BPF_CORE_READ(regs, di);
	c->family = 0;
	bpf_probe_read_user(&c->family, sizeof(c->family), uaddr);
	c->dport = 0;
	c->path_len = 0;
	__builtin_memset(c->daddr, 0, sizeof(c->daddr));
	if (c->family == AF_INET) {
		struct sockaddr_in sin = {};

		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		c->dport = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(c->daddr, &sin.sin_addr, 4);
	} else if (c->family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};

		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		c->dport = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(c->daddr, &sin6.sin6_addr, 16);
	} else if (c->family == AF_UNIX) {
		__u32 len = addrlen > 2 ? addrlen - 2 : 0;

		if (len > CUSTODY_UNIX_PATH_LEN)
			len = CUSTODY_UNIX_PATH_LEN;
		if (bpf_probe_read_user(c->path, len, uaddr + 2))
			len = 0;
		c->path_len = len;
	}
}

static __always_inline bool connect_family_wanted(__u16 family)
{
	return family == AF_INET || family == AF_INET6 || family == AF_UNIX;
}

static __always_inline void connect_exit(struct pending *p, long ret, __u64 now)
{
	struct pending_conn *c = &p->conn;
	struct custody_sock *e;
	struct sock *sk;
	__u32 size;

	e = rate_reserve(CUSTODY_EV_CONNECT, sizeof(*e), now);
	if (!e)
		return;
	size = c->family == AF_UNIX ? offsetof(struct custody_sock, path) + ROUND8(c->path_len)
				    : offsetof(struct custody_sock, path);
	fill_hdr(&e->hdr, CUSTODY_EV_CONNECT, size, now);
	e->ret = ret;
	e->fd = c->fd;
	tuple_clear(&e->tuple);
	e->path_len = 0;
	__builtin_memset(e->_pad0, 0, sizeof(e->_pad0));
	if (c->family == AF_UNIX) {
		e->tuple.family = AF_UNIX;
		e->path_len = c->path_len;
		__builtin_memcpy(e->path, c->path, sizeof(e->path));
	} else {
		sk = sock_from_fd(c->fd);
		if (sk) {
			/* local side as the socket has it now; the remote side
			 * as asked, which outlives a failed handshake */
			tuple_from_sk(&e->tuple, sk);
			e->tuple.protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
			if (e->tuple.protocol == IPPROTO_TCP)
				own_socket(sk);
		}
		e->tuple.family = c->family;
		e->tuple.dport = c->dport;
		__builtin_memcpy(e->tuple.daddr, c->daddr, sizeof(c->daddr));
	}
	submit(CUSTODY_EV_CONNECT, e);
}

/* ---- accept ---- */

static __always_inline void accept_exit(struct pending *p, long ret, __u64 now)
{
	struct custody_sock *e;
	struct sock *sk;
	__u16 family;

	if (ret < 0)
		return; /* EAGAIN on non-blocking listeners would drown everything */
	sk = sock_from_fd(ret);
	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (!connect_family_wanted(family))
		return;
	e = rate_reserve(CUSTODY_EV_ACCEPT, sizeof(*e), now);
	if (!e)
		return;
	fill_hdr(&e->hdr, CUSTODY_EV_ACCEPT, offsetof(struct custody_sock, path), now);
	e->ret = ret;
	e->fd = p->listen_fd;
	tuple_clear(&e->tuple);
	e->path_len = 0;
	__builtin_memset(e->_pad0, 0, sizeof(e->_pad0));
	if (family == AF_UNIX) {
		/* the listener's bound name, inherited by the accepted socket */
		struct unix_address *ua = BPF_CORE_READ((struct unix_sock *)sk, addr);
		int len = ua ? BPF_CORE_READ(ua, len) - 2 : 0;

		e->tuple.family = AF_UNIX;
		if (len > CUSTODY_UNIX_PATH_LEN)
			len = CUSTODY_UNIX_PATH_LEN;
		if (len > 0 && !bpf_probe_read_kernel(e->path, len, &ua->name[0].sun_path)) {
			e->path_len = len;
			e->hdr.size = offsetof(struct custody_sock, path) + ROUND8(len);
		}
	} else {
		tuple_from_sk(&e->tuple, sk);
		e->tuple.protocol = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
		if (e->tuple.protocol == IPPROTO_TCP)
			own_socket(sk);
	}
	submit(CUSTODY_EV_ACCEPT, e);
}

/* ---- TCP state and resets ---- */

/* Transitions that only happen inside a syscall of the socket's user
 * (connect, listen, close, shutdown): there `current` is the owner. */
static __always_inline bool process_context_transition(int oldstate, int newstate)
{
	return newstate == CUSTODY_TCP_SYN_SENT || newstate == CUSTODY_TCP_LISTEN ||
	       newstate == CUSTODY_TCP_FIN_WAIT1 || newstate == CUSTODY_TCP_LAST_ACK ||
	       (oldstate == CUSTODY_TCP_LISTEN && newstate == CUSTODY_TCP_CLOSE);
}

/* Emit a TCP_STATE or TCP_RESET record. Identity: the socket's recorded owner;
 * else current when the transition is known to run in the owner's syscall
 * (and then the socket is adopted); else, only when no scope filter is set,
 * an unattributed record (CUSTODY_F_NO_TASK). */
static __always_inline void tcp_emit(__u32 kind, const struct sock *sk, const struct sk_buff *skb,
				     int oldstate, int newstate, __u8 rst)
{
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 key = (__u64)sk;
	struct owner *o = sk ? bpf_map_lookup_elem(&sk_owner, &key) : NULL;
	struct owner own;
	struct custody_tcp *e;
	__u16 flags = 0;

	if (o) {
		own = *o;
		flags = CUSTODY_F_OWNER;
	} else if (sk && kind == CUSTODY_EV_TCP_STATE && process_context_transition(oldstate, newstate)) {
		if (!scope_pass(bpf_get_current_pid_tgid() >> 32)) {
			if (KIND_ON(kind))
				COUNT(kind, filtered);
			return;
		}
		owner_from_current(&own);
		bpf_map_update_elem(&sk_owner, &key, &own, BPF_ANY);
	} else if (!SCOPED) {
		__builtin_memset(&own, 0, sizeof(own));
		flags = CUSTODY_F_NO_TASK;
	} else {
		if (KIND_ON(kind))
			COUNT(kind, filtered);
		return;
	}

	if (kind == CUSTODY_EV_TCP_STATE && newstate == CUSTODY_TCP_CLOSE)
		bpf_map_delete_elem(&sk_owner, &key);
	if (!KIND_ON(kind))
		return;
	e = rate_reserve(kind, sizeof(*e), now);
	if (!e)
		return;
	e->hdr.kind = kind;
	e->hdr.size = sizeof(*e);
	e->hdr.flags = flags;
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.ts_ns = now;
	__builtin_memcpy(&e->hdr.start_ns, &own, sizeof(own));
	tuple_clear(&e->tuple);
	if (sk)
		tuple_from_sk(&e->tuple, sk);
	else if (skb)
		tuple_from_skb_reply(&e->tuple, skb);
	e->tuple.protocol = IPPROTO_TCP;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->rst = rst;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit(kind, e);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(handle_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	tcp_emit(CUSTODY_EV_TCP_STATE, sk, NULL, oldstate, newstate, 0);
	return 0;
}

/* sk is NULL for a reset answering a segment that matched no socket (e.g. a
 * SYN to a closed port); the tuple then comes from that segment. */
SEC("raw_tp/tcp_send_reset")
int BPF_PROG(handle_tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	int state = sk ? BPF_CORE_READ(sk, __sk_common.skc_state) : 0;

	tcp_emit(CUSTODY_EV_TCP_RESET, sk, sk ? NULL : skb, state, 0, CUSTODY_RST_SENT);
	return 0;
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(handle_tcp_receive_reset, struct sock *sk)
{
	tcp_emit(CUSTODY_EV_TCP_RESET, sk, NULL, BPF_CORE_READ(sk, __sk_common.skc_state), 0,
		 CUSTODY_RST_RECEIVED);
	return 0;
}

#endif /* CUSTODY_NET_BPF_H */
