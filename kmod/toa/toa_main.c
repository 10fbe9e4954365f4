// SPDX-License-Identifier: GPL-2.0
/*
 * toa_main.c - toa.ko: accept() and getpeername() on a real server return
 * the client address that the anylb load balancer carried in the TOA option
 * (TCP option 254) of the handshake, instead of the balancer's own address;
 * getsockopt(TOA_SO_GET_PEER) returns it too, also where getpeername()
 * cannot (an IPv6 client on an IPv4 socket, behind NAT64).
 *
 * See docs/toa.md for installation, parameters, statistics and the design.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "toa.h"

#define TOA_VERSION "0.2.0"

static unsigned int hash_bits = 16;
module_param(hash_bits, uint, 0444);
MODULE_PARM_DESC(hash_bits,
		 "log2 of the record hash table size, 8..24 (default 16: 65536 buckets)");

static int __init toa_init(void)
{
	int err;

	if (hash_bits < 8 || hash_bits > 24) {
		pr_err("hash_bits=%u is outside 8..24\n", hash_bits);
		err = -EINVAL;
		goto err_trust;
	}

	err = toa_table_init(hash_bits);
	if (err)
		goto err_trust;
	err = toa_stats_init();
	if (err)
		goto err_table;
	err = toa_hooks_register();
	if (err)
		goto err_stats;
	err = toa_sockopt_register();
	if (err)
		goto err_hooks;

	pr_info("version " TOA_VERSION " loaded\n");
	toa_trust_log();
	return 0;

err_hooks:
	toa_hooks_unregister();
err_stats:
	toa_stats_exit();
err_table:
	toa_table_exit();
err_trust:
	/* The trusted= list was parsed before init ran. */
	toa_trust_exit();
	return err;
}

/* The option first: it reads the table, which goes last. */
static void __exit toa_exit(void)
{
	toa_sockopt_unregister();
	toa_hooks_unregister();
	toa_stats_exit();
	toa_table_exit();
	toa_trust_exit();
	pr_info("unloaded\n");
}

module_init(toa_init);
module_exit(toa_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("anylb");
MODULE_DESCRIPTION("Client address from the TOA TCP option, for accept()/getpeername() and by getsockopt");
MODULE_VERSION(TOA_VERSION);
