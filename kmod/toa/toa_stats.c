// SPDX-License-Identifier: GPL-2.0
/*
 * toa_stats.c - per-network-namespace counters in /proc/net/toa_stats.
 *
 * One "name value" pair per line.  Counters are per netns (the netns of the
 * listening socket, or of the socket asked for its peer); "missed" is the
 * sum of the probes' nmissed and is the same in every netns, because probes
 * are global; "entries" counts the live records of sockets in this netns.
 *
 * A read costs O(1): it prints counters and walks nothing, so the file can
 * stay world-readable (monitoring agents run unprivileged) without letting
 * any local user make the kernel walk a table of up to 2^24 buckets per
 * read.  "entries" is kept by the table as records come and go
 * (toa_stats_entries_add()).
 *
 * The counters live inside the net_generic area itself (no separate
 * allocation): that memory is freed only after every pernet exit of the
 * namespace has run, so a probe that fires for a kernel socket of a dying
 * namespace after our exit still writes to valid memory.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/seq_file_net.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "toa.h"

struct toa_net {
	atomic_long_t ctr[TOA_CTR_MAX];
	atomic_long_t entries;		/* live records of this netns's sockets */
};

/* Module exit: the table is freed whole, no need to forget netns by netns. */
static bool toa_stats_unloading;

static unsigned int toa_net_id __read_mostly;

static const char *const toa_counter_names[TOA_CTR_MAX] = {
	[TOA_CTR_FOUND]		= "found",
	[TOA_CTR_REWRITTEN]	= "rewritten",
	[TOA_CTR_UNTRUSTED]	= "untrusted",
	[TOA_CTR_TRUSTED_UNSET]	= "trusted_unset",
	[TOA_CTR_MALFORMED]	= "malformed",
	[TOA_CTR_NAT64]		= "nat64",
	[TOA_CTR_LOOKUPS]	= "lookups",
	[TOA_CTR_NOMEM]		= "nomem",
};

void toa_stats_inc(const struct sock *sk, enum toa_counter ctr)
{
	struct toa_net *tn;

	rcu_read_lock();
	tn = net_generic(sock_net(sk), toa_net_id);
	if (tn)
		atomic_long_inc(&tn->ctr[ctr]);
	rcu_read_unlock();
}

/*
 * Called by the table under a bucket lock, for a record of @net.  Records of
 * a netns are all gone once its pernet exit has run (toa_net_exit()), so
 * @net's generic area is still there.
 */
void toa_stats_entries_add(const struct net *net, long delta)
{
	struct toa_net *tn;

	rcu_read_lock();
	tn = net_generic(net, toa_net_id);
	if (tn)
		atomic_long_add(delta, &tn->entries);
	rcu_read_unlock();
}

long toa_stats_entries(const struct net *net)
{
	struct toa_net *tn;
	long n = 0;

	rcu_read_lock();
	tn = net_generic(net, toa_net_id);
	if (tn)
		n = atomic_long_read(&tn->entries);
	rcu_read_unlock();
	return n;
}

static int toa_stats_show(struct seq_file *seq, void *v)
{
	struct net *net = seq_file_single_net(seq);
	struct toa_net *tn = net_generic(net, toa_net_id);
	int i;

	for (i = 0; i < TOA_CTR_MAX; i++)
		seq_printf(seq, "%s %ld\n", toa_counter_names[i],
			   atomic_long_read(&tn->ctr[i]));
	seq_printf(seq, "missed %lu\n", toa_hooks_missed());
	seq_printf(seq, "entries %ld\n", atomic_long_read(&tn->entries));
	return 0;
}

static int __net_init toa_net_init(struct net *net)
{
	if (!proc_create_net_single("toa_stats", 0444, net->proc_net,
				    toa_stats_show, NULL))
		return -ENOMEM;
	return 0;
}

/*
 * The netns is going away.  Its devices are gone (pernet device exits run
 * before subsystem ones), so no handshake can record anything for it any
 * more; drop the records its sockets still have, if any (a kernel socket
 * not yet freed, a record whose destroy probe was missed), so that no
 * record points at a netns whose counters are freed.
 */
static void __net_exit toa_net_exit(struct net *net)
{
	remove_proc_entry("toa_stats", net->proc_net);
	if (!READ_ONCE(toa_stats_unloading))
		toa_table_forget_net(net);
}

static struct pernet_operations toa_net_ops = {
	.init = toa_net_init,
	.exit = toa_net_exit,
	.id = &toa_net_id,
	.size = sizeof(struct toa_net),
};

int toa_stats_init(void)
{
	return register_pernet_subsys(&toa_net_ops);
}

/* After the probes are gone; the table goes after this. */
void toa_stats_exit(void)
{
	WRITE_ONCE(toa_stats_unloading, true);
	unregister_pernet_subsys(&toa_net_ops);
}
