/* SPDX-License-Identifier: GPL-2.0 */
/*
 * toa.h - shared declarations of toa.ko.
 *
 * toa_hooks.c   probes: record TOA at handshake, rewrite getname, forget on destroy
 * toa_sockopt.c getsockopt(TOA_SO_GET_PEER): the client of any record (NAT64)
 * toa_table.c   RCU hash table of records, keyed by socket
 * toa_trust.c   the trusted= list of load-balancer prefixes
 * toa_stats.c   per-netns counters and /proc/net/toa_stats (O(1) per read)
 * toa_main.c    module init/exit and parameters
 */
#ifndef TOA_H
#define TOA_H

#include <linux/in6.h>
#include <linux/rcupdate.h>	/* before list_bl.h, which needs cpu_relax() */
#include <linux/list_bl.h>
#include <linux/types.h>

#include "toa_parse.h"

struct net;
struct sock;

/*
 * One record per socket whose handshake carried a trusted TOA.  The socket
 * pointer is the key; it is compared, never dereferenced through the record.
 * The connection identity (LB address and ports as seen in the handshake)
 * lets getname() reject a record that does not belong to the socket it is
 * asked about, e.g. after a destroy probe was missed and the memory reused.
 */
struct toa_entry {
	struct hlist_bl_node node;
	const struct sock *sk;
	const struct net *net;		/* whose "entries" counts this record */
	struct in6_addr lb_addr;	/* handshake source, v4-mapped for IPv4 */
	__be16 lb_port;			/* handshake source port == sk_dport */
	u16 local_port;			/* host order, == sk_num */
	struct toa_addr toa;		/* the client address from the option */
	struct rcu_head rcu;
};

/* toa_table.c */
int toa_table_init(unsigned int bits);
void toa_table_exit(void);
struct toa_entry *toa_entry_alloc(gfp_t gfp);
void toa_table_insert(struct toa_entry *e);
bool toa_table_lookup(const struct sock *sk, struct toa_entry *copy);
void toa_table_remove(const struct sock *sk);
void toa_table_forget_net(const struct net *net);
bool toa_table_empty(void);
bool toa_entry_matches(const struct toa_entry *e, const struct sock *sk);

/* toa_trust.c */
enum toa_trust_verdict {
	TOA_TRUST_YES,		/* in trusted=, or trusted=any */
	TOA_TRUST_NO,		/* outside the trusted= prefixes */
	TOA_TRUST_UNSET,	/* trusted= not set: nothing is trusted */
};

enum toa_trust_verdict toa_trust_v4(__be32 addr);
enum toa_trust_verdict toa_trust_v6(const struct in6_addr *addr);
void toa_trust_log(void);
void toa_trust_exit(void);

/* toa_stats.c */
enum toa_counter {
	TOA_CTR_FOUND,		/* well-formed TOA on a handshake that made a socket */
	TOA_CTR_REWRITTEN,	/* accept()/getpeername() answers rewritten */
	TOA_CTR_UNTRUSTED,	/* TOA from a source outside trusted=: ignored */
	TOA_CTR_TRUSTED_UNSET,	/* TOA while trusted= is not set: ignored */
	TOA_CTR_MALFORMED,	/* bad option list or kind-254 length */
	TOA_CTR_NAT64,		/* IPv6 TOA on an IPv4 socket: recorded for the getsockopt */
	TOA_CTR_LOOKUPS,	/* getsockopt(TOA_SO_GET_PEER) answers given */
	TOA_CTR_NOMEM,		/* record allocation failed: TOA lost */
	TOA_CTR_MAX,
};

int toa_stats_init(void);
void toa_stats_exit(void);
void toa_stats_inc(const struct sock *sk, enum toa_counter ctr);
void toa_stats_entries_add(const struct net *net, long delta);
long toa_stats_entries(const struct net *net);

/* toa_hooks.c */
int toa_hooks_register(void);
void toa_hooks_unregister(void);
unsigned long toa_hooks_missed(void);

/* toa_sockopt.c */
int toa_sockopt_register(void);
void toa_sockopt_unregister(void);

#endif /* TOA_H */
