/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * toa_user.h - what applications include to ask toa.ko for a connection's
 * client address with getsockopt(); the module includes it too.
 *
 * The need is NAT64: the client is IPv6, the balancer translated the
 * connection to IPv4 towards this real server, and the application holds an
 * AF_INET socket.  getpeername() on that socket cannot hold an IPv6 address,
 * so it keeps returning the balancer's IPv4 address; this option returns the
 * client carried in the TOA instead.  It answers for every TCP socket whose
 * handshake carried a trusted TOA (IPv4 or IPv6, on AF_INET or AF_INET6
 * sockets), so an application may use it alone.
 *
 *	struct toa_peer peer;
 *	socklen_t len = sizeof(peer);
 *
 *	if (getsockopt(fd, IPPROTO_IP, TOA_SO_GET_PEER, &peer, &len) == 0)
 *		... peer.family, peer.addr, ntohs(peer.port) ...
 *
 * Errors (errno):
 *   ENOENT       the handshake carried no TOA the module honoured (none,
 *                malformed, or from a source outside trusted=)
 *   ENOTCONN     not connected (a listening socket, or closed: as
 *                getpeername() answers)
 *   EINVAL       *optlen < sizeof(struct toa_peer)
 *   EFAULT       optval or optlen points outside the process
 *   ENOPROTOOPT  not a TCP socket, or toa.ko is not loaded
 *
 * Layout: a DPVS application's struct toa_nat64_peer { struct in6_addr
 * saddr; uint16_t sport; } (20 bytes with its padding) lines up with addr
 * and port, and the option number is DPVS's TOA_SO_GET_LOOKUP, so code
 * written for DPVS's toa.ko works unchanged; family sits in DPVS's padding.
 * See docs/toa.md, "NAT64: the client of an IPv4 socket".
 */
#ifndef TOA_USER_H
#define TOA_USER_H

#ifdef __KERNEL__
#include <linux/in6.h>
#else
#include <netinet/in.h>
#endif
#include <linux/types.h>

/* getsockopt(fd, IPPROTO_IP, TOA_SO_GET_PEER, ...); DPVS's number. */
#define TOA_SO_GET_PEER		4096
#define TOA_SO_GET_LOOKUP	TOA_SO_GET_PEER	/* DPVS's name for it */

struct toa_peer {
	/*
	 * The client address, network byte order.  Always an IPv6 address:
	 * an IPv4 client is v4-mapped (::ffff:a.b.c.d, the IPv4 address in
	 * s6_addr[12..15]), as getpeername() on a dual-stack socket shows it.
	 */
	struct in6_addr addr;
	__be16 port;		/* the client port, network byte order */
	__u16 family;		/* what the TOA carried: AF_INET or AF_INET6 */
};

#ifdef __cplusplus
static_assert(sizeof(struct toa_peer) == 20, "toa_peer is 20 bytes");
#else
_Static_assert(sizeof(struct toa_peer) == 20, "toa_peer is 20 bytes");
#endif

#endif /* TOA_USER_H */
