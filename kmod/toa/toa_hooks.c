// SPDX-License-Identifier: GPL-2.0
/*
 * toa_hooks.c - the probes, and nothing else.
 *
 * Everything is hooked through the kernel's probe API, by symbol name:
 *
 *  tcp_v4_syn_recv_sock, tcp_v6_syn_recv_sock (kretprobes)
 *	The segment that completes the handshake is the skb argument; the new
 *	child socket is the return value.  The entry handler keeps the skb and
 *	the own_req pointer, the return handler parses the TOA and records it
 *	for the child.  A v4-mapped handshake on a dual-stack listener runs
 *	tcp_v4_syn_recv_sock() from inside tcp_v6_syn_recv_sock(); the v6 probe
 *	leaves IPv4 segments to the v4 probe so each child is recorded once.
 *
 *  inet_getname, inet6_getname (kretprobes)
 *	accept() (peer == 2) and getpeername() (peer == 1) fill a kernel
 *	sockaddr through these before copying it to user space.  When the
 *	socket has a record, the return handler overwrites the address and
 *	port in that kernel buffer.  An IPv4 client on an IPv6 socket is
 *	written as ::ffff:a.b.c.d.  An IPv6 client on an IPv4 socket (NAT64)
 *	cannot be written: the answer stays the balancer's, and the client is
 *	for getsockopt(TOA_SO_GET_PEER) (toa_sockopt.c).
 *
 *  __sk_destruct (kprobe)
 *	The last step of freeing any struct sock, reached through sk_destruct()
 *	by every path (sk_free(), sock_wfree(), RCU-deferred frees), including
 *	children that were never accepted or never reached tcp_close().  It
 *	runs once the last reference is gone, so no getname() can race with
 *	it, and before the memory can be reused for another socket.  Its only
 *	argument is &sk->sk_rcu.  (tcp_v4_destroy_sock would miss children
 *	that lost the ehash race: those are destroyed inside syn_recv_sock,
 *	before our return handler runs.)
 *
 * No kernel text or data is written, no symbol is resolved outside the probe
 * API, and sockets are never modified: the records live in toa_table.c.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/kprobes.h>
#include <linux/minmax.h>
#include <linux/net.h>
#include <linux/ptrace.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "toa.h"

/* ---- handshake: record ------------------------------------------------ */

struct toa_syn_recv_data {
	const struct sock *listener;
	const struct sk_buff *skb;
	const bool *own_req;
};

static int toa_syn_recv_entry(struct kretprobe_instance *ri,
			      struct pt_regs *regs)
{
	struct toa_syn_recv_data *d = (struct toa_syn_recv_data *)ri->data;

	/*
	 * struct sock *syn_recv_sock(const struct sock *sk, struct sk_buff *skb,
	 *	struct request_sock *req, struct dst_entry *dst,
	 *	struct request_sock *req_unhash, bool *own_req)
	 */
	d->listener = (const struct sock *)regs_get_kernel_argument(regs, 0);
	d->skb = (const struct sk_buff *)regs_get_kernel_argument(regs, 1);
	d->own_req = (const bool *)regs_get_kernel_argument(regs, 5);
	return 0;
}

#if IS_ENABLED(CONFIG_IPV6)
static int toa_syn_recv6_entry(struct kretprobe_instance *ri,
			       struct pt_regs *regs)
{
	const struct sk_buff *skb;

	skb = (const struct sk_buff *)regs_get_kernel_argument(regs, 1);
	if (skb->protocol == htons(ETH_P_IP))
		return 1;	/* mapped: the nested v4 call records it */
	return toa_syn_recv_entry(ri, regs);
}
#endif

/* The handshake's source (the LB address), and whether trusted= trusts it. */
static enum toa_trust_verdict toa_skb_source(const struct sk_buff *skb,
					     struct in6_addr *src)
{
	if (skb->protocol == htons(ETH_P_IP)) {
		ipv6_addr_set_v4mapped(ip_hdr(skb)->saddr, src);
		return toa_trust_v4(ip_hdr(skb)->saddr);
	}
	*src = ipv6_hdr(skb)->saddr;
	return toa_trust_v6(src);
}

static void toa_record(const struct sock *listener, const struct sock *child,
		       const struct sk_buff *skb)
{
	const unsigned char *th = skb_transport_header(skb);
	const struct tcphdr *tcph = (const struct tcphdr *)th;
	struct toa_entry *e;
	struct toa_addr toa;
	struct in6_addr src;
	unsigned int flags;

	/* tcp_v{4,6}_rcv() pulled the whole header into the linear part. */
	if (th < skb->head || th >= skb_tail_pointer(skb))
		return;
	flags = toa_parse_tcp(th, skb_tail_pointer(skb) - th, &toa);
	if (flags)
		toa_stats_inc(listener, TOA_CTR_MALFORMED);
	if (toa.family == TOA_NONE)
		return;

	toa_stats_inc(listener, TOA_CTR_FOUND);
	switch (toa_skb_source(skb, &src)) {
	case TOA_TRUST_YES:
		break;
	case TOA_TRUST_NO:
		toa_stats_inc(listener, TOA_CTR_UNTRUSTED);
		return;
	case TOA_TRUST_UNSET:
		toa_stats_inc(listener, TOA_CTR_TRUSTED_UNSET);
		return;
	}

	e = toa_entry_alloc(GFP_ATOMIC);
	if (!e) {
		toa_stats_inc(listener, TOA_CTR_NOMEM);
		return;
	}
	/*
	 * NAT64: an IPv6 client on an IPv4 socket.  getname() cannot show it
	 * (an AF_INET sockaddr holds no IPv6 address) and leaves the answer
	 * alone; the record is for getsockopt(TOA_SO_GET_PEER).
	 */
	if (toa.family == TOA_IPV6 && child->sk_family != AF_INET6)
		toa_stats_inc(listener, TOA_CTR_NAT64);
	e->sk = child;
	e->net = sock_net(child);
	e->lb_addr = src;
	e->lb_port = tcph->source;
	e->local_port = ntohs(tcph->dest);
	e->toa = toa;
	toa_table_insert(e);
}

static int toa_syn_recv_ret(struct kretprobe_instance *ri,
			    struct pt_regs *regs)
{
	struct toa_syn_recv_data *d = (struct toa_syn_recv_data *)ri->data;
	struct sock *child = (struct sock *)regs_return_value(regs);

	/*
	 * No own_req: another CPU won the race for this request and the child
	 * was already destroyed inside syn_recv_sock; it never reaches accept.
	 */
	if (!child || !d->own_req || !*d->own_req)
		return 0;
	toa_record(d->listener, child, d->skb);
	return 0;
}

/* ---- getname: rewrite -------------------------------------------------- */

struct toa_getname_data {
	struct sock *sk;
	struct sockaddr *uaddr;
};

static int toa_getname_entry(struct kretprobe_instance *ri,
			     struct pt_regs *regs)
{
	struct toa_getname_data *d = (struct toa_getname_data *)ri->data;
	struct socket *sock;
	struct toa_entry e;

	/* int getname(struct socket *sock, struct sockaddr *uaddr, int peer) */
	if (!(int)regs_get_kernel_argument(regs, 2) || toa_table_empty())
		return 1;
	sock = (struct socket *)regs_get_kernel_argument(regs, 0);
	if (!sock || !sock->sk || !toa_table_lookup(sock->sk, &e))
		return 1;	/* no record: skip the return probe */
	d->sk = sock->sk;
	d->uaddr = (struct sockaddr *)regs_get_kernel_argument(regs, 1);
	return 0;
}

/* Look the record up again: nothing may be held across the call. */
static bool toa_getname_record(const struct toa_getname_data *d,
			       struct pt_regs *regs, struct toa_entry *e)
{
	if ((int)regs_return_value(regs) < 0)
		return false;
	if (!toa_table_lookup(d->sk, e))
		return false;
	if (!toa_entry_matches(e, d->sk)) {
		/* The socket now carries another connection. */
		toa_table_remove(d->sk);
		return false;
	}
	return true;
}

static int toa_getname4_ret(struct kretprobe_instance *ri,
			    struct pt_regs *regs)
{
	struct toa_getname_data *d = (struct toa_getname_data *)ri->data;
	struct sockaddr_in *sin = (struct sockaddr_in *)d->uaddr;
	struct toa_entry e;

	if (!toa_getname_record(d, regs, &e))
		return 0;
	if (sin->sin_family != AF_INET || e.toa.family != TOA_IPV4)
		return 0;
	memcpy(&sin->sin_port, e.toa.port, sizeof(sin->sin_port));
	memcpy(&sin->sin_addr.s_addr, e.toa.addr, sizeof(sin->sin_addr.s_addr));
	toa_stats_inc(d->sk, TOA_CTR_REWRITTEN);
	return 0;
}

#if IS_ENABLED(CONFIG_IPV6)
static int toa_getname6_ret(struct kretprobe_instance *ri,
			    struct pt_regs *regs)
{
	struct toa_getname_data *d = (struct toa_getname_data *)ri->data;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)d->uaddr;
	struct toa_entry e;
	__be32 addr4;

	if (!toa_getname_record(d, regs, &e))
		return 0;
	if (sin6->sin6_family != AF_INET6)
		return 0;
	if (e.toa.family == TOA_IPV4) {
		memcpy(&addr4, e.toa.addr, sizeof(addr4));
		ipv6_addr_set_v4mapped(addr4, &sin6->sin6_addr);
	} else {
		memcpy(&sin6->sin6_addr, e.toa.addr, sizeof(sin6->sin6_addr));
	}
	memcpy(&sin6->sin6_port, e.toa.port, sizeof(sin6->sin6_port));
	sin6->sin6_scope_id = 0;	/* the client is not on our link */
	toa_stats_inc(d->sk, TOA_CTR_REWRITTEN);
	return 0;
}
#endif

/* ---- destroy: forget ------------------------------------------------- */

static int toa_destroy_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct rcu_head *head;

	/* static void __sk_destruct(struct rcu_head *head) */
	if (toa_table_empty())
		return 0;
	head = (struct rcu_head *)regs_get_kernel_argument(regs, 0);
	toa_table_remove(container_of(head, struct sock, sk_rcu));
	return 0;
}

/* ---- registration ---------------------------------------------------- */

static struct kprobe toa_destroy_probe = {
	.symbol_name = "__sk_destruct",
	.pre_handler = toa_destroy_pre,
};

static struct kretprobe toa_syn_recv4_probe = {
	.kp.symbol_name = "tcp_v4_syn_recv_sock",
	.entry_handler = toa_syn_recv_entry,
	.handler = toa_syn_recv_ret,
	.data_size = sizeof(struct toa_syn_recv_data),
};

#if IS_ENABLED(CONFIG_IPV6)
static struct kretprobe toa_syn_recv6_probe = {
	.kp.symbol_name = "tcp_v6_syn_recv_sock",
	.entry_handler = toa_syn_recv6_entry,
	.handler = toa_syn_recv_ret,
	.data_size = sizeof(struct toa_syn_recv_data),
};
#endif

static struct kretprobe toa_getname4_probe = {
	.kp.symbol_name = "inet_getname",
	.entry_handler = toa_getname_entry,
	.handler = toa_getname4_ret,
	.data_size = sizeof(struct toa_getname_data),
};

#if IS_ENABLED(CONFIG_IPV6)
static struct kretprobe toa_getname6_probe = {
	.kp.symbol_name = "inet6_getname",
	.entry_handler = toa_getname_entry,
	.handler = toa_getname6_ret,
	.data_size = sizeof(struct toa_getname_data),
};
#endif

/* Registration order: the destroy probe before anything can be recorded. */
static struct kretprobe *toa_syn_recv_probes[] = {
	&toa_syn_recv4_probe,
#if IS_ENABLED(CONFIG_IPV6)
	&toa_syn_recv6_probe,
#endif
};

static struct kretprobe *toa_getname_probes[] = {
	&toa_getname4_probe,
#if IS_ENABLED(CONFIG_IPV6)
	&toa_getname6_probe,
#endif
};

int toa_hooks_register(void)
{
	unsigned int cpus = num_possible_cpus();
	unsigned int i;
	int err;

	/*
	 * Concurrent instances per probe.  syn_recv_sock runs in softirq, so
	 * a few per CPU suffice; getname sleeps in lock_sock(), so allow many.
	 * A shortfall shows up as "missed" in toa_stats.
	 */
	for (i = 0; i < ARRAY_SIZE(toa_syn_recv_probes); i++)
		toa_syn_recv_probes[i]->maxactive = max(16U, 4 * cpus);
	for (i = 0; i < ARRAY_SIZE(toa_getname_probes); i++)
		toa_getname_probes[i]->maxactive = max(256U, 16 * cpus);

	err = register_kprobe(&toa_destroy_probe);
	if (err) {
		pr_err("cannot probe %s: %d\n", toa_destroy_probe.symbol_name, err);
		return err;
	}
	err = register_kretprobes(toa_syn_recv_probes,
				  ARRAY_SIZE(toa_syn_recv_probes));
	if (err) {
		pr_err("cannot probe tcp_v4/v6_syn_recv_sock: %d\n", err);
		goto err_destroy;
	}
	err = register_kretprobes(toa_getname_probes,
				  ARRAY_SIZE(toa_getname_probes));
	if (err) {
		pr_err("cannot probe inet_getname/inet6_getname: %d\n", err);
		goto err_syn_recv;
	}
	return 0;

err_syn_recv:
	unregister_kretprobes(toa_syn_recv_probes, ARRAY_SIZE(toa_syn_recv_probes));
err_destroy:
	unregister_kprobe(&toa_destroy_probe);
	return err;
}

/*
 * Reverse order: stop rewriting, stop recording, then stop forgetting.
 * Each unregister waits until no handler of that probe is running; pending
 * return probes of sleeping getname() calls are disarmed, not run.
 *
 * Why the static struct kretprobes and their handlers may go away with the
 * module although getname() calls that entered a probe are still asleep in
 * lock_sock() (x86 6.1 and 6.12 build kretprobes on rethook): each pending
 * return holds a rethook node, allocated and refcounted by the kernel, not
 * by us.  unregister_kretprobes() clears the rethook's handler, then waits
 * for an RCU grace period.  The return trampoline reads that handler with
 * preemption off, so a return either ran its handler (and reached ours
 * through rp) before unregister returned, or finds the handler NULL and only
 * recycles its node.  Nothing dereferences our kretprobe or code afterwards.
 *
 * Unloading under getname() load was seen to crash in the qemu tests, but
 * not here: the probes on function entries are ftrace-based, unregistering
 * re-patches the ftrace call site of the hot function with text_poke_bp(),
 * and under multi-threaded TCG a vCPU could still execute that INT3 after
 * the patching (and its CPU sync) had finished.  6.1 hands such a "ghost"
 * INT3 to kprobe_int3_handler(), which takes it for a hit of our still
 * registered ftrace kprobe and jumps to its (NULL) single-step slot; 6.12
 * oopses on the unhandled INT3.  No probe API choice avoids that (every
 * entry probe is ftrace-based there), so tests/kmod/run_qemu.sh runs TCG
 * single-threaded; see docs/toa.md, "Unload".
 */
void toa_hooks_unregister(void)
{
	unregister_kretprobes(toa_getname_probes, ARRAY_SIZE(toa_getname_probes));
	unregister_kretprobes(toa_syn_recv_probes, ARRAY_SIZE(toa_syn_recv_probes));
	unregister_kprobe(&toa_destroy_probe);
}

unsigned long toa_hooks_missed(void)
{
	unsigned long missed = toa_destroy_probe.nmissed;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(toa_syn_recv_probes); i++)
		missed += toa_syn_recv_probes[i]->nmissed +
			  toa_syn_recv_probes[i]->kp.nmissed;
	for (i = 0; i < ARRAY_SIZE(toa_getname_probes); i++)
		missed += toa_getname_probes[i]->nmissed +
			  toa_getname_probes[i]->kp.nmissed;
	return missed;
}
