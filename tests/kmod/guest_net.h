/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_net.h - the load balancer's side of the qemu test: a TUN device and
 * hand-made IPv4/IPv6 TCP segments written into it.
 *
 * The guest kernel owns the RS addresses on the TUN device and runs the
 * listening sockets; this code plays the LB: it writes SYN, reads the
 * kernel's SYN-ACK back from the TUN, and completes the handshake with an
 * ACK carrying whatever TCP options a test wants.  Nothing leaves the guest.
 */
#ifndef TOA_GUEST_NET_H
#define TOA_GUEST_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define TH_FIN	0x01
#define TH_SYN	0x02
#define TH_RST	0x04
#define TH_PSH	0x08
#define TH_ACK	0x10

/* One TCP connection as the LB sees it: src = LB, dst = RS. */
struct flow {
	int v6;			/* IPv6 on the wire */
	uint8_t src[16];	/* IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	uint16_t sport;		/* host order */
	uint16_t dport;
	uint32_t iss;		/* our initial sequence number */
	uint32_t irs;		/* the kernel's, from its SYN-ACK */
};

struct seg {
	uint8_t flags;
	uint32_t seq;
	uint32_t ack;
};

/*
 * Create and configure the TUN device; returns its fd or -1.  Without @napi
 * tun hands written packets to the stack in the writer's context (bottom
 * halves off); with it (IFF_NAPI) they go through NAPI, i.e. the NET_RX
 * softirq, like packets from a NIC.
 */
int tun_setup(const char *name, const char *addr4, int plen4,
	      const char *addr6, int plen6, int napi);

/* Fill @f; addresses are text; @iss is our ISN. */
int flow_init(struct flow *f, const char *src, uint16_t sport,
	      const char *dst, uint16_t dport, uint32_t iss);

/* Write one segment of @f into the TUN; @opt_len must be a multiple of 4. */
int seg_send(int tun, const struct flow *f, uint32_t seq, uint32_t ack,
	     uint8_t flags, const uint8_t *opt, size_t opt_len);

/*
 * Read from the TUN until a segment of @f in the RS->LB direction arrives
 * with (flags & mask) == want; other packets are dropped.  0 or -1 on
 * timeout.
 */
int seg_wait(int tun, const struct flow *f, uint8_t mask, uint8_t want,
	     struct seg *out, int timeout_ms);

/* Drain whatever the kernel has queued on the TUN. */
void tun_drain(int tun);

/* SYN, SYN-ACK, then ACK with @opt.  0 on success. */
int handshake(int tun, struct flow *f, const uint8_t *opt, size_t opt_len);

/* Orderly close after the server's close(): ack its FIN with our FIN. */
int fin_close(int tun, const struct flow *f);

/* Reset the connection from the LB side. */
int rst_close(int tun, const struct flow *f);

/* Option builders; each returns the bytes written (a multiple of 4). */
size_t opt_toa4(uint8_t *p, const char *addr, uint16_t port);
size_t opt_toa6(uint8_t *p, const char *addr, uint16_t port);

#endif
