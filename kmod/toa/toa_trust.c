// SPDX-License-Identifier: GPL-2.0
/*
 * toa_trust.c - the trusted= list: which load balancers may set a TOA.
 *
 * A TOA is honoured only when the IP source of the handshake segment lies in
 * one of these prefixes, so a client that can reach the real server directly
 * cannot forge its address.  The list is a comma-separated set of IPv4 and
 * IPv6 prefixes ("10.0.0.0/8,fd00::/8"; a bare address is a /32 or /128),
 * or the single word "any", which trusts every source (labs; what the public
 * TOA modules do).
 *
 * Fail closed: empty (the default) trusts nothing.  Every TOA is then
 * ignored and counted as trusted_unset, so a real server on which nobody
 * set trusted= cannot be fooled by a host that reaches it directly.  A value
 * that does not parse is refused with -EINVAL (the module does not load, or
 * a run-time write leaves the old list), never read as "everything".
 *
 * The parameter is writable at run time through
 * /sys/module/toa/parameters/trusted.  The list is published with RCU:
 * handshake probes read it in softirq context, writers replace it whole
 * (parse into a new list, swap the pointer under the mutex, free the old one
 * after a grace period), so a handshake sees either the old or the new list,
 * never a mix or a freed one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/inet.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <net/ipv6.h>

#include "toa.h"

#define TOA_TRUST_MAX	64

struct toa_prefix {
	sa_family_t family;		/* AF_INET or AF_INET6 */
	unsigned int plen;
	struct in6_addr addr;		/* IPv4 in s6_addr32[0]; host bits cleared */
};

struct toa_trust {
	struct rcu_head rcu;
	bool any;			/* "any": every source, n == 0 */
	unsigned int n;
	struct toa_prefix p[];
};

#define TOA_TRUST_ANY	"any"

/* NULL means trusted= is not set: no source is trusted. */
static struct toa_trust __rcu *toa_trust_list;
static DEFINE_MUTEX(toa_trust_mutex);
static bool toa_trust_live;	/* module initialised: log every change */
static bool toa_trust_dead;	/* module exiting: refuse new lists */

static __be32 toa_mask4(unsigned int plen)
{
	return plen ? htonl(~0U << (32 - plen)) : 0;
}

/* Parse "addr" or "addr/len" in @tok (restored before returning). */
static int toa_prefix_parse(char *tok, struct toa_prefix *p)
{
	char *slash = strchr(tok, '/');
	const char *end;
	unsigned int max;
	int err = -EINVAL;

	if (slash)
		*slash = '\0';
	if (strchr(tok, ':')) {
		if (!in6_pton(tok, -1, p->addr.s6_addr, -1, &end) || *end)
			goto out;
		p->family = AF_INET6;
		max = 128;
	} else {
		if (!in4_pton(tok, -1, (u8 *)&p->addr.s6_addr32[0], -1, &end) ||
		    *end)
			goto out;
		p->family = AF_INET;
		max = 32;
	}
	p->plen = max;
	if (slash && (kstrtouint(slash + 1, 10, &p->plen) || p->plen > max))
		goto out;

	if (p->family == AF_INET) {
		p->addr.s6_addr32[0] &= toa_mask4(p->plen);
	} else {
		struct in6_addr full = p->addr;

		ipv6_addr_prefix(&p->addr, &full, p->plen);
	}
	err = 0;
out:
	if (slash)
		*slash = '/';
	return err;
}

/* Parse @val into a new list; *out is NULL for an empty value (unset). */
static int toa_trust_parse(const char *val, struct toa_trust **out)
{
	struct toa_trust *t;
	char *buf, *cur, *tok;
	int err = 0;

	*out = NULL;
	buf = kstrdup(val, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	t = kzalloc(struct_size(t, p, TOA_TRUST_MAX), GFP_KERNEL);
	if (!t) {
		err = -ENOMEM;
		goto out_buf;
	}

	cur = strim(buf);
	while ((tok = strsep(&cur, ",")) != NULL) {
		tok = strim(tok);
		if (!*tok)
			continue;
		if (!strcmp(tok, TOA_TRUST_ANY) || t->any) {
			if (t->n || t->any) {
				pr_err("trusted: '" TOA_TRUST_ANY "' cannot be combined with prefixes\n");
				err = -EINVAL;
				goto out_list;
			}
			t->any = true;
			continue;
		}
		if (t->n == TOA_TRUST_MAX) {
			pr_err("trusted: more than %d prefixes\n", TOA_TRUST_MAX);
			err = -EINVAL;
			goto out_list;
		}
		err = toa_prefix_parse(tok, &t->p[t->n]);
		if (err) {
			pr_err("trusted: '%s' is not an address or prefix\n", tok);
			goto out_list;
		}
		t->n++;
	}
	if (t->n || t->any)
		*out = t;
	else
		kfree(t);
	goto out_buf;

out_list:
	kfree(t);
out_buf:
	kfree(buf);
	return err;
}

static int toa_trust_format(const struct toa_trust *t, char *buf, size_t size)
{
	unsigned int i;
	int len = 0;

	if (t && t->any)
		return scnprintf(buf, size, TOA_TRUST_ANY);
	for (i = 0; t && i < t->n; i++) {
		const struct toa_prefix *p = &t->p[i];

		if (p->family == AF_INET)
			len += scnprintf(buf + len, size - len, "%s%pI4/%u",
					 i ? "," : "", &p->addr.s6_addr32[0],
					 p->plen);
		else
			len += scnprintf(buf + len, size - len, "%s%pI6c/%u",
					 i ? "," : "", &p->addr, p->plen);
	}
	return len;
}

/* Does @t let every IPv4 and every IPv6 source through? */
static bool toa_trust_is_everything(const struct toa_trust *t)
{
	bool all4 = false, all6 = false;
	unsigned int i;

	for (i = 0; t && i < t->n; i++) {
		if (t->p[i].plen)
			continue;
		if (t->p[i].family == AF_INET)
			all4 = true;
		else
			all6 = true;
	}
	return t && (t->any || (all4 && all6));
}

static void toa_trust_log_locked(const struct toa_trust *t)
{
	char *buf;

	if (!t) {
		pr_warn("trusted= is not set: every TOA is ignored (counted as trusted_unset); list the load balancers' prefixes in trusted=, or 'any'\n");
		return;
	}
	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!buf)
		return;
	toa_trust_format(t, buf, PAGE_SIZE);
	if (toa_trust_is_everything(t))
		pr_warn("trusted=%s: TOA is honoured from every source\n", buf);
	else
		pr_info("TOA honoured only from %s\n", buf);
	kfree(buf);
}

static int toa_trust_set(const char *val, const struct kernel_param *kp)
{
	struct toa_trust *t, *old;
	int err;

	err = toa_trust_parse(val, &t);
	if (err)
		return err;

	mutex_lock(&toa_trust_mutex);
	if (toa_trust_dead) {
		mutex_unlock(&toa_trust_mutex);
		kfree(t);
		return -ENODEV;
	}
	old = rcu_replace_pointer(toa_trust_list, t,
				  lockdep_is_held(&toa_trust_mutex));
	if (toa_trust_live)
		toa_trust_log_locked(t);
	mutex_unlock(&toa_trust_mutex);

	if (old)
		kfree_rcu(old, rcu);
	return 0;
}

static int toa_trust_get(char *buf, const struct kernel_param *kp)
{
	int len;

	rcu_read_lock();
	len = toa_trust_format(rcu_dereference(toa_trust_list), buf, PAGE_SIZE - 1);
	rcu_read_unlock();
	buf[len++] = '\n';
	return len;
}

static const struct kernel_param_ops toa_trust_ops = {
	.set = toa_trust_set,
	.get = toa_trust_get,
};

module_param_cb(trusted, &toa_trust_ops, NULL, 0644);
MODULE_PARM_DESC(trusted,
		 "Comma-separated IPv4/IPv6 prefixes of the load balancers whose TOA is honoured, or 'any' (default empty: none, every TOA ignored)");

/* One list, read once: the verdict never mixes an old and a new list. */
enum toa_trust_verdict toa_trust_v4(__be32 addr)
{
	enum toa_trust_verdict v = TOA_TRUST_UNSET;
	const struct toa_trust *t;
	unsigned int i;

	rcu_read_lock();
	t = rcu_dereference(toa_trust_list);
	if (t) {
		v = t->any ? TOA_TRUST_YES : TOA_TRUST_NO;
		for (i = 0; i < t->n && v == TOA_TRUST_NO; i++) {
			const struct toa_prefix *p = &t->p[i];

			if (p->family == AF_INET &&
			    !((addr ^ p->addr.s6_addr32[0]) & toa_mask4(p->plen)))
				v = TOA_TRUST_YES;
		}
	}
	rcu_read_unlock();
	return v;
}

enum toa_trust_verdict toa_trust_v6(const struct in6_addr *addr)
{
	enum toa_trust_verdict v = TOA_TRUST_UNSET;
	const struct toa_trust *t;
	unsigned int i;

	rcu_read_lock();
	t = rcu_dereference(toa_trust_list);
	if (t) {
		v = t->any ? TOA_TRUST_YES : TOA_TRUST_NO;
		for (i = 0; i < t->n && v == TOA_TRUST_NO; i++) {
			const struct toa_prefix *p = &t->p[i];

			if (p->family == AF_INET6 &&
			    ipv6_prefix_equal(addr, &p->addr, p->plen))
				v = TOA_TRUST_YES;
		}
	}
	rcu_read_unlock();
	return v;
}

/* Called once from module init: say what is trusted, then log every change. */
void toa_trust_log(void)
{
	mutex_lock(&toa_trust_mutex);
	toa_trust_log_locked(rcu_dereference_protected(toa_trust_list,
			     lockdep_is_held(&toa_trust_mutex)));
	toa_trust_live = true;
	mutex_unlock(&toa_trust_mutex);
}

/*
 * Called after the probes are gone.  The parameter file can outlive module
 * exit for a moment, hence the dead flag and the grace period before free.
 */
void toa_trust_exit(void)
{
	struct toa_trust *old;

	mutex_lock(&toa_trust_mutex);
	toa_trust_dead = true;
	old = rcu_replace_pointer(toa_trust_list, NULL,
				  lockdep_is_held(&toa_trust_mutex));
	mutex_unlock(&toa_trust_mutex);

	synchronize_rcu();
	kfree(old);
}
