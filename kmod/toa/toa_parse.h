/* SPDX-License-Identifier: GPL-2.0 */
/*
 * toa_parse.h - find the TOA option in a TCP header.
 *
 * The load balancer writes the client's address into the segment that
 * completes the handshake as TCP option kind 254:
 *
 *   length 8:  kind, 8, port (2 bytes), IPv4 address (4 bytes)
 *   length 20: kind, 20, port (2 bytes), IPv6 address (16 bytes)
 *
 * Port and address are in network byte order.  This parser is plain C with
 * no kernel dependencies so that the very same code runs in toa.ko and in the
 * userspace unit test: define TOA_PARSE_USERSPACE before including it
 * outside the kernel.  It compiles as C and as C++.
 *
 * The walk mirrors the kernel's tcp_parse_options(): EOL ends the list, NOP
 * is one byte, every other option needs a length byte; a length below 2 or
 * one that runs past the header stops the walk (earlier options stand, the
 * rest is ignored).  The first well-formed TOA wins; later ones are ignored.
 */
#ifndef TOA_PARSE_H
#define TOA_PARSE_H

#ifdef TOA_PARSE_USERSPACE
#include <string.h>
#else
#include <linux/string.h>
#endif

#define TOA_OPT_KIND		254
#define TOA_OPT_LEN_V4		8
#define TOA_OPT_LEN_V6		20

#define TOA_TCP_HDR_LEN		20	/* fixed part of the TCP header */
#define TOA_TCPOPT_EOL		0
#define TOA_TCPOPT_NOP		1

enum toa_family {
	TOA_NONE = 0,
	TOA_IPV4 = 4,
	TOA_IPV6 = 6,
};

/* Flags returned by the parsers: what was wrong with the header, if anything. */
#define TOA_BAD_LIST	0x1	/* option length < 2 or past the header: walk stopped */
#define TOA_BAD_LEN	0x2	/* kind 254 with a length other than 8 or 20: skipped */
#define TOA_BAD_HDR	0x4	/* data offset < 5 or beyond the bytes available */

struct toa_addr {
	unsigned char family;		/* enum toa_family */
	unsigned char port[2];		/* network byte order, as on the wire */
	unsigned char addr[16];		/* network byte order; IPv4 uses addr[0..3] */
};

/*
 * toa_parse_options - walk a TCP option list
 * @opt: first option byte (right after the 20-byte fixed header)
 * @len: bytes of options, i.e. data offset * 4 - 20
 * @toa: result; family is TOA_NONE when no well-formed TOA was found
 *
 * Returns 0 for a clean list, else a mask of TOA_BAD_*.  A TOA found before
 * the list turned bad is still returned, as tcp_parse_options() would.
 */
static inline unsigned int toa_parse_options(const unsigned char *opt,
					     unsigned int len,
					     struct toa_addr *toa)
{
	unsigned int flags = 0;

	memset(toa, 0, sizeof(*toa));
	toa->family = TOA_NONE;

	while (len > 0) {
		unsigned int kind = opt[0];
		unsigned int size;

		if (kind == TOA_TCPOPT_EOL)
			break;
		if (kind == TOA_TCPOPT_NOP) {
			opt++;
			len--;
			continue;
		}
		if (len < 2) {
			flags |= TOA_BAD_LIST;
			break;
		}
		size = opt[1];
		if (size < 2 || size > len) {
			flags |= TOA_BAD_LIST;
			break;
		}
		if (kind == TOA_OPT_KIND && toa->family == TOA_NONE) {
			if (size == TOA_OPT_LEN_V4) {
				toa->family = TOA_IPV4;
				memcpy(toa->port, opt + 2, 2);
				memcpy(toa->addr, opt + 4, 4);
			} else if (size == TOA_OPT_LEN_V6) {
				toa->family = TOA_IPV6;
				memcpy(toa->port, opt + 2, 2);
				memcpy(toa->addr, opt + 4, 16);
			} else {
				flags |= TOA_BAD_LEN;
			}
		}
		opt += size;
		len -= size;
	}
	return flags;
}

/*
 * toa_parse_tcp - find the TOA in a TCP header
 * @th: first byte of the TCP header
 * @avail: bytes readable from @th (the header must lie entirely within them)
 * @toa: result, as for toa_parse_options()
 */
static inline unsigned int toa_parse_tcp(const unsigned char *th,
					 unsigned int avail,
					 struct toa_addr *toa)
{
	unsigned int hlen;

	memset(toa, 0, sizeof(*toa));
	toa->family = TOA_NONE;
	if (avail < TOA_TCP_HDR_LEN)
		return TOA_BAD_HDR;
	hlen = (unsigned int)(th[12] >> 4) * 4;
	if (hlen < TOA_TCP_HDR_LEN || hlen > avail)
		return TOA_BAD_HDR;
	return toa_parse_options(th + TOA_TCP_HDR_LEN,
				 hlen - TOA_TCP_HDR_LEN, toa);
}

#endif /* TOA_PARSE_H */
