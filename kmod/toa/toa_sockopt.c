// SPDX-License-Identifier: GPL-2.0
/*
 * toa_sockopt.c - getsockopt(fd, IPPROTO_IP, TOA_SO_GET_PEER, ...): the
 * client address of a TOA record, for the sockets whose getpeername() cannot
 * show it (NAT64: an IPv6 client on an IPv4 socket).  Layout, errors and an
 * example are in toa_user.h and docs/toa.md.
 *
 * The option is registered with netfilter's nf_register_sockopt(), the
 * kernel's interface for modules that add IPv4 socket options (iptables and
 * IPVS use it): an IPPROTO_IP getsockopt that ip_getsockopt() does not know
 * is handed to the registered range, on AF_INET sockets and, through
 * ipv6_getsockopt(), on AF_INET6 ones.  It is a real registration, not a
 * probe: no kernel text is patched.  While the handler runs netfilter holds
 * a reference on this module, so rmmod cannot free it under a caller (it
 * fails with EAGAIN instead, for that instant).
 *
 * Called in process context of the calling task, without the socket lock:
 * the record is read under RCU and copied, as the getname probes do.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "toa.h"
#include "toa_user.h"

static int toa_sockopt_get(struct sock *sk, int optval, void __user *user,
			   int *len)
{
	struct toa_peer peer;
	struct toa_entry e;
	__be32 addr4;

	if (optval != TOA_SO_GET_PEER)
		return -ENOPROTOOPT;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return -ENOPROTOOPT;
	/* Signed on purpose: a negative length is a short one. */
	if (*len < (int)sizeof(peer))
		return -EINVAL;
	/* What inet_getname() says for the peer of such a socket. */
	if (!READ_ONCE(sk->sk_dport) ||
	    ((1 << READ_ONCE(sk->sk_state)) & (TCPF_CLOSE | TCPF_SYN_SENT)))
		return -ENOTCONN;
	if (toa_table_empty() || !toa_table_lookup(sk, &e))
		return -ENOENT;
	if (!toa_entry_matches(&e, sk)) {
		/* The socket now carries another connection. */
		toa_table_remove(sk);
		return -ENOENT;
	}

	memset(&peer, 0, sizeof(peer));
	if (e.toa.family == TOA_IPV4) {
		memcpy(&addr4, e.toa.addr, sizeof(addr4));
		ipv6_addr_set_v4mapped(addr4, &peer.addr);
		peer.family = AF_INET;
	} else {
		memcpy(&peer.addr, e.toa.addr, sizeof(peer.addr));
		peer.family = AF_INET6;
	}
	memcpy(&peer.port, e.toa.port, sizeof(peer.port));
	if (copy_to_user(user, &peer, sizeof(peer)))
		return -EFAULT;
	*len = sizeof(peer);
	toa_stats_inc(sk, TOA_CTR_LOOKUPS);
	return 0;
}

static struct nf_sockopt_ops toa_sockopt_ops = {
	.pf = PF_INET,
	.get_optmin = TOA_SO_GET_PEER,
	.get_optmax = TOA_SO_GET_PEER + 1,	/* exclusive */
	.get = toa_sockopt_get,
	.owner = THIS_MODULE,
};

int toa_sockopt_register(void)
{
	int err = nf_register_sockopt(&toa_sockopt_ops);

	/* -EBUSY: another module (DPVS's toa.ko?) holds the number. */
	if (err)
		pr_err("cannot register getsockopt %d (TOA_SO_GET_PEER): %d\n",
		       TOA_SO_GET_PEER, err);
	return err;
}

void toa_sockopt_unregister(void)
{
	nf_unregister_sockopt(&toa_sockopt_ops);
}
