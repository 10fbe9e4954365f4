// SPDX-License-Identifier: GPL-2.0
/*
 * toa_main.c - toa.ko: accept() and getpeername() on a real server return
 * the client address that the anylb load balancer carried in the TOA option
 * (TCP option 254) of the handshake, instead of the balancer's own address.
 *
 * See docs/toa.md for installation, parameters, statistics and the design.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "toa.h"

#define TOA_VERSION "0.1.0"

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

	pr_info("version " TOA_VERSION " loaded\n");
	toa_trust_log();
	return 0;

err_stats:
	toa_stats_exit();
err_table:
	toa_table_exit();
err_trust:
	/* The trusted= list was parsed before init ran. */
	toa_trust_exit();
	return err;
}

static void __exit toa_exit(void)
{
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
MODULE_DESCRIPTION("Client address from the TOA TCP option for accept()/getpeername()");
MODULE_VERSION(TOA_VERSION);
