// SPDX-License-Identifier: GPL-2.0
/*
 * toa_table.c - module-owned RCU hash table of TOA records, keyed by socket.
 *
 * Writers: the handshake probe (softirq, sometimes process context) inserts,
 * the destroy probe (any context, including RCU callbacks) removes.  Each
 * bucket is an hlist_bl whose bit 0 is the bucket lock.  Writers take it with
 * interrupts off so that a softirq cannot spin on a lock its own CPU holds;
 * interrupts off rather than local_bh_disable() because re-enabling bottom
 * halves inside a probe handler could run softirqs there, and any probe they
 * hit would then be missed as recursion.
 *
 * Readers (getname probes) walk one bucket under rcu_read_lock().  Every
 * link and unlink also moves the record's netns "entries" counter, so
 * /proc/net/toa_stats never walks the table.
 * Records are freed through call_rcu(), and the cache is destroyed only
 * after rcu_barrier(), so no callback outlives the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/hash.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>	/* before rculist_bl.h, which needs cpu_relax() */
#include <linux/rculist_bl.h>
#include <linux/slab.h>
#include <net/ipv6.h>
#include <net/sock.h>

#include "toa.h"

static struct hlist_bl_head *toa_buckets;
static unsigned int toa_bits;
static struct kmem_cache *toa_cache;
static atomic_long_t toa_live = ATOMIC_LONG_INIT(0);

static struct hlist_bl_head *toa_bucket(const struct sock *sk)
{
	return &toa_buckets[hash_ptr(sk, toa_bits)];
}

int toa_table_init(unsigned int bits)
{
	size_t i, n = (size_t)1 << bits;

	toa_cache = kmem_cache_create("toa_entry", sizeof(struct toa_entry),
				      0, 0, NULL);
	if (!toa_cache)
		return -ENOMEM;

	toa_buckets = kvmalloc_array(n, sizeof(*toa_buckets), GFP_KERNEL);
	if (!toa_buckets)
		goto err_cache;
	for (i = 0; i < n; i++)
		INIT_HLIST_BL_HEAD(&toa_buckets[i]);
	toa_bits = bits;
	return 0;

err_cache:
	kmem_cache_destroy(toa_cache);
	toa_cache = NULL;
	return -ENOMEM;
}

/*
 * Called after every probe is unregistered (unregistering waits for running
 * handlers), so nothing else touches the table any more.
 */
void toa_table_exit(void)
{
	size_t i, n = (size_t)1 << toa_bits;
	unsigned long freed = 0;

	for (i = 0; i < n; i++) {
		struct hlist_bl_node *pos, *tmp;
		struct toa_entry *e;

		hlist_bl_for_each_entry_safe(e, pos, tmp, &toa_buckets[i], node) {
			hlist_bl_del(&e->node);
			kmem_cache_free(toa_cache, e);
			freed++;
		}
	}
	if (freed)
		pr_info("freed %lu records of sockets still open\n", freed);
	atomic_long_set(&toa_live, 0);

	/* Wait for records freed through call_rcu() by the probes. */
	rcu_barrier();
	kmem_cache_destroy(toa_cache);
	kvfree(toa_buckets);
	toa_cache = NULL;
	toa_buckets = NULL;
}

struct toa_entry *toa_entry_alloc(gfp_t gfp)
{
	return kmem_cache_zalloc(toa_cache, gfp);
}

static void toa_entry_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(toa_cache, container_of(head, struct toa_entry, rcu));
}

/* Unlink @e from its bucket; the caller holds the bucket lock. */
static void toa_entry_unlink(struct toa_entry *e)
{
	hlist_bl_del_rcu(&e->node);
	atomic_long_dec(&toa_live);
	toa_stats_entries_add(e->net, -1);
	call_rcu(&e->rcu, toa_entry_free_rcu);
}

/*
 * Insert a record for e->sk.  A record already there for the same pointer
 * is stale (its socket was freed without the destroy probe seeing it): the
 * new one replaces it.
 */
void toa_table_insert(struct toa_entry *e)
{
	struct hlist_bl_head *head = toa_bucket(e->sk);
	struct hlist_bl_node *pos;
	struct toa_entry *old;
	unsigned long flags;

	local_irq_save(flags);
	hlist_bl_lock(head);
	hlist_bl_for_each_entry(old, pos, head, node) {
		if (old->sk == e->sk) {
			toa_entry_unlink(old);
			break;
		}
	}
	hlist_bl_add_head_rcu(&e->node, head);
	atomic_long_inc(&toa_live);
	toa_stats_entries_add(e->net, 1);
	hlist_bl_unlock(head);
	local_irq_restore(flags);
}

/* Copy the record of @sk to @copy; false when there is none. */
bool toa_table_lookup(const struct sock *sk, struct toa_entry *copy)
{
	struct hlist_bl_node *pos;
	struct toa_entry *e;
	bool found = false;

	rcu_read_lock();
	hlist_bl_for_each_entry_rcu(e, pos, toa_bucket(sk), node) {
		if (e->sk == sk) {
			*copy = *e;
			found = true;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

void toa_table_remove(const struct sock *sk)
{
	struct hlist_bl_head *head = toa_bucket(sk);
	struct hlist_bl_node *pos;
	struct toa_entry *e;
	unsigned long flags;

	local_irq_save(flags);
	hlist_bl_lock(head);
	hlist_bl_for_each_entry(e, pos, head, node) {
		if (e->sk == sk) {
			toa_entry_unlink(e);
			break;
		}
	}
	hlist_bl_unlock(head);
	local_irq_restore(flags);
}

/*
 * Does the record still describe the connection @sk carries?  Read without
 * the socket lock: a socket that disconnects and connects again meanwhile
 * fails the check, which is what it is for.
 */
bool toa_entry_matches(const struct toa_entry *e, const struct sock *sk)
{
	if (READ_ONCE(sk->sk_dport) != e->lb_port ||
	    READ_ONCE(sk->sk_num) != e->local_port)
		return false;
	if (ipv6_addr_v4mapped(&e->lb_addr))
		return READ_ONCE(sk->sk_daddr) == e->lb_addr.s6_addr32[3];
#if IS_ENABLED(CONFIG_IPV6)
	return ipv6_addr_equal(&sk->sk_v6_daddr, &e->lb_addr);
#else
	return false;
#endif
}

/* Fast path for the destroy probe, which fires for every socket freed. */
bool toa_table_empty(void)
{
	return atomic_long_read(&toa_live) == 0;
}

/*
 * Drop every record of @net (pernet exit, process context).  Nothing is
 * recorded for a netns once its devices are gone, so after this @net has no
 * record left.  Most namespaces never had one: their counter says so and
 * the table is not walked.
 */
void toa_table_forget_net(const struct net *net)
{
	size_t i, n = (size_t)1 << toa_bits;

	if (!toa_stats_entries(net))
		return;
	for (i = 0; i < n; i++) {
		struct hlist_bl_head *head = &toa_buckets[i];
		struct hlist_bl_node *pos, *tmp;
		struct toa_entry *e;
		unsigned long flags;

		if (hlist_bl_empty(head))
			continue;
		local_irq_save(flags);
		hlist_bl_lock(head);
		hlist_bl_for_each_entry_safe(e, pos, tmp, head, node)
			if (e->net == net)
				toa_entry_unlink(e);
		hlist_bl_unlock(head);
		local_irq_restore(flags);
		if (!(i & 1023))
			cond_resched();
	}
}
