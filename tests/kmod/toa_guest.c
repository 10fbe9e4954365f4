// SPDX-License-Identifier: GPL-2.0
/*
 * toa_guest.c - runs inside the qemu guest (static binary in the initramfs)
 * and tests toa.ko end to end: it loads and unloads the module itself, plays
 * the load balancer through a TUN device (guest_net.c), and checks what
 * accept() and getpeername() return and what /proc/net/toa_stats counts.
 *
 * Output, one line each, parsed by run_qemu.sh on the host:
 *   TOA-RESULT <name> PASS|FAIL [detail]
 *   TOA-STATS <checkpoint> <key>=<value>...
 *   TOA-SUMMARY passed=<n> failed=<n>
 * The exit status is 0 only when nothing failed.
 *
 * Usage: toa_guest /path/to/toa.ko
 *
 * With toa_unload_loop=N in the environment (run_qemu.sh puts it on the
 * kernel command line, which hands it to /init) only the unload race runs,
 * N times over: load, open connections, unload under getpeername() load.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/route.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_net.h"
#include "toa_user.h"

#define TUN_NAME	"toa0"
#define RS4		"10.77.0.1"
#define RS6		"fd77::1"
#define LB4		"10.77.1.1"	/* trusted LB addresses */
#define LB4B		"10.77.1.2"
#define LB6		"fd77:1::1"
#define EVIL4		"10.77.2.1"	/* reach the RS directly: not trusted */
#define EVIL6		"fd77:2::1"
#define TRUSTED		"10.77.1.0/24,fd77:1::/64"

#define PORT_V4		8001	/* AF_INET listener */
#define PORT_V6		8002	/* AF_INET6, IPV6_V6ONLY */
#define PORT_DS		8003	/* AF_INET6 dual-stack */
#define PORT_UNACC	8004	/* listener closed with children queued */

#define CHURN		10000
#define PAR_CHURN	2000	/* per thread, two threads, two TUNs */
#define TUN2_NAME	"toa1"
#define RS4B		"10.79.0.1"	/* the second TUN's RS address */
#define LB4_PAR_A	"10.77.1.3"	/* via toa0 */
#define LB4_PAR_B	"10.77.1.129"	/* via toa1: 10.77.1.128/25 routes there */
#define STATS_WAIT_MS	5000
#define TRUSTED_PARAM	"/sys/module/toa/parameters/trusted"

static const char *toa_ko;
static int tun, l4, l6, lds;
static int n_pass, n_fail;
static uint16_t next_sport = 30000;	/* LB ports of one-off connections */
static uint32_t next_iss = 100000;

/* ---- reporting --------------------------------------------------------- */

static void report(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		n_pass++;
	else
		n_fail++;
	printf("TOA-RESULT %s %s", name, ok ? "PASS" : "FAIL");
	if (fmt && *fmt) {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* ---- /proc/net/toa_stats ---------------------------------------------- */

enum {
	S_FOUND, S_REWRITTEN, S_UNTRUSTED, S_UNSET, S_MALFORMED, S_NAT64,
	S_LOOKUPS, S_NOMEM, S_MISSED, S_ENTRIES, S_MAX
};

static const char *const stat_names[S_MAX] = {
	"found", "rewritten", "untrusted", "trusted_unset", "malformed",
	"nat64", "lookups", "nomem", "missed", "entries",
};

/* What the tests sent so far; compared with the file after every step. */
static long expect[S_MAX];

static int stats_read(long *v)
{
	char key[64];
	long val;
	int seen = 0, i;
	FILE *f = fopen("/proc/net/toa_stats", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		for (i = 0; i < S_MAX; i++)
			if (!strcmp(key, stat_names[i])) {
				v[i] = val;
				seen |= 1 << i;
			}
	fclose(f);
	return seen == (1 << S_MAX) - 1 ? 0 : -1;
}

static int stats_equal(const long *a, const long *b)
{
	return !memcmp(a, b, sizeof(long) * S_MAX);
}

static void stats_format(const long *v, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < S_MAX && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s=%ld", i ? " " : "",
				stat_names[i], v[i]);
}

/*
 * Poll until the file matches expect[] (records go away when the kernel
 * frees the socket, which can trail close() a little).
 */
static int stats_check(const char *name)
{
	long got[S_MAX] = { 0 };
	char g[256], w[256];
	long deadline = now_ms() + STATS_WAIT_MS;

	for (;;) {
		if (!stats_read(got) && stats_equal(got, expect))
			return 0;
		if (now_ms() > deadline)
			break;
		usleep(20000);
	}
	stats_format(got, g, sizeof(g));
	stats_format(expect, w, sizeof(w));
	report(name, 0, "toa_stats got {%s} want {%s}", g, w);
	return -1;
}

static void stats_checkpoint(const char *checkpoint)
{
	long got[S_MAX] = { 0 };
	char g[256];

	if (stats_read(got)) {
		printf("TOA-STATS %s unreadable\n", checkpoint);
		return;
	}
	stats_format(got, g, sizeof(g));
	printf("TOA-STATS %s %s\n", checkpoint, g);
	fflush(stdout);
}

/* ---- addresses --------------------------------------------------------- */

struct want {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

/* @text in the socket's @family: an IPv4 address on AF_INET6 is v4-mapped. */
static void want_set(struct want *w, int family, const char *text, uint16_t port)
{
	memset(w, 0, sizeof(*w));
	w->family = family;
	w->port = port;
	if (family == AF_INET) {
		inet_pton(AF_INET, text, w->addr);
	} else if (strchr(text, ':')) {
		inet_pton(AF_INET6, text, w->addr);
	} else {
		w->addr[10] = 0xff;
		w->addr[11] = 0xff;
		inet_pton(AF_INET, text, w->addr + 12);
	}
}

static void sa_format(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "family %d", ss->ss_family);
	}
}

static void want_format(const struct want *w, char *buf, size_t len)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = w->family;
	if (w->family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;

		memcpy(&sin->sin_addr, w->addr, 4);
		sin->sin_port = htons(w->port);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		memcpy(&sin6->sin6_addr, w->addr, 16);
		sin6->sin6_port = htons(w->port);
	}
	sa_format(&ss, buf, len);
}

/* 0 when @ss is @w; else a message in @why. */
static int addr_check(const char *what, const struct sockaddr_storage *ss,
		      socklen_t len, const struct want *w, char *why, size_t wl)
{
	char g[80], e[80];
	int ok;

	if (w->family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		ok = len == sizeof(*sin) && sin->sin_family == AF_INET &&
		     !memcmp(&sin->sin_addr, w->addr, 4) &&
		     ntohs(sin->sin_port) == w->port;
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		ok = len == sizeof(*sin6) && sin6->sin6_family == AF_INET6 &&
		     !memcmp(&sin6->sin6_addr, w->addr, 16) &&
		     ntohs(sin6->sin6_port) == w->port;
	}
	if (ok)
		return 0;
	sa_format(ss, g, sizeof(g));
	want_format(w, e, sizeof(e));
	snprintf(why, wl, "%s returned %s (len %u), want %s", what, g,
		 (unsigned int)len, e);
	return -1;
}

static int peer_check(int fd, const struct want *w, char *why, size_t wl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len)) {
		snprintf(why, wl, "getpeername: %s", strerror(errno));
		return -1;
	}
	return addr_check("getpeername", &ss, len, w, why, wl);
}

static int name_check(int fd, const struct want *w, char *why, size_t wl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
		snprintf(why, wl, "getsockname: %s", strerror(errno));
		return -1;
	}
	return addr_check("getsockname", &ss, len, w, why, wl);
}

/* ---- getsockopt(TOA_SO_GET_PEER) --------------------------------------- */

/* getsockopt() with these arguments: 0 or the errno. */
static int lookup_raw(int fd, void *buf, socklen_t *len)
{
	return getsockopt(fd, IPPROTO_IP, TOA_SO_GET_PEER, buf, len) ? errno : 0;
}

/*
 * The lookup on @fd must answer the client @text:@port (IPv4 or IPv6 text;
 * family follows it, an IPv4 address comes v4-mapped).  0, or -1 with a
 * message in @why.
 */
static int lookup_check(int fd, const char *text, uint16_t port, char *why, size_t wl)
{
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	char got[INET6_ADDRSTRLEN] = "";
	struct toa_peer peer;
	socklen_t len = sizeof(peer);
	struct want w;
	int err;

	want_set(&w, AF_INET6, text, port);
	memset(&peer, 0xa5, sizeof(peer));
	err = lookup_raw(fd, &peer, &len);
	if (err) {
		snprintf(why, wl, "getsockopt(TOA_SO_GET_PEER): %s, want %s:%u",
			 strerror(err), text, port);
		return -1;
	}
	if (len == sizeof(peer) && peer.family == family &&
	    !memcmp(&peer.addr, w.addr, 16) && ntohs(peer.port) == port)
		return 0;
	inet_ntop(AF_INET6, &peer.addr, got, sizeof(got));
	snprintf(why, wl, "getsockopt(TOA_SO_GET_PEER) returned family %u [%s]:%u len %u, want family %d %s:%u",
		 peer.family, got, ntohs(peer.port), (unsigned int)len, family, text, port);
	return -1;
}

/* The lookup on @fd must fail with @want_err and leave the buffer alone. */
static int lookup_fails(int fd, int want_err, char *why, size_t wl)
{
	struct toa_peer peer, untouched;
	socklen_t len = sizeof(peer);
	int err;

	memset(&peer, 0xa5, sizeof(peer));
	memcpy(&untouched, &peer, sizeof(peer));
	err = lookup_raw(fd, &peer, &len);
	if (err == want_err && !memcmp(&peer, &untouched, sizeof(peer)))
		return 0;
	snprintf(why, wl, "getsockopt(TOA_SO_GET_PEER): %s%s, want %s",
		 err ? strerror(err) : "success",
		 memcmp(&peer, &untouched, sizeof(peer)) ? " (buffer written)" : "",
		 strerror(want_err));
	return -1;
}

/* ---- sockets ----------------------------------------------------------- */

static int listen_on(int family, const char *addr, uint16_t port, int v6only)
{
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd, tries;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, addr, &sin->sin_addr);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
		len = sizeof(*sin6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	/* A fresh IPv6 address may still be tentative for a moment. */
	for (tries = 0; bind(fd, (struct sockaddr *)&ss, len); tries++) {
		if (errno != EADDRNOTAVAIL || tries == 100) {
			fprintf(stderr, "bind %s:%u: %s\n", addr, port, strerror(errno));
			close(fd);
			return -1;
		}
		usleep(50000);
	}
	if (listen(fd, 512)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* close() that resets: the socket is destroyed at once. */
static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One connection: where it goes, what the ACK carries, what to expect. */
struct conn {
	int listener;
	int family;		/* of the accepted socket */
	const char *lb;		/* LB source address */
	const char *rs;		/* RS destination address */
	uint16_t rs_port;
	const uint8_t *opt;
	size_t opt_len;
	const char *toa;	/* client honoured, NULL: none (the real peer) */
	uint16_t toa_port;
};

/*
 * Does getpeername() show the client?  Not for an IPv6 client on an IPv4
 * socket (NAT64): that one only the lookup returns.
 */
static int conn_rewritten(const struct conn *c)
{
	return c->toa && !(c->family == AF_INET && strchr(c->toa, ':'));
}

/*
 * Handshake through @tunfd from LB port @sport with ISN @iss, accept() and
 * check the address accept() returned.  Returns the accepted fd or -1 with
 * a message in @why.  Thread-safe as long as each thread has its own TUN.
 */
static int conn_open_at(int tunfd, const struct conn *c, uint16_t sport,
			uint32_t iss, struct flow *f, struct want *w,
			char *why, size_t wl)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	if (flow_init(f, c->lb, sport, c->rs, c->rs_port, iss)) {
		snprintf(why, wl, "bad addresses");
		return -1;
	}
	if (conn_rewritten(c))
		want_set(w, c->family, c->toa, c->toa_port);
	else
		want_set(w, c->family, c->lb, sport);
	if (handshake(tunfd, f, c->opt, c->opt_len)) {
		snprintf(why, wl, "handshake failed");
		return -1;
	}
	memset(&ss, 0, sizeof(ss));
	fd = accept4(c->listener, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wl, "accept: %s", strerror(errno));
		return -1;
	}
	if (addr_check("accept", &ss, len, w, why, wl)) {
		close_rst(fd);
		return -1;
	}
	return fd;
}

/* conn_open_at() on the main TUN with the next free port and ISN. */
static int conn_open(const struct conn *c, struct flow *f, struct want *w,
		     char *why, size_t wl)
{
	uint32_t iss = next_iss;

	next_iss += 100003;
	if (next_sport < 30000)		/* wrapped (long stress runs) */
		next_sport = 30000;
	return conn_open_at(tun, c, next_sport++, iss, f, w, why, wl);
}

/* Counter changes one connection of @c causes once opened and checked. */
struct delta {
	int found, untrusted, unset, malformed, nat64;
};

static void expect_add(const struct conn *c, const struct delta *d, int getnames)
{
	expect[S_FOUND] += d->found;
	expect[S_UNTRUSTED] += d->untrusted;
	expect[S_UNSET] += d->unset;
	expect[S_MALFORMED] += d->malformed;
	expect[S_NAT64] += d->nat64;
	if (conn_rewritten(c))
		expect[S_REWRITTEN] += getnames;
}

/*
 * The basic case: open, check accept() and getpeername() (and that
 * getsockname() is untouched), check what getsockopt(TOA_SO_GET_PEER)
 * answers (the client, or ENOENT), reset, then check every counter.
 */
static void conn_case(const char *name, const struct conn *c, const struct delta *d)
{
	struct want w, local;
	struct flow f;
	char why[256] = "";
	int fd, ok;

	fd = conn_open(c, &f, &w, why, sizeof(why));
	ok = fd >= 0;
	if (ok) {
		want_set(&local, c->family, c->rs, c->rs_port);
		ok = !peer_check(fd, &w, why, sizeof(why)) &&
		     !name_check(fd, &local, why, sizeof(why));
		if (ok && c->toa)
			ok = !lookup_check(fd, c->toa, c->toa_port, why, sizeof(why));
		else if (ok)
			ok = !lookup_fails(fd, ENOENT, why, sizeof(why));
		close_rst(fd);
	}
	/* Count what the kernel saw, even when the answer was wrong. */
	expect_add(c, d, 2);
	if (c->toa)
		expect[S_LOOKUPS]++;
	tun_drain(tun);
	if (!ok) {
		report(name, 0, "%s", why);
		return;
	}
	if (!stats_check(name))
		report(name, 1, NULL);
}

/* ---- module ------------------------------------------------------------- */

static int toa_load(const char *params)
{
	int fd = open(toa_ko, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	err = (int)syscall(SYS_finit_module, fd, params, 0);
	close(fd);
	return err;
}

static int toa_unload(void)
{
	return (int)syscall(SYS_delete_module, "toa", O_NONBLOCK);
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int write_text(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* ---- test cases --------------------------------------------------------- */

static uint8_t opt_buf[64];

/* Concatenate option bytes into opt_buf. */
static size_t opts(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	memcpy(opt_buf, a, al);
	if (bl)
		memcpy(opt_buf + al, b, bl);
	return al + bl;
}

static void test_basic(void)
{
	uint8_t t4[8], t6[20];
	struct conn c;
	struct delta one = { .found = 1 };

	opt_toa4(t4, "198.51.100.1", 1111);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, "198.51.100.1", 1111 };
	conn_case("ipv4", &c, &one);

	opt_toa6(t6, "2001:db8::1", 2222);
	c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, t6, 20, "2001:db8::1", 2222 };
	conn_case("ipv6", &c, &one);

	opt_toa4(t4, "198.51.100.3", 3333);
	c = (struct conn){ lds, AF_INET6, LB4, RS4, PORT_DS, t4, 8, "198.51.100.3", 3333 };
	conn_case("ipv4_toa_dual_stack_socket", &c, &one);

	opt_toa6(t6, "2001:db8::4", 4444);
	c = (struct conn){ lds, AF_INET6, LB6, RS6, PORT_DS, t6, 20, "2001:db8::4", 4444 };
	conn_case("ipv6_toa_dual_stack_socket", &c, &one);

	opt_toa4(t4, "198.51.100.5", 5555);
	c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, t4, 8, "198.51.100.5", 5555 };
	conn_case("ipv4_toa_over_ipv6", &c, &one);
}

static void test_ignored(void)
{
	static const uint8_t eol[4] = { 0, 0, 0, 0 };
	uint8_t t4[8], t6[20];
	struct conn c;
	struct delta none = { 0 };
	struct delta nat64 = { .found = 1, .nat64 = 1 };
	struct delta untrusted = { .found = 1, .untrusted = 1 };

	/* NAT64: getpeername() keeps the LB's IPv4 address, the lookup has the client. */
	opt_toa6(t6, "2001:db8::6", 6666);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t6, 20, "2001:db8::6", 6666 };
	conn_case("ipv6_toa_on_ipv4_socket", &c, &nat64);

	opt_toa4(t4, "198.51.100.7", 7777);
	c = (struct conn){ l4, AF_INET, EVIL4, RS4, PORT_V4, t4, 8, NULL, 0 };
	conn_case("untrusted_ipv4", &c, &untrusted);

	opt_toa6(t6, "2001:db8::8", 8888);
	c = (struct conn){ l6, AF_INET6, EVIL6, RS6, PORT_V6, t6, 20, NULL, 0 };
	conn_case("untrusted_ipv6", &c, &untrusted);

	opt_toa4(t4, "198.51.100.9", 9999);
	c = (struct conn){ lds, AF_INET6, EVIL4, RS4, PORT_DS, t4, 8, NULL, 0 };
	conn_case("untrusted_dual_stack", &c, &untrusted);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, NULL, 0, NULL, 0 };
	conn_case("no_toa_ipv4", &c, &none);

	c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, NULL, 0, NULL, 0 };
	conn_case("no_toa_ipv6", &c, &none);

	c = (struct conn){ lds, AF_INET6, LB4, RS4, PORT_DS, NULL, 0, NULL, 0 };
	conn_case("no_toa_dual_stack", &c, &none);

	/* Everything after EOL is padding, not options. */
	opt_toa4(t4, "198.51.100.10", 1010);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(eol, 4, t4, 8), NULL, 0 };
	conn_case("toa_after_eol", &c, &none);
}

static void test_malformed(void)
{
	static const uint8_t len7[8] = { 254, 7, 0x04, 0x57, 198, 51, 100, 1 };
	static const uint8_t len0[4] = { 30, 0, 1, 1 };
	static const uint8_t len1[4] = { 30, 1, 1, 1 };
	static const uint8_t overrun4[12] = { 1, 1, 254, 20, 0x04, 0x57, 198, 51, 100, 11, 1, 1 };
	static const uint8_t lone_kind[4] = { 1, 1, 1, 254 };
	static const uint8_t overrun6[16] = { 1, 1, 254, 20, 0x04, 0x57, 0x20, 0x01, 0x0d, 0xb8 };
	uint8_t t4[8];
	struct conn c;
	struct delta bad = { .malformed = 1 };

	/* Kind 254 of length 7 (then NOP padding): not a TOA. */
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, len7, 8, NULL, 0 };
	conn_case("malformed_toa_length_7", &c, &bad);

	/* An option of length 0 or 1 ends the walk before the TOA. */
	opt_toa4(t4, "198.51.100.12", 1212);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(len0, 4, t4, 8), NULL, 0 };
	conn_case("malformed_option_length_0", &c, &bad);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(len1, 4, t4, 8), NULL, 0 };
	conn_case("malformed_option_length_1", &c, &bad);

	/* A TOA whose length runs past the header. */
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, overrun4, 12, NULL, 0 };
	conn_case("malformed_toa_overruns_header", &c, &bad);

	c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, overrun6, 16, NULL, 0 };
	conn_case("malformed_toa6_overruns_header", &c, &bad);

	/* Kind byte with no room for its length. */
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, lone_kind, 4, NULL, 0 };
	conn_case("malformed_lone_kind_byte", &c, &bad);
}

static void test_option_walk(void)
{
	static const uint8_t nops[4] = { 1, 1, 1, 1 };
	static const uint8_t unknown[4] = { 30, 4, 0xab, 0xcd };
	static const uint8_t ts[12] = { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t bad_tail[4] = { 30, 0, 1, 1 };
	uint8_t a4[8], b4[8], a6[20];
	struct conn c;
	struct delta one = { .found = 1 };
	struct delta one_bad = { .found = 1, .malformed = 1 };

	opt_toa4(a4, "198.51.100.20", 2020);
	opt_toa4(b4, "198.51.100.21", 2121);
	opt_toa6(a6, "2001:db8::20", 2020);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(nops, 4, a4, 8), "198.51.100.20", 2020 };
	conn_case("nop_then_toa", &c, &one);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(unknown, 4, a4, 8), "198.51.100.20", 2020 };
	conn_case("unknown_option_then_toa", &c, &one);

	c = (struct conn){ l4, AF_INET, LB4B, RS4, PORT_V4, opt_buf, opts(ts, 12, a4, 8), "198.51.100.20", 2020 };
	conn_case("timestamp_then_toa", &c, &one);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(a4, 8, b4, 8), "198.51.100.20", 2020 };
	conn_case("duplicate_toa_first_wins", &c, &one);

	c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, opt_buf, opts(a6, 20, b4, 8), "2001:db8::20", 2020 };
	conn_case("duplicate_toa6_first_wins", &c, &one);

	/* As in tcp_parse_options(), options before a bad one stand. */
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, opt_buf, opts(a4, 8, bad_tail, 4), "198.51.100.20", 2020 };
	conn_case("toa_then_bad_option", &c, &one_bad);
}

/*
 * NAT64 and getsockopt(TOA_SO_GET_PEER): what may not give an IPv4 socket
 * an IPv6 client, and what the option answers to bad arguments and to
 * sockets it has nothing for.
 */
static void test_lookup(void)
{
	/* Kind 254 of length 19 and 21: neither TOA, however close. */
	static const uint8_t len19[20] = { 254, 19, 0x19, 0x19, 0x20, 0x01, 0x0d, 0xb8,
					   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	static const uint8_t len21[24] = { 254, 21, 0x21, 0x21, 0x20, 0x01, 0x0d, 0xb8,
					   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 };
	/* A length-20 TOA cut short by the end of the header. */
	static const uint8_t cut[16] = { 1, 1, 254, 20, 0x20, 0x20, 0x20, 0x01,
					 0x0d, 0xb8, 0, 0, 0, 0, 0, 0 };
	struct delta bad = { .malformed = 1 };
	struct delta untrusted = { .found = 1, .untrusted = 1 };
	struct toa_peer big[3];
	struct want w;
	struct flow f;
	struct conn c;
	socklen_t len;
	char why[256] = "";
	uint8_t t6[20];
	int fd, udp, ok, err;

	/* A client that reaches the RS directly cannot forge the lookup. */
	opt_toa6(t6, "2001:db8::40", 4040);
	c = (struct conn){ l4, AF_INET, EVIL4, RS4, PORT_V4, t6, 20, NULL, 0 };
	conn_case("nat64_untrusted", &c, &untrusted);

	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, len19, 20, NULL, 0 };
	conn_case("nat64_toa_length_19", &c, &bad);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, len21, 24, NULL, 0 };
	conn_case("nat64_toa_length_21", &c, &bad);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, cut, 16, NULL, 0 };
	conn_case("nat64_toa_truncated", &c, &bad);

	/*
	 * Bad lengths and pointers on a socket that has an answer; then the
	 * answer read through DPVS's struct toa_nat64_peer.
	 */
	opt_toa6(t6, "2001:db8::41", 4141);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t6, 20, "2001:db8::41", 4141 };
	fd = conn_open(&c, &f, &w, why, sizeof(why));
	expect[S_FOUND]++;
	expect[S_NAT64]++;
	ok = fd >= 0;
	if (ok) {
		ok = !lookup_check(fd, c.toa, c.toa_port, why, sizeof(why));
		expect[S_LOOKUPS] += ok;
	}
	if (ok) {
		static const socklen_t short_lens[] = { 0, 1, 16, 19, (socklen_t)-1, 0x80000000u };
		unsigned int i;

		for (i = 0; ok && i < sizeof(short_lens) / sizeof(short_lens[0]); i++) {
			memset(big, 0xa5, sizeof(big));
			len = short_lens[i];
			err = lookup_raw(fd, big, &len);
			if (err != EINVAL || len != short_lens[i] || big[0].family != 0xa5a5) {
				snprintf(why, sizeof(why), "optlen %u: %s, optlen now %u, want EINVAL",
					 (unsigned int)short_lens[i],
					 err ? strerror(err) : "success", (unsigned int)len);
				ok = 0;
			}
		}
	}
	if (ok) {
		/* A longer buffer: 20 bytes written, optlen says so, the rest untouched. */
		memset(big, 0xa5, sizeof(big));
		len = sizeof(big);
		err = lookup_raw(fd, big, &len);
		expect[S_LOOKUPS] += !err;
		if (err || len != sizeof(big[0]) || big[0].family != AF_INET6 ||
		    ntohs(big[0].port) != 4141 || big[1].family != 0xa5a5) {
			snprintf(why, sizeof(why), "optlen %u: %s, optlen now %u, family %u",
				 (unsigned int)sizeof(big), err ? strerror(err) : "success",
				 (unsigned int)len, big[0].family);
			ok = 0;
		}
	}
	if (ok) {
		len = sizeof(big[0]);
		err = lookup_raw(fd, (void *)8, &len);
		if (err != EFAULT) {
			snprintf(why, sizeof(why), "optval 0x8: %s, want EFAULT",
				 err ? strerror(err) : "success");
			ok = 0;
		}
	}
	if (ok) {
		/* Code written for DPVS's toa.ko reads the same answer. */
		struct dpvs_toa_nat64_peer {
			struct in6_addr saddr;
			uint16_t sport;
		} dp;
		struct want w6;

		want_set(&w6, AF_INET6, "2001:db8::41", 4141);
		memset(&dp, 0, sizeof(dp));
		len = sizeof(dp);
		err = getsockopt(fd, IPPROTO_IP, TOA_SO_GET_LOOKUP, &dp, &len);
		expect[S_LOOKUPS] += !err;
		if (err || len != sizeof(dp) || memcmp(&dp.saddr, w6.addr, 16) ||
		    ntohs(dp.sport) != 4141) {
			snprintf(why, sizeof(why), "DPVS layout: %s, len %u, port %u",
				 err ? strerror(errno) : "success", (unsigned int)len,
				 ntohs(dp.sport));
			ok = 0;
		}
	}
	if (fd >= 0)
		close_rst(fd);
	tun_drain(tun);
	if (!ok)
		report("lookup_bad_arguments", 0, "%s", why);
	else if (!stats_check("lookup_bad_arguments"))
		report("lookup_bad_arguments", 1, NULL);

	/* Listening sockets have no peer. */
	ok = !lookup_fails(l4, ENOTCONN, why, sizeof(why)) &&
	     !lookup_fails(l6, ENOTCONN, why, sizeof(why)) &&
	     !lookup_fails(lds, ENOTCONN, why, sizeof(why));
	report("lookup_listening_socket", ok, "%s", ok ? "" : why);

	/* Not TCP: the option does not apply, connected or not. */
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ok = udp >= 0 && !lookup_fails(udp, ENOPROTOOPT, why, sizeof(why));
	if (ok) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };

		inet_pton(AF_INET, RS4, &sin.sin_addr);
		ok = !connect(udp, (struct sockaddr *)&sin, sizeof(sin)) &&
		     !lookup_fails(udp, ENOPROTOOPT, why, sizeof(why));
	}
	if (udp >= 0)
		close(udp);
	report("lookup_udp_socket", ok, "%s", ok ? "" : why);

	/*
	 * Reset by the LB: no longer connected, as getpeername() says, while
	 * the record lives until the socket is freed.
	 */
	opt_toa6(t6, "2001:db8::42", 4242);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t6, 20, "2001:db8::42", 4242 };
	fd = conn_open(&c, &f, &w, why, sizeof(why));
	expect[S_FOUND]++;
	expect[S_NAT64]++;
	ok = fd >= 0 && !lookup_check(fd, c.toa, c.toa_port, why, sizeof(why));
	if (ok) {
		expect[S_LOOKUPS]++;
		ok = !rst_close(tun, &f);
		usleep(100000);
		if (!ok)
			snprintf(why, sizeof(why), "RST failed");
	}
	if (ok) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		ok = !lookup_fails(fd, ENOTCONN, why, sizeof(why));
		if (ok && (!getpeername(fd, (struct sockaddr *)&ss, &sl) || errno != ENOTCONN)) {
			snprintf(why, sizeof(why), "getpeername after RST: %s, want ENOTCONN",
				 strerror(errno));
			ok = 0;
		}
	}
	if (fd >= 0)
		close(fd);
	tun_drain(tun);
	if (!ok)
		report("lookup_after_reset", 0, "%s", why);
	else if (!stats_check("lookup_after_reset"))
		report("lookup_after_reset", 1, NULL);
}

/* Records must go whichever way the socket dies. */
static void test_close_paths(void)
{
	struct want w;
	struct flow f[3];
	int fd[3], i, ok = 1;
	char why[256] = "";
	uint8_t t4[8];
	struct conn c;

	opt_toa4(t4, "198.51.100.30", 3030);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, "198.51.100.30", 3030 };
	for (i = 0; i < 3; i++) {
		fd[i] = conn_open(&c, &f[i], &w, why, sizeof(why));
		expect[S_FOUND]++;
		if (fd[i] < 0) {
			report("close_paths", 0, "%s", why);
			return;
		}
		expect[S_REWRITTEN]++;
	}
	expect[S_ENTRIES] = 3;
	if (stats_check("close_paths_open"))
		ok = 0;
	expect[S_ENTRIES] = 0;

	/* Reset by us, then closed by the server. */
	if (rst_close(tun, &f[0]))
		ok = 0;
	usleep(100000);
	close(fd[0]);
	/* Server resets (SO_LINGER 0). */
	close_rst(fd[1]);
	/* Orderly: server FIN, our FIN, server goes to TIME_WAIT. */
	close(fd[2]);
	if (fin_close(tun, &f[2]))
		ok = 0;
	tun_drain(tun);
	if (!ok) {
		report("close_paths", 0, "close sequence failed");
		return;
	}
	if (!stats_check("close_paths"))
		report("close_paths", 1, NULL);
}

/* Children queued but never accepted die with their listener. */
static void test_unaccepted(void)
{
	struct flow f;
	uint8_t t4[8];
	int lfd, i;

	lfd = listen_on(AF_INET, RS4, PORT_UNACC, 0);
	if (lfd < 0) {
		report("unaccepted_children", 0, "listen failed");
		return;
	}
	for (i = 0; i < 5; i++) {
		opt_toa4(t4, "198.51.100.40", 4000 + i);
		flow_init(&f, LB4, next_sport++, RS4, PORT_UNACC, next_iss);
		next_iss += 100003;
		if (handshake(tun, &f, t4, 8)) {
			report("unaccepted_children", 0, "handshake failed");
			close(lfd);
			return;
		}
		expect[S_FOUND]++;
	}
	expect[S_ENTRIES] = 5;
	if (stats_check("unaccepted_children_queued")) {
		close(lfd);
		expect[S_ENTRIES] = 0;
		return;
	}
	close(lfd);
	expect[S_ENTRIES] = 0;
	tun_drain(tun);
	if (!stats_check("unaccepted_children"))
		report("unaccepted_children", 1, NULL);
}

/* A second netns has its own counters and its own /proc/net/toa_stats. */
static int netns_child(void)
{
	long got[S_MAX] = { 0 }, want[S_MAX] = { 0 };
	struct want w;
	struct flow f;
	char why[256] = "", g[256];
	uint8_t t4[8];
	struct conn c;
	int fd, lfd, i;

	if (unshare(CLONE_NEWNET)) {
		printf("TOA-INFO netns: unshare: %s\n", strerror(errno));
		return 1;
	}
	tun = tun_setup(TUN_NAME, RS4, 16, RS6, 16, 0);
	lfd = listen_on(AF_INET, RS4, PORT_V4, 0);
	if (tun < 0 || lfd < 0) {
		printf("TOA-INFO netns: setup failed\n");
		return 1;
	}
	if (stats_read(got) || !stats_equal(got, want)) {
		stats_format(got, g, sizeof(g));
		printf("TOA-INFO netns: fresh netns stats {%s}\n", g);
		return 1;
	}
	opt_toa4(t4, "198.51.100.50", 5050);
	c = (struct conn){ lfd, AF_INET, LB4, RS4, PORT_V4, t4, 8, "198.51.100.50", 5050 };
	fd = conn_open(&c, &f, &w, why, sizeof(why));
	if (fd < 0 || peer_check(fd, &w, why, sizeof(why))) {
		printf("TOA-INFO netns: %s\n", why);
		return 1;
	}
	close_rst(fd);
	want[S_FOUND] = 1;
	want[S_REWRITTEN] = 2;
	for (i = 0; i < 250; i++) {
		if (!stats_read(got) && stats_equal(got, want))
			return 0;
		usleep(20000);
	}
	stats_format(got, g, sizeof(g));
	printf("TOA-INFO netns: stats {%s}\n", g);
	return 1;
}

static void test_netns(void)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(netns_child());
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		report("netns_separate_stats", 0, "child failed");
		return;
	}
	/* The child's connection must not show up here. */
	if (!stats_check("netns_separate_stats"))
		report("netns_separate_stats", 1, NULL);
}

/*
 * Many short connections; every accept() checked, and the lookup of every
 * NAT64 one (an IPv6 TOA on the IPv4 listener); records must not leak.
 */
static void test_churn(void)
{
	long t0 = now_ms();
	int i, bad = 0;
	char why[256] = "";

	for (i = 0; i < CHURN; i++) {
		int v6 = i % 4 == 3;
		char toa[64];
		uint8_t t[20];
		struct conn c;
		struct want w;
		struct flow f;
		size_t tl;
		int fd;

		if (v6) {
			snprintf(toa, sizeof(toa), "2001:db8:c::%x", i);
			tl = opt_toa6(t, toa, 1024 + i);
			c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, t, tl, toa, (uint16_t)(1024 + i) };
		} else if (i % 4 == 1) {
			snprintf(toa, sizeof(toa), "2001:db8:64::%x", i);
			tl = opt_toa6(t, toa, 1024 + i);
			c = (struct conn){ l4, AF_INET, LB4B, RS4, PORT_V4, t, tl, toa, (uint16_t)(1024 + i) };
		} else {
			snprintf(toa, sizeof(toa), "198.18.%d.%d", i >> 8, i & 0xff);
			tl = opt_toa4(t, toa, 1024 + i);
			c = (struct conn){ l4, AF_INET, i & 1 ? LB4B : LB4, RS4, PORT_V4, t, tl, toa, (uint16_t)(1024 + i) };
		}
		next_sport = 10000 + i;		/* 10000..19999: unique 4-tuples */
		fd = conn_open(&c, &f, &w, why, sizeof(why));
		expect[S_FOUND]++;
		expect[S_NAT64] += !conn_rewritten(&c);
		if (fd < 0) {
			if (bad++ < 5)
				printf("TOA-INFO churn %d: %s\n", i, why);
			continue;
		}
		if (conn_rewritten(&c)) {
			expect[S_REWRITTEN]++;
		} else if (lookup_check(fd, c.toa, c.toa_port, why, sizeof(why))) {
			if (bad++ < 5)
				printf("TOA-INFO churn %d: %s\n", i, why);
		} else {
			expect[S_LOOKUPS]++;
		}
		if (i % 10 == 0) {
			close(fd);
			if (fin_close(tun, &f) && bad++ < 5)
				printf("TOA-INFO churn %d: FIN close failed\n", i);
		} else {
			close_rst(fd);
		}
		if (i % 64 == 0)
			tun_drain(tun);
	}
	tun_drain(tun);
	next_sport = 30000 + 5000;
	printf("TOA-INFO churn: %d connections in %ld ms\n", CHURN, now_ms() - t0);
	if (bad) {
		report("churn_10000", 0, "%d connections failed", bad);
		return;
	}
	if (!stats_check("churn_10000"))
		report("churn_10000", 1, NULL);
}

/* A second TUN whose RS address is RS4B and which 10.77.1.128/25 routes to. */
static int tun2_setup(void)
{
	struct sockaddr_in *sin;
	struct rtentry rt;
	int fd, s;

	fd = tun_setup(TUN2_NAME, RS4B, 16, "fd79::1", 16, 1);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || s < 0)
		goto err;
	memset(&rt, 0, sizeof(rt));
	sin = (struct sockaddr_in *)&rt.rt_dst;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.77.1.128", &sin->sin_addr);
	sin = (struct sockaddr_in *)&rt.rt_genmask;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "255.255.255.128", &sin->sin_addr);
	rt.rt_flags = RTF_UP;
	rt.rt_dev = TUN2_NAME;
	if (ioctl(s, SIOCADDRT, &rt) < 0) {
		fprintf(stderr, "SIOCADDRT: %s\n", strerror(errno));
		goto err;
	}
	close(s);
	return fd;
err:
	if (s >= 0)
		close(s);
	if (fd >= 0)
		close(fd);
	return -1;
}

struct churn_worker {
	pthread_t thread;
	int tun, listener;
	const char *lb, *rs;
	uint32_t iss;
	int done, bad;
	char why[256];
};

static void *churn_worker_run(void *arg)
{
	struct churn_worker *w = arg;
	int i;

	for (i = 0; i < PAR_CHURN; i++) {
		char toa[64];
		uint8_t t[8];
		struct want want;
		struct flow f;
		struct conn c;
		int fd;

		snprintf(toa, sizeof(toa), "198.20.%d.%d", i >> 8, i & 0xff);
		opt_toa4(t, toa, 3000 + i);
		c = (struct conn){ w->listener, AF_INET, w->lb, w->rs, PORT_V4, t, 8, toa, (uint16_t)(3000 + i) };
		fd = conn_open_at(w->tun, &c, 40000 + i, w->iss + i * 100003U,
				  &f, &want, w->why, sizeof(w->why));
		if (fd < 0) {
			if (w->bad++ > 5)
				break;
			continue;
		}
		close_rst(fd);
		w->done++;
		if (i % 64 == 0)
			tun_drain(w->tun);
	}
	return NULL;
}

/* NET_RX softirqs served so far, summed over CPUs. */
static long net_rx_softirqs(void)
{
	char line[512], *p, *end;
	long sum = 0;
	FILE *f = fopen("/proc/softirqs", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		p = strstr(line, "NET_RX:");
		if (!p)
			continue;
		for (p += 7;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
	}
	fclose(f);
	return sum;
}

/*
 * Two threads, each on its own TUN, so the two CPUs record, look up and
 * free records at the same time: one TUN hands segments to the stack in the
 * writer's context (bottom halves off), the other (IFF_NAPI) through the
 * NET_RX softirq as a NIC would.
 */
static void test_parallel_churn(void)
{
	struct churn_worker w[2];
	long t0 = now_ms(), rx0 = net_rx_softirqs();
	int tun2, lb, i;

	tun2 = tun2_setup();
	lb = listen_on(AF_INET, RS4B, PORT_V4, 0);
	if (tun2 < 0 || lb < 0) {
		report("parallel_churn", 0, "second TUN setup failed");
		return;
	}
	memset(w, 0, sizeof(w));
	w[0] = (struct churn_worker){ .tun = tun, .listener = l4, .lb = LB4_PAR_A,
				      .rs = RS4, .iss = 7 };
	w[1] = (struct churn_worker){ .tun = tun2, .listener = lb, .lb = LB4_PAR_B,
				      .rs = RS4B, .iss = 11 };
	for (i = 0; i < 2; i++)
		pthread_create(&w[i].thread, NULL, churn_worker_run, &w[i]);
	for (i = 0; i < 2; i++)
		pthread_join(w[i].thread, NULL);
	tun_drain(tun);
	close(lb);
	close(tun2);
	printf("TOA-INFO parallel churn: %d+%d connections in %ld ms, %ld NET_RX softirqs\n",
	       w[0].done, w[1].done, now_ms() - t0, net_rx_softirqs() - rx0);

	expect[S_FOUND] += w[0].done + w[1].done;
	expect[S_REWRITTEN] += w[0].done + w[1].done;
	if (w[0].bad || w[1].bad) {
		report("parallel_churn", 0, "%s", w[0].bad ? w[0].why : w[1].why);
		return;
	}
	if (!stats_check("parallel_churn"))
		report("parallel_churn", 1, NULL);
}

/*
 * rmmod with connections open (and one child recorded but not yet
 * accepted): afterwards everything reports its real peer.
 */
static void test_unload_open(void)
{
	struct conn c[4];
	struct flow f[4], fq;
	struct want w[4], real;
	uint8_t t4a[8], t6[20], t4b[8], t4q[8], t64[20];
	char why[256] = "";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd[4], qfd, i, ok = 1;

	opt_toa4(t4a, "198.51.100.60", 6060);
	opt_toa6(t6, "2001:db8::60", 6060);
	opt_toa4(t4b, "198.51.100.61", 6161);
	opt_toa6(t64, "2001:db8::64", 6464);
	c[0] = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4a, 8, "198.51.100.60", 6060 };
	c[1] = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, t6, 20, "2001:db8::60", 6060 };
	c[2] = (struct conn){ lds, AF_INET6, LB4, RS4, PORT_DS, t4b, 8, "198.51.100.61", 6161 };
	c[3] = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t64, 20, "2001:db8::64", 6464 };
	for (i = 0; i < 4; i++) {
		fd[i] = conn_open(&c[i], &f[i], &w[i], why, sizeof(why));
		expect[S_FOUND]++;
		if (fd[i] < 0 || peer_check(fd[i], &w[i], why, sizeof(why))) {
			report("unload_with_open_connections", 0, "%s", why);
			return;
		}
		if (conn_rewritten(&c[i]))
			expect[S_REWRITTEN] += 2;
	}
	/* The NAT64 one answers the lookup until the module goes. */
	expect[S_NAT64]++;
	if (lookup_check(fd[3], c[3].toa, c[3].toa_port, why, sizeof(why))) {
		report("unload_with_open_connections", 0, "%s", why);
		return;
	}
	expect[S_LOOKUPS]++;
	/* One more, left in the accept queue. */
	opt_toa4(t4q, "198.51.100.62", 6262);
	flow_init(&fq, LB4, next_sport++, RS4, PORT_V4, next_iss);
	next_iss += 100003;
	if (handshake(tun, &fq, t4q, 8)) {
		report("unload_with_open_connections", 0, "handshake failed");
		return;
	}
	expect[S_FOUND]++;
	expect[S_ENTRIES] = 5;
	if (stats_check("before_unload"))
		return;
	stats_checkpoint("before_unload");

	if (toa_unload()) {
		report("unload_with_open_connections", 0, "delete_module: %s", strerror(errno));
		return;
	}
	if (!access("/proc/net/toa_stats", F_OK)) {
		ok = 0;
		snprintf(why, sizeof(why), "/proc/net/toa_stats still there");
	}
	for (i = 0; i < 4 && ok; i++) {
		int fam = c[i].family;

		want_set(&real, fam, c[i].lb, f[i].sport);
		if (peer_check(fd[i], &real, why, sizeof(why)))
			ok = 0;
	}
	/* Nobody answers the option any more: the kernel's own ENOPROTOOPT. */
	if (ok && lookup_fails(fd[3], ENOPROTOOPT, why, sizeof(why)))
		ok = 0;
	if (ok) {
		memset(&ss, 0, sizeof(ss));
		qfd = accept4(l4, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		want_set(&real, AF_INET, LB4, fq.sport);
		if (qfd < 0) {
			ok = 0;
			snprintf(why, sizeof(why), "accept: %s", strerror(errno));
		} else {
			if (addr_check("accept", &ss, len, &real, why, sizeof(why)) ||
			    peer_check(qfd, &real, why, sizeof(why)))
				ok = 0;
			close_rst(qfd);
		}
	}
	for (i = 0; i < 4; i++)
		close_rst(fd[i]);
	tun_drain(tun);
	report("unload_with_open_connections", ok, "%s", ok ? "" : why);

	/* And a new connection with a TOA is left alone. */
	c[0].toa = NULL;
	fd[0] = conn_open(&c[0], &f[0], &w[0], why, sizeof(why));
	if (fd[0] < 0 || peer_check(fd[0], &w[0], why, sizeof(why)))
		report("no_rewrite_after_unload", 0, "%s", why);
	else
		report("no_rewrite_after_unload", 1, NULL);
	if (fd[0] >= 0)
		close_rst(fd[0]);
	tun_drain(tun);
}

/*
 * getpeername() and getsockopt(TOA_SO_GET_PEER) in a loop from two threads
 * while the module goes away: each getpeername() answer must be what the
 * module gave (before) or the real peer (after), each lookup the client
 * (before) or ENOPROTOOPT (after), nothing else.
 */
enum { MANY = 300 };
static int many_fd[MANY];
/* getpeername() with the module, without it; the lookup's address form. */
static struct want many_toa[MANY], many_real[MANY], many_client[MANY];
static volatile int hammer_stop;
static int hammer_n;		/* how many of many_fd[] to hammer */

struct hammer {
	pthread_t thread;
	long toa, real, lk_client, lk_gone, bad;
	char why[256];
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	struct toa_peer peer;
	socklen_t len;
	char why[256];
	int i, err;

	while (!hammer_stop) {
		for (i = 0; i < hammer_n; i++) {
			if (!peer_check(many_fd[i], &many_toa[i], why, sizeof(why)))
				h->toa++;
			else if (!peer_check(many_fd[i], &many_real[i], why, sizeof(why)))
				h->real++;
			else if (h->bad++ == 0)
				snprintf(h->why, sizeof(h->why), "%s", why);

			len = sizeof(peer);
			err = lookup_raw(many_fd[i], &peer, &len);
			if (!err && len == sizeof(peer) &&
			    !memcmp(&peer.addr, many_client[i].addr, 16) &&
			    ntohs(peer.port) == many_client[i].port)
				h->lk_client++;
			else if (err == ENOPROTOOPT)
				h->lk_gone++;
			else if (h->bad++ == 0)
				snprintf(h->why, sizeof(h->why), "lookup of %d: %s", i,
					 err ? strerror(err) : "wrong answer");
		}
	}
	return NULL;
}

/*
 * rmmod; EAGAIN while a lookup holds the module (netfilter takes a
 * reference for the call) is retried, up to 2 s.  0 or the errno.
 */
static int toa_unload_retry(int *tries)
{
	int err;

	for (*tries = 1;; (*tries)++) {
		err = toa_unload() ? errno : 0;
		if (err != EAGAIN || *tries == 2000)
			return err;
		usleep(1000);
	}
}

/*
 * Hammer the first @n of many_fd[], unload after @before_us, stop @after_us
 * later.  0 when rmmod worked and every answer was one of the two allowed
 * (and both were seen), else a message in @why.
 */
static int unload_hammered(int n, long before_us, long after_us, int verbose,
			   char *why, size_t wl)
{
	struct hammer h[2];
	int i, err, tries;

	memset(h, 0, sizeof(h));
	hammer_n = n;
	hammer_stop = 0;
	for (i = 0; i < 2; i++)
		pthread_create(&h[i].thread, NULL, hammer_run, &h[i]);
	usleep(before_us);
	err = toa_unload_retry(&tries);
	usleep(after_us);
	hammer_stop = 1;
	for (i = 0; i < 2; i++)
		pthread_join(h[i].thread, NULL);
	if (verbose)
		printf("TOA-INFO unload under load: rmmod tries %d, getpeername client answers %ld+%ld, real-peer answers %ld+%ld, lookups client %ld+%ld, ENOPROTOOPT %ld+%ld\n",
		       tries, h[0].toa, h[1].toa, h[0].real, h[1].real,
		       h[0].lk_client, h[1].lk_client, h[0].lk_gone, h[1].lk_gone);
	if (!err && !h[0].bad && !h[1].bad && h[0].toa + h[1].toa > 0 &&
	    h[0].real + h[1].real > 0 && h[0].lk_client + h[1].lk_client > 0 &&
	    h[0].lk_gone + h[1].lk_gone > 0)
		return 0;
	snprintf(why, wl, "rmmod %s after %d tries, answers client %ld real %ld, lookups client %ld gone %ld, bad %ld+%ld %s",
		 strerror(err), tries, h[0].toa + h[1].toa, h[0].real + h[1].real,
		 h[0].lk_client + h[1].lk_client, h[0].lk_gone + h[1].lk_gone,
		 h[0].bad, h[1].bad, h[0].bad ? h[0].why : h[1].why);
	return -1;
}

static void test_unload_under_load(void)
{
	char why[512];

	if (!unload_hammered(MANY, 300000, 300000, 1, why, sizeof(why)))
		report("unload_under_getpeername_load", 1, NULL);
	else
		report("unload_under_getpeername_load", 0, "%s", why);
}

/*
 * Open @n connections into many_fd[], each with its own TOA (from LB4 and
 * LB6: trusted under TRUSTED): every third NAT64 (IPv6 TOA on the IPv4
 * listener), the others alternately IPv6 and IPv4 on the dual-stack
 * listener.  0, or -1 with a message in @why.
 */
static int many_open(int n, char *why, size_t wl)
{
	struct conn c;
	int i;

	for (i = 0; i < n; i++) {
		char toa[64];
		uint8_t t[20];
		struct flow f;
		size_t tl;

		if (i % 3 == 2) {
			snprintf(toa, sizeof(toa), "2001:db8:e::%x", i);
			tl = opt_toa6(t, toa, 2000 + i);
			c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t, tl, toa, (uint16_t)(2000 + i) };
		} else if (i & 1) {
			snprintf(toa, sizeof(toa), "2001:db8:d::%x", i);
			tl = opt_toa6(t, toa, 2000 + i);
			c = (struct conn){ l6, AF_INET6, LB6, RS6, PORT_V6, t, tl, toa, (uint16_t)(2000 + i) };
		} else {
			snprintf(toa, sizeof(toa), "198.19.1.%d", i / 2);
			tl = opt_toa4(t, toa, 2000 + i);
			c = (struct conn){ lds, AF_INET6, LB4, RS4, PORT_DS, t, tl, toa, (uint16_t)(2000 + i) };
		}
		many_fd[i] = conn_open(&c, &f, &many_toa[i], why, wl);
		expect[S_FOUND]++;
		if (many_fd[i] < 0)
			return -1;
		if (conn_rewritten(&c))
			expect[S_REWRITTEN]++;
		else
			expect[S_NAT64]++;
		/* What the socket must say once the module is gone. */
		want_set(&many_real[i], c.family, c.lb, f.sport);
		want_set(&many_client[i], AF_INET6, toa, c.toa_port);
		tun_drain(tun);
	}
	return 0;
}

static void many_close(int n)
{
	int i;

	for (i = 0; i < n; i++)
		close_rst(many_fd[i]);
	tun_drain(tun);
}

/* ---- trusted= modes: one load each ------------------------------------ */

/* Load with @params and fresh counters; 0, or a FAIL for @name. */
static int load_fresh(const char *name, const char *params, const char *want_trusted)
{
	char buf[256] = "";

	memset(expect, 0, sizeof(expect));
	if (toa_load(params)) {
		report(name, 0, "finit_module(\"%s\"): %s", params, strerror(errno));
		return -1;
	}
	if (read_text(TRUSTED_PARAM, buf, sizeof(buf)) || strcmp(buf, want_trusted)) {
		report(name, 0, "trusted reads '%s', want '%s'", buf, want_trusted);
		toa_unload();
		return -1;
	}
	if (stats_check(name)) {
		toa_unload();
		return -1;
	}
	return 0;
}

static void unload_or_fail(const char *name)
{
	if (toa_unload())
		report(name, 0, "delete_module: %s", strerror(errno));
}

/* Median of @n (odd) longs; sorts @v. */
static long median(long *v, int n)
{
	int i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			long t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/*
 * Reading /proc/net/toa_stats costs the same whatever the table size: with
 * 2^24 buckets the walk the module once did took a median of 2.5 s per read
 * under TCG on a busy host, a read of counters 0.7 ms.  The median of 21
 * reads is held to 50 ms: 70x above the counter read, 50x below the walk.
 */
enum { STATS_READS = 21, STATS_READ_MAX_US = 50000 };

static void stats_read_cost(const char *name)
{
	long t[STATS_READS], got[S_MAX], med;
	int i;

	for (i = 0; i < STATS_READS; i++) {
		long t0 = now_us();

		if (stats_read(got)) {
			report(name, 0, "toa_stats unreadable");
			return;
		}
		t[i] = now_us() - t0;
	}
	med = median(t, STATS_READS);
	printf("TOA-INFO %s: median read of /proc/net/toa_stats %ld us (2^24 buckets)\n",
	       name, med);
	if (med <= STATS_READ_MAX_US)
		report(name, 1, NULL);
	else
		report(name, 0, "median read %ld us > %d us", med, STATS_READ_MAX_US);
}

/*
 * trusted= rewritten from another thread while handshakes run: each
 * connection is decided once, at its handshake, by one whole list (the
 * answers of accept() and getpeername() agree, and are the client or the
 * real peer, nothing else), and the counters add up.  Under slub_debug a
 * list freed while a handshake still read it would show as garbage.
 */
enum { RACE_CONNS = 300, RACE_WRITES_MAX = 3000 };

struct flipper {
	pthread_t thread;
	volatile int stop;
	long writes, errors;
};

static void *flipper_run(void *arg)
{
	/* Honoured for LB4 under the 1st, 3rd and 5th; ignored under the others. */
	static const char *const vals[] = {
		"10.77.1.0/24", "", "any", "10.77.2.0/24,fd77:2::/64", "0.0.0.0/0",
	};
	struct flipper *fl = arg;

	while (!fl->stop && fl->writes < RACE_WRITES_MAX) {
		if (write_text(TRUSTED_PARAM, vals[fl->writes % 5]))
			fl->errors++;
		fl->writes++;
		usleep(2000);
	}
	return NULL;
}

static void test_trust_race(void)
{
	const char *name = "sysfs_trusted_race";
	long got[S_MAX] = { 0 }, before[S_MAX];
	struct flipper fl = { 0 };
	int i, honoured = 0, ignored = 0, ok = 1;
	char why[256] = "";

	memcpy(before, expect, sizeof(before));
	pthread_create(&fl.thread, NULL, flipper_run, &fl);
	for (i = 0; i < RACE_CONNS && ok; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct want client, real;
		char toa[64], w1[256];
		struct flow f;
		uint8_t t[8];
		int fd, is_client;

		snprintf(toa, sizeof(toa), "198.18.200.%d", i & 0xff);
		opt_toa4(t, toa, 5000 + i);
		want_set(&client, AF_INET, toa, 5000 + i);
		flow_init(&f, LB4, next_sport, RS4, PORT_V4, next_iss);
		want_set(&real, AF_INET, LB4, next_sport++);
		next_iss += 100003;
		if (handshake(tun, &f, t, 8)) {
			snprintf(why, sizeof(why), "connection %d: handshake failed", i);
			ok = 0;
			break;
		}
		memset(&ss, 0, sizeof(ss));
		fd = accept4(l4, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			snprintf(why, sizeof(why), "accept: %s", strerror(errno));
			ok = 0;
			break;
		}
		is_client = !addr_check("accept", &ss, len, &client, w1, sizeof(w1));
		if (!is_client && addr_check("accept", &ss, len, &real, why, sizeof(why)))
			ok = 0;
		/* The list changed since; the answer must not. */
		else if (peer_check(fd, is_client ? &client : &real, why, sizeof(why)))
			ok = 0;
		close_rst(fd);
		if (is_client)
			honoured++;
		else
			ignored++;
		if (i % 32 == 0)
			tun_drain(tun);
	}
	fl.stop = 1;
	pthread_join(fl.thread, NULL);
	tun_drain(tun);
	printf("TOA-INFO %s: %d connections honoured, %d ignored, %ld writes of trusted= (%ld refused)\n",
	       name, honoured, ignored, fl.writes, fl.errors);
	if (!ok) {
		report(name, 0, "%s", why);
		return;
	}
	if (fl.errors || !honoured || !ignored) {
		report(name, 0, "%ld writes refused, %d honoured, %d ignored: want 0, >0, >0",
		       fl.errors, honoured, ignored);
		return;
	}
	/* Every ignored TOA is counted as untrusted or trusted_unset. */
	expect[S_FOUND] += RACE_CONNS;
	expect[S_REWRITTEN] += 2 * honoured;
	for (i = 0; i < 250; i++) {
		if (!stats_read(got) && got[S_FOUND] == expect[S_FOUND] &&
		    got[S_REWRITTEN] == expect[S_REWRITTEN] &&
		    got[S_UNTRUSTED] + got[S_UNSET] ==
			    before[S_UNTRUSTED] + before[S_UNSET] + ignored &&
		    got[S_ENTRIES] == expect[S_ENTRIES])
			break;
		usleep(20000);
	}
	expect[S_UNTRUSTED] = got[S_UNTRUSTED];
	expect[S_UNSET] = got[S_UNSET];
	if (!stats_check(name))
		report(name, 1, NULL);
}

/*
 * The module loaded without trusted=, with trusted=any, with trusted= the
 * sending LB or another one, and refused with malformed values.
 */
static void test_trust_modes(void)
{
	static const char *const bad[] = {
		"trusted=10.77.1.0/33", "trusted=bogus", "trusted=any,10.77.1.0/24",
		"trusted=10.77.1.0/24,any", "trusted=10.77.1.1/", "trusted=anything",
	};
	struct delta unset = { .found = 1, .unset = 1 };
	struct delta untrusted = { .found = 1, .untrusted = 1 };
	struct delta one = { .found = 1 };
	char why[256] = "";
	uint8_t t4[8], t6[20];
	struct conn c;
	unsigned int i;
	int ok;

	/* No trusted=: fail closed, every TOA ignored and counted. */
	opt_toa4(t4, "198.51.100.80", 8080);
	if (!load_fresh("trusted_unset_ignores_toa", "", "\n")) {
		c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, NULL, 0 };
		conn_case("trusted_unset_ignores_toa", &c, &unset);
		opt_toa6(t6, "2001:db8::80", 8080);
		c = (struct conn){ lds, AF_INET6, LB6, RS6, PORT_DS, t6, 20, NULL, 0 };
		conn_case("trusted_unset_ignores_toa6", &c, &unset);
		c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t6, 20, NULL, 0 };
		conn_case("trusted_unset_ignores_nat64", &c, &unset);
		unload_or_fail("trusted_unset_ignores_toa");
	}

	/* trusted=any: today's lab behaviour, explicitly; also a large table. */
	if (!load_fresh("trusted_any_honours_every_source", "trusted=any hash_bits=24",
			"any\n")) {
		c = (struct conn){ l4, AF_INET, EVIL4, RS4, PORT_V4, t4, 8, "198.51.100.80", 8080 };
		conn_case("trusted_any_honours_every_source", &c, &one);
		opt_toa6(t6, "2001:db8::81", 8181);
		c = (struct conn){ l6, AF_INET6, EVIL6, RS6, PORT_V6, t6, 20, "2001:db8::81", 8181 };
		conn_case("trusted_any_honours_ipv6", &c, &one);
		stats_read_cost("toa_stats_read_constant_time");
		unload_or_fail("trusted_any_honours_every_source");
	}

	/* trusted= exactly the sender; another LB of the same subnet is not. */
	if (!load_fresh("trusted_sender_honoured", "trusted=" LB4, LB4 "/32\n")) {
		c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, "198.51.100.80", 8080 };
		conn_case("trusted_sender_honoured", &c, &one);
		c = (struct conn){ l4, AF_INET, LB4B, RS4, PORT_V4, t4, 8, NULL, 0 };
		conn_case("trusted_other_ignored", &c, &untrusted);
		unload_or_fail("trusted_sender_honoured");
	}

	/* Run-time changes racing with handshakes. */
	if (!load_fresh("sysfs_trusted_race", "", "\n")) {
		test_trust_race();
		unload_or_fail("sysfs_trusted_race");
	}

	/* Malformed values: the load fails with EINVAL, nothing stays loaded. */
	ok = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]) && ok; i++) {
		int err = toa_load(bad[i]) ? errno : 0;

		if (!err) {
			toa_unload();
			snprintf(why, sizeof(why), "\"%s\" loaded", bad[i]);
			ok = 0;
		} else if (err != EINVAL) {
			snprintf(why, sizeof(why), "\"%s\": %s, want EINVAL", bad[i],
				 strerror(err));
			ok = 0;
		} else if (!access("/sys/module/toa", F_OK)) {
			snprintf(why, sizeof(why), "\"%s\": /sys/module/toa exists", bad[i]);
			ok = 0;
		}
	}
	report("malformed_trusted_refused", ok, "%s", ok ? "" : why);
}

/* Second load: default trusted= (none), small table, sysfs changes. */
static void test_reload(void)
{
	struct delta one = { .found = 1 };
	struct delta untrusted = { .found = 1, .untrusted = 1 };
	struct delta unset = { .found = 1, .unset = 1 };
	char buf[256], why[256] = "";
	uint8_t t4[8], t6[20];
	struct conn c;
	int i, err, ok;

	if (load_fresh("reload_default_ignores_toa", "hash_bits=8", "\n"))
		return;

	/* Default: no source is trusted. */
	opt_toa4(t4, "198.51.100.70", 7070);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, NULL, 0 };
	conn_case("reload_default_ignores_toa", &c, &unset);

	/* Narrow it at run time. */
	err = write_text(TRUSTED_PARAM, " 10.77.1.0/24 , fd77:1::/64\n");
	ok = !err && !read_text(TRUSTED_PARAM, buf, sizeof(buf)) &&
	     !strcmp(buf, TRUSTED "\n");
	if (ok)
		report("sysfs_trusted_write", 1, NULL);
	else
		report("sysfs_trusted_write", 0, "write %d, reads '%s'", err, buf);

	c = (struct conn){ l4, AF_INET, EVIL4, RS4, PORT_V4, t4, 8, NULL, 0 };
	conn_case("sysfs_trusted_excludes", &c, &untrusted);
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, "198.51.100.70", 7070 };
	conn_case("sysfs_trusted_includes", &c, &one);

	/* A bad value is refused and the old list stays. */
	err = write_text(TRUSTED_PARAM, "10.77.1.0/33");
	ok = err == -EINVAL && !read_text(TRUSTED_PARAM, buf, sizeof(buf)) &&
	     !strcmp(buf, TRUSTED "\n");
	if (ok)
		report("sysfs_trusted_rejects_bad_prefix", 1, NULL);
	else
		report("sysfs_trusted_rejects_bad_prefix", 0, "write %d, reads '%s'", err, buf);

	/* Writing nothing fails closed again. */
	err = write_text(TRUSTED_PARAM, "\n");
	ok = !err && !read_text(TRUSTED_PARAM, buf, sizeof(buf)) && !strcmp(buf, "\n");
	c = (struct conn){ l4, AF_INET, LB4, RS4, PORT_V4, t4, 8, NULL, 0 };
	if (ok)
		conn_case("sysfs_trusted_unset", &c, &unset);
	else
		report("sysfs_trusted_unset", 0, "write %d, reads '%s'", err, buf);

	/* any, at run time. */
	err = write_text(TRUSTED_PARAM, "any\n");
	ok = !err && !read_text(TRUSTED_PARAM, buf, sizeof(buf)) && !strcmp(buf, "any\n");
	opt_toa6(t6, "2001:db8::72", 7272);
	c = (struct conn){ l6, AF_INET6, EVIL6, RS6, PORT_V6, t6, 20, "2001:db8::72", 7272 };
	if (ok)
		conn_case("sysfs_trusted_any", &c, &one);
	else
		report("sysfs_trusted_any", 0, "write %d, reads '%s'", err, buf);

	/* Both /0 prefixes: everything again (and the module says so). */
	err = write_text(TRUSTED_PARAM, "0.0.0.0/0,::/0");
	opt_toa6(t6, "2001:db8::71", 7171);
	c = (struct conn){ l6, AF_INET6, EVIL6, RS6, PORT_V6, t6, 20, "2001:db8::71", 7171 };
	if (err)
		report("sysfs_trusted_everything", 0, "write %d", err);
	else
		conn_case("sysfs_trusted_everything", &c, &one);

	/* The records below are all trusted. */
	err = write_text(TRUSTED_PARAM, TRUSTED);
	if (err) {
		report("many_records_small_table", 0, "write trusted: %d", err);
		return;
	}

	/* Many records in a 256-bucket table, all open at the final rmmod. */
	if (many_open(MANY, why, sizeof(why))) {
		report("many_records_small_table", 0, "%s", why);
		return;
	}
	expect[S_ENTRIES] = MANY;
	if (!stats_check("many_records_small_table"))
		report("many_records_small_table", 1, NULL);
	stats_checkpoint("before_final_unload");

	test_unload_under_load();
	ok = access("/proc/net/toa_stats", F_OK) != 0;
	if (!ok)
		snprintf(why, sizeof(why), "/proc/net/toa_stats still there");
	for (i = 0; i < MANY; i++) {
		if (ok && peer_check(many_fd[i], &many_real[i], why, sizeof(why)))
			ok = 0;
		close_rst(many_fd[i]);
	}
	tun_drain(tun);
	report("final_unload", ok, "%s", ok ? "" : why);
}

/*
 * Stress mode: the unload race of test_unload_under_load(), @rounds times,
 * with fewer connections and shorter waits so that many unloads fit in one
 * boot.  One result, unload_loop.
 */
enum { LOOP_CONNS = 40 };

static void unload_loop(int rounds)
{
	char why[512] = "";
	long t0 = now_ms();
	int r;

	for (r = 0; r < rounds; r++) {
		if (toa_load("trusted=" TRUSTED " hash_bits=8")) {
			snprintf(why, sizeof(why), "finit_module: %s", strerror(errno));
			break;
		}
		if (many_open(LOOP_CONNS, why, sizeof(why)))
			break;
		if (unload_hammered(LOOP_CONNS, 20000 + (r % 8) * 5000, 20000, 0,
				    why, sizeof(why)))
			break;
		many_close(LOOP_CONNS);
		if (r % 10 == 9)
			printf("TOA-INFO unload loop: %d rounds in %ld ms\n",
			       r + 1, now_ms() - t0);
	}
	report("unload_loop", r == rounds, "round %d: %s", r, why);
}

int main(int argc, char **argv)
{
	const char *loop = getenv("toa_unload_loop");
	char buf[256];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s toa.ko\n", argv[0]);
		return 2;
	}
	toa_ko = argv[1];

	tun = tun_setup(TUN_NAME, RS4, 16, RS6, 16, 0);
	l4 = listen_on(AF_INET, RS4, PORT_V4, 0);
	l6 = listen_on(AF_INET6, RS6, PORT_V6, 1);
	lds = listen_on(AF_INET6, "::", PORT_DS, 0);
	if (tun < 0 || l4 < 0 || l6 < 0 || lds < 0) {
		report("setup", 0, "tun or listeners");
		goto out;
	}

	if (loop) {
		unload_loop(atoi(loop));
		goto out;
	}

	if (toa_load("trusted=" TRUSTED)) {
		report("load", 0, "finit_module: %s", strerror(errno));
		goto out;
	}
	if (read_text(TRUSTED_PARAM, buf, sizeof(buf)) || strcmp(buf, TRUSTED "\n")) {
		report("load", 0, "trusted reads '%s'", buf);
		goto out;
	}
	if (stats_check("load"))
		goto out;
	report("load", 1, NULL);

	test_basic();
	test_ignored();
	test_malformed();
	test_option_walk();
	test_lookup();
	test_close_paths();
	test_unaccepted();
	test_netns();
	test_churn();
	test_parallel_churn();
	test_unload_open();
	test_trust_modes();
	test_reload();
out:
	printf("TOA-SUMMARY passed=%d failed=%d\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
