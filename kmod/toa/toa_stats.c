// SPDX-License-Identifier: GPL-2.0
/*
 * toa_stats.c - per-network-namespace counters in /proc/net/toa_stats.
 *
 * One "name value" pair per line.  Counters are per netns (the netns of the
 * listening socket, or of the socket asked for its peer); "missed" is the
 * sum of the probes' nmissed and is the same in every netns, because probes
 * are global; "entries" counts the live records of sockets in this netns.
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
};

static unsigned int toa_net_id __read_mostly;

static const char *const toa_counter_names[TOA_CTR_MAX] = {
	[TOA_CTR_FOUND]		= "found",
	[TOA_CTR_REWRITTEN]	= "rewritten",
	[TOA_CTR_UNTRUSTED]	= "untrusted",
	[TOA_CTR_MALFORMED]	= "malformed",
	[TOA_CTR_UNMAPPABLE]	= "unmappable",
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

static int toa_stats_show(struct seq_file *seq, void *v)
{
	struct net *net = seq_file_single_net(seq);
	struct toa_net *tn = net_generic(net, toa_net_id);
	int i;

	for (i = 0; i < TOA_CTR_MAX; i++)
		seq_printf(seq, "%s %ld\n", toa_counter_names[i],
			   atomic_long_read(&tn->ctr[i]));
	seq_printf(seq, "missed %lu\n", toa_hooks_missed());
	seq_printf(seq, "entries %lu\n", toa_table_count(net));
	return 0;
}

static int __net_init toa_net_init(struct net *net)
{
	if (!proc_create_net_single("toa_stats", 0444, net->proc_net,
				    toa_stats_show, NULL))
		return -ENOMEM;
	return 0;
}

static void __net_exit toa_net_exit(struct net *net)
{
	remove_proc_entry("toa_stats", net->proc_net);
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

void toa_stats_exit(void)
{
	unregister_pernet_subsys(&toa_net_ops);
}
