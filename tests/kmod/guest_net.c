// SPDX-License-Identifier: GPL-2.0
/* guest_net.c - see guest_net.h. */
#define _GNU_SOURCE
#include "guest_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* struct in6_ifreq lives in <linux/ipv6.h>, which clashes with glibc. */
struct toa_in6_ifreq {
	struct in6_addr addr;
	uint32_t prefixlen;
	int ifindex;
};

static int ifr_ioctl(int fd, unsigned long req, struct ifreq *ifr, const char *what)
{
	if (ioctl(fd, req, ifr) < 0) {
		fprintf(stderr, "tun setup: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* IPv6 output routing needs lo up, as on any real system. */
static int if_up(int s, const char *name)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ifr_ioctl(s, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS"))
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return ifr_ioctl(s, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS");
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -1 : 0;
}

int tun_setup(const char *name, const char *addr4, int plen4,
	      const char *addr6, int plen6, int napi)
{
	struct sockaddr_in *sin;
	struct toa_in6_ifreq ifr6;
	struct ifreq ifr;
	char path[128];
	int tun, s4 = -1, s6 = -1;

	tun = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tun < 0) {
		fprintf(stderr, "%s: /dev/net/tun: %s\n", __func__, strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (napi ? IFF_NAPI : 0);
	if (ifr_ioctl(tun, TUNSETIFF, &ifr, "TUNSETIFF"))
		goto err;

	s4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	s6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s4 < 0 || s6 < 0)
		goto err;

	/* No DAD on the IPv6 address (tun is NOARP anyway), no RS noise. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_dad", name);
	write_file(path, "0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/router_solicitations", name);
	write_file(path, "0");

	sin = (struct sockaddr_in *)&ifr.ifr_addr;
	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr4, &sin->sin_addr);
	if (ifr_ioctl(s4, SIOCSIFADDR, &ifr, "SIOCSIFADDR"))
		goto err;
	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(plen4 ? ~0U << (32 - plen4) : 0);
	if (ifr_ioctl(s4, SIOCSIFNETMASK, &ifr, "SIOCSIFNETMASK"))
		goto err;

	if (if_up(s4, "lo") || if_up(s4, name))
		goto err;

	memset(&ifr.ifr_ifru, 0, sizeof(ifr.ifr_ifru));
	if (ifr_ioctl(s4, SIOCGIFINDEX, &ifr, "SIOCGIFINDEX"))
		goto err;
	memset(&ifr6, 0, sizeof(ifr6));
	inet_pton(AF_INET6, addr6, &ifr6.addr);
	ifr6.prefixlen = plen6;
	ifr6.ifindex = ifr.ifr_ifindex;
	if (ioctl(s6, SIOCSIFADDR, &ifr6) < 0) {
		fprintf(stderr, "%s: SIOCSIFADDR v6: %s\n", __func__, strerror(errno));
		goto err;
	}
	close(s4);
	close(s6);
	return tun;
err:
	if (s4 >= 0)
		close(s4);
	if (s6 >= 0)
		close(s6);
	close(tun);
	return -1;
}

int flow_init(struct flow *f, const char *src, uint16_t sport,
	      const char *dst, uint16_t dport, uint32_t iss)
{
	memset(f, 0, sizeof(*f));
	f->v6 = strchr(src, ':') != NULL;
	if (inet_pton(f->v6 ? AF_INET6 : AF_INET, src, f->src) != 1 ||
	    inet_pton(f->v6 ? AF_INET6 : AF_INET, dst, f->dst) != 1)
		return -1;
	f->sport = sport;
	f->dport = dport;
	f->iss = iss;
	return 0;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int seg_send(int tun, const struct flow *f, uint32_t seq, uint32_t ack,
	     uint8_t flags, const uint8_t *opt, size_t opt_len)
{
	uint8_t pkt[128];
	size_t iplen = f->v6 ? 40 : 20, alen = f->v6 ? 16 : 4;
	size_t tcplen = 20 + opt_len, total = iplen + tcplen;
	uint8_t *ip = pkt, *th = pkt + iplen;
	uint32_t sum;

	if (opt_len % 4 || total > sizeof(pkt))
		return -1;
	memset(pkt, 0, total);
	if (f->v6) {
		ip[0] = 0x60;
		put16(ip + 4, tcplen);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, f->src, 16);
		memcpy(ip + 24, f->dst, 16);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, total);
		put16(ip + 6, 0x4000);		/* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, f->src, 4);
		memcpy(ip + 16, f->dst, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	}
	put16(th, f->sport);
	put16(th + 2, f->dport);
	put32(th + 4, seq);
	put32(th + 8, ack);
	th[12] = (uint8_t)(tcplen / 4) << 4;
	th[13] = flags;
	put16(th + 14, 65535);
	if (opt_len)
		memcpy(th + 20, opt, opt_len);

	/* Pseudo header: addresses, protocol, TCP length. */
	sum = csum_add(0, f->src, alen);
	sum = csum_add(sum, f->dst, alen);
	sum += IPPROTO_TCP + (uint32_t)tcplen;
	sum = csum_add(sum, th, tcplen);
	put16(th + 16, csum_fold(sum));

	if (write(tun, pkt, total) != (ssize_t)total) {
		fprintf(stderr, "%s: write: %s\n", __func__, strerror(errno));
		return -1;
	}
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* Is @p (length @n) a TCP segment of @f going RS -> LB? */
static const uint8_t *seg_of_flow(const struct flow *f, const uint8_t *p, size_t n)
{
	const uint8_t *th;

	if (!f->v6) {
		size_t ihl = (size_t)(p[0] & 0xf) * 4;

		if (n < 40 || (p[0] >> 4) != 4 || p[9] != IPPROTO_TCP ||
		    ihl < 20 || n < ihl + 20)
			return NULL;
		if (memcmp(p + 12, f->dst, 4) || memcmp(p + 16, f->src, 4))
			return NULL;
		th = p + ihl;
	} else {
		if (n < 60 || (p[0] >> 4) != 6 || p[6] != IPPROTO_TCP)
			return NULL;
		if (memcmp(p + 8, f->dst, 16) || memcmp(p + 24, f->src, 16))
			return NULL;
		th = p + 40;
	}
	if (((th[0] << 8) | th[1]) != f->dport || ((th[2] << 8) | th[3]) != f->sport)
		return NULL;
	return th;
}

int seg_wait(int tun, const struct flow *f, uint8_t mask, uint8_t want,
	     struct seg *out, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	uint8_t buf[2048];

	for (;;) {
		struct pollfd pfd = { .fd = tun, .events = POLLIN };
		long left = deadline - now_ms();
		const uint8_t *th;
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(tun, buf, sizeof(buf));
		if (n <= 0)
			continue;
		if (getenv("TOA_GUEST_DEBUG"))
			fprintf(stderr, "tun read %zd bytes: v%d proto/nh %u\n", n,
				buf[0] >> 4, (buf[0] >> 4) == 6 ? buf[6] : buf[9]);
		th = seg_of_flow(f, buf, (size_t)n);
		if (!th || (th[13] & mask) != want)
			continue;
		out->flags = th[13];
		out->seq = get32(th + 4);
		out->ack = get32(th + 8);
		return 0;
	}
}

void tun_drain(int tun)
{
	uint8_t buf[2048];

	while (read(tun, buf, sizeof(buf)) > 0)
		;
}

int handshake(int tun, struct flow *f, const uint8_t *opt, size_t opt_len)
{
	static const uint8_t mss[4] = { 2, 4, 0x05, 0xb4 };	/* MSS 1460 */
	struct seg s;

	if (seg_send(tun, f, f->iss, 0, TH_SYN, mss, sizeof(mss)))
		return -1;
	if (seg_wait(tun, f, TH_SYN | TH_ACK | TH_RST, TH_SYN | TH_ACK, &s, 5000)) {
		fprintf(stderr, "%s: no SYN-ACK for port %u\n", __func__, f->sport);
		return -1;
	}
	if (s.ack != f->iss + 1) {
		fprintf(stderr, "%s: SYN-ACK acks %u, want %u\n", __func__, s.ack, f->iss + 1);
		return -1;
	}
	f->irs = s.seq;
	return seg_send(tun, f, f->iss + 1, f->irs + 1, TH_ACK, opt, opt_len);
}

int fin_close(int tun, const struct flow *f)
{
	struct seg s;

	if (seg_wait(tun, f, TH_FIN, TH_FIN, &s, 5000)) {
		fprintf(stderr, "%s: no FIN on port %u\n", __func__, f->sport);
		return -1;
	}
	return seg_send(tun, f, f->iss + 1, s.seq + 1, TH_FIN | TH_ACK, NULL, 0);
}

int rst_close(int tun, const struct flow *f)
{
	return seg_send(tun, f, f->iss + 1, 0, TH_RST, NULL, 0);
}

size_t opt_toa4(uint8_t *p, const char *addr, uint16_t port)
{
	p[0] = 254;
	p[1] = 8;
	put16(p + 2, port);
	inet_pton(AF_INET, addr, p + 4);
	return 8;
}

size_t opt_toa6(uint8_t *p, const char *addr, uint16_t port)
{
	p[0] = 254;
	p[1] = 20;
	put16(p + 2, port);
	inet_pton(AF_INET6, addr, p + 4);
	return 20;
}
