// The node's configuration, as typed values. Produced only by loadConfig() (config/loader.h),
// which has already checked every range, key and cross-reference; consumers may rely on that.
// docs/config.md documents every key, its default and whether it can change on reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"

namespace anylb::config {

// Fixed capacities of the dataplane that a config must fit. validate() enforces them; the
// dataplane's arrays are sized by the same numbers (static_asserts in daemon/node.cc tie
// them together).
// DPDK port ids index per-worker TX arrays: every [[dataplane.port]] takes one id (the EAL
// probes each one, used or not) and every uplink one more for its exception TAP.
inline constexpr size_t kMaxDpdkPorts = 8;
// Neighbours (ARP entries with their pending queues): the uplinks' gateways and the distinct
// next hops of the static routes.
inline constexpr size_t kMaxNextHops = 16;
// Real servers over all services: beyond this many, per-RS counters are no longer kept.
inline constexpr size_t kMaxRealServers = 16384;
// Names are labels for people and tools: they appear in logs, JSON, metrics and listings.
inline constexpr size_t kMaxNameBytes = 64;
// An uplink's name is also the Linux interface name of its exception TAP (IFNAMSIZ - 1).
inline constexpr size_t kMaxUplinkNameBytes = 15;

using Seconds = std::chrono::duration<double>;

struct SourcePos {
  uint32_t line = 0;  // 1-based; 0 = unknown (a default, not in the file)
  uint32_t column = 0;
  // Where a value was written is not part of it: a reload that only moves lines changes
  // nothing.
  friend bool operator==(const SourcePos&, const SourcePos&) { return true; }
};

struct Node {
  std::string name;
  IpAddr routerId;  // IPv4; also the BGP router id
  friend bool operator==(const Node&, const Node&) = default;
};

// Idle sessions expire after these timeouts (LVS semantics: per TCP state, and UDP/ICMP).
struct Timeouts {
  uint32_t tcpSynRecv = 30;  // seconds
  uint32_t tcpEstablished = 900;
  uint32_t tcpFinWait = 120;
  uint32_t tcpCloseWait = 60;
  uint32_t tcpLastAck = 30;
  uint32_t tcpTimeWait = 120;
  uint32_t tcpClose = 10;
  uint32_t udp = 300;
  uint32_t icmp = 60;
  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct Port {
  std::string name;
  std::string device;  // PCI address ("0000:3b:00.0") or vdev string ("net_af_packet0,iface=x")
  uint16_t mtu = 1500;
  [[nodiscard]] bool isVdev() const { return device.rfind("net_", 0) == 0; }
  friend bool operator==(const Port&, const Port&) = default;
};

// A static route: traffic to `prefix` goes to `via`, a next hop on one uplink's connected
// prefix. Everything else follows the default route: ECMP over the uplinks' gateways.
struct Route {
  Prefix prefix;
  IpAddr via;
  friend bool operator==(const Route&, const Route&) = default;
};

// --- exception-path policing (dataplane/exception_policer.h): [dataplane.exception_policer]
// Token buckets per worker for the frames handed to the kernel through the uplinks' TAPs.
// Rates in packets/s, bursts in packets; every value applies to each worker separately.
struct ExceptionPolicer {
  bool enabled = true;
  uint32_t peerRate = 10000;  // BGP + BFD of one configured peer (one bucket per peer)
  uint32_t peerBurst = 2000;
  uint32_t realServerRate = 10000;  // from the real servers' addresses: health-check replies
  uint32_t realServerBurst = 1000;
  uint32_t arpIcmpRate = 1000;
  uint32_t arpIcmpBurst = 200;
  uint32_t otherRate = 5000;  // SSH, anything else to a node address
  uint32_t otherBurst = 500;
  friend bool operator==(const ExceptionPolicer&, const ExceptionPolicer&) = default;
};
// --- end exception-path policing

// --- SYN proxy (fullnat/synproxy.h): [dataplane.syn_proxy]
// When a service with syn_proxy = "auto" engages the proxy, per worker, and what the proxy
// advertises. Thresholds apply to each worker separately.
struct SynProxy {
  uint32_t autoSynRecv = 4096;    // engage above this many SYN_RECV sessions on the worker
  uint32_t autoSynRate = 10000;   // ... or above this many SYNs/s to "auto" services
  uint32_t autoHoldSeconds = 10;  // disengage after this long below half of both thresholds
  uint32_t rsTimeoutMs = 3000;    // a validated client whose RS does not answer gets a RST
  uint32_t wscale = 7;            // window scale the cookie SYN-ACK offers (when the client does)
  friend bool operator==(const SynProxy&, const SynProxy&) = default;
};
// --- end SYN proxy

struct Dataplane {
  uint32_t workers = 1;
  std::vector<uint32_t> workerLcores;  // empty: lcores 1..workers
  std::vector<std::string> ealArgs;
  std::vector<Port> ports;
  std::vector<Route> routes;
  uint32_t sessionCapacity = 1U << 20;  // per worker
  uint32_t idleSleepMaxUs = 0;          // 0 = busy polling (production); > 0 = lab back-off
  bool stripClientTimestamps = true;    // remove TCP timestamps from client SYNs
  uint32_t mbufsPerPort = 8192;
  // RX and TX ring sizes of each uplink queue (powers of two; the PMD may round them to its
  // limits). A ring holds what arrives while the worker is busy elsewhere: 512 lost frames on
  // net_af_xdp at 150 k/s that 4096 did not (docs/af_xdp.md).
  uint32_t rxDescriptors = 1024;
  uint32_t txDescriptors = 1024;
  Timeouts timeouts;
  ExceptionPolicer exceptionPolicer;
  SynProxy synProxy;
  friend bool operator==(const Dataplane&, const Dataplane&) = default;
};

struct Uplink {
  std::string name;
  std::string port;  // Dataplane::ports[].name
  Prefix address;    // the node's address on the uplink, with its prefix length
  IpAddr gateway;    // the ToR's address on this link
  // Dual stack: the node's IPv6 address on the link and the ToR's (both or neither; IPv4
  // `address`/`gateway` stay required: the IPv4 BGP session and its BFD run over them).
  std::optional<Prefix> address6;
  std::optional<IpAddr> gateway6;
  IpAddr peerAddress;  // IPv4 BGP session (ipv4-unicast), sourced from `address`
  // IPv6 BGP session (ipv6-unicast only: IPv6 VIPs and LIPs, next hop address6), sourced from
  // address6, with its own BFD; same peer_as and timers. Unset: no IPv6 session on this uplink.
  std::optional<IpAddr> peerAddress6;
  uint32_t peerAs = 0;
  uint32_t holdTime = 9;  // seconds
  uint32_t keepalive = 3;
  friend bool operator==(const Uplink&, const Uplink&) = default;
};

struct Bgp {
  uint32_t localAs = 0;
  std::string gobgpd = "/usr/bin/gobgpd";
  std::string apiSocket = "/run/anylb/gobgpd.sock";
  uint32_t drainSeconds = 30;
  std::vector<std::string> communities;  // "ASN:VALUE", added to every announcement
  uint32_t riseSeconds = 5;              // VIP healthy this long before it is announced
  uint32_t holdDownSeconds = 10;         // minimum hold-down after a withdraw, doubles on flaps
  uint32_t bfdIntervalMs = 300;          // BFD toward each ToR; 0 = off
  uint32_t bfdMultiplier = 3;            // missed intervals before a BFD session is down
  friend bool operator==(const Bgp&, const Bgp&) = default;
};

enum class Protocol : uint8_t { kTcp, kUdp };
// ipvsadm's scheduler names (ip_vs_*.c): the first six since round 1, the rest since issue 17.
enum class Scheduler : uint8_t {
  kRr,
  kWrr,
  kLc,
  kWlc,
  kSh,
  kMh,
  kDh,
  kLblc,
  kLblcr,
  kSed,
  kNq,
  kFo,
  kOvf
};
enum class OnRemove : uint8_t { kDrain, kFlush };  // sessions of a removed / failed RS
// How the real server learns the client's address: the TOA TCP option (kmod/toa.ko on the RS),
// a Proxy Protocol v2 header before the client's bytes, or not at all.
enum class ClientAddress : uint8_t { kToa, kProxyProtocolV2, kNone };
enum class SynProxyMode : uint8_t { kOff, kOn, kAuto };
// keepalived's checkers: TCP_CHECK = kTcp, HTTP_GET = kHttp, SSL_GET = kHttps,
// MISC_CHECK = kMisc, DNS_CHECK = kDns, UDP_CHECK = kUdp, PING_CHECK = kPing.
enum class CheckKind : uint8_t { kNone, kTcp, kHttp, kHttps, kMisc, kDns, kUdp, kPing };

struct StatusRange {
  uint16_t lo = 200;
  uint16_t hi = 399;
  friend bool operator==(const StatusRange&, const StatusRange&) = default;
};

// A health check block. Per-RS overrides are merged over the service's block at load time.
struct HealthCheck {
  CheckKind kind = CheckKind::kTcp;
  Seconds interval{2.0};
  Seconds timeout{1.0};
  uint32_t rise = 2;
  uint32_t fall = 3;
  double jitter = 0.1;  // fraction of the interval, 0..0.5
  uint16_t port = 0;    // 0 = the RS's own port
  std::string httpPath = "/";
  std::string httpHost;  // empty: the RS address
  // One 200..399 range. Not `{{200, 399}}`: GCC 12 reports its initializer_list's backing
  // array as maybe-uninitialized wherever a HealthCheck is copied (a false positive).
  std::vector<StatusRange> expectStatus = std::vector<StatusRange>(1, StatusRange{200, 399});
  std::string expectBody;  // substring the body must contain; empty = any
  // Between probes while a failure run has started but not yet reached `fall` (keepalived's
  // delay_before_retry); zero: `interval`.
  Seconds retryInterval{0.0};
  // https (keepalived SSL_GET)
  std::string digest;  // MD5 of the whole body, 32 lower-case hex digits; empty = not checked
  std::string sni;     // TLS server name; empty: http_host (without a port) when set, else none
  bool verifyCertificate = false;  // keepalived does not verify either
  std::string caFile;              // trust anchors when verifying; empty: the system's
  // misc (keepalived MISC_CHECK): argv, split like `notify` (no shell unless written)
  std::string miscPath;
  bool miscDynamic = false;  // exit 2..255 = up with weight exit-2
  // dns (keepalived DNS_CHECK)
  uint16_t dnsType = 6;  // SOA, keepalived's default
  std::string dnsName = ".";
  // udp (keepalived UDP_CHECK): raw bytes, decoded from the config's text or hex
  std::string udpPayload;
  bool requireReply = false;
  std::string expectReply;  // a reply must start with these bytes; empty: any reply
  // keepalived's alpha: a new RS (state unknown) gets no new sessions until `rise` probes pass;
  // without it an unknown RS serves (and counts toward no VIP health) until proven down.
  bool alpha = false;
  // keepalived's omega: when anylbd stops, or a reload removes the RS/service, run notify_down
  // of every RS that is up (and quorum_down of an announced VIP).
  bool omega = false;
  friend bool operator==(const HealthCheck&, const HealthCheck&) = default;
};

struct RealServer {
  IpAddr address;
  uint16_t port = 0;
  uint32_t weight = 1;  // 0..65535; 0 = quiescent
  // IPVS's connection thresholds (ipvsadm -x / -y, keepalived uthreshold / lthreshold), in
  // sessions (active + inactive) of this RS on this node. 0 = no upper limit. An RS at or over
  // upperThreshold gets no new sessions until it falls to lowerThreshold (0: to 3/4 of
  // upperThreshold, as IPVS does).
  uint32_t upperThreshold = 0;
  uint32_t lowerThreshold = 0;
  HealthCheck check;  // effective (service block + overrides)
  // keepalived's notify_up / notify_down: run when this RS's check says up / down.
  std::string notifyUp;
  std::string notifyDown;
  SourcePos pos;
  friend bool operator==(const RealServer&, const RealServer&) = default;
};

struct Service {
  std::string name;
  IpAddr vip;
  uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
  Scheduler scheduler = Scheduler::kWrr;
  ClientAddress clientAddress = ClientAddress::kToa;  // `client_address`, or the older `toa`
  SynProxyMode synProxy = SynProxyMode::kOff;
  uint32_t persistence = 0;  // seconds; 0 = off
  // ipvsadm -M / keepalived persistence_granularity: clients whose addresses share this prefix
  // share one persistence template. -1: the whole address (IPv4 /32, IPv6 /128).
  int16_t persistencePrefix = -1;
  // ipvsadm's --sched-flags for sh and mh: sh-fallback/mh-fallback (an RS that is unavailable
  // is skipped for the next one instead of refusing) and sh-port/mh-port (the client's port is
  // hashed too).
  bool hashFallback = false;
  bool hashPort = false;
  // keepalived's sorry_server: new sessions go here while the service has fewer than
  // min_healthy healthy RS (or less than `quorum`), and the VIP stays announced.
  std::optional<Endpoint> sorryServer;
  uint32_t minHealthy = 1;
  // keepalived's quorum and hysteresis: the sum of the weights of the healthy RS must reach
  // `quorum` (0 = no such condition); once met it is lost below quorum - hysteresis, once lost
  // it is met again at quorum + hysteresis.
  uint32_t quorum = 0;
  uint32_t hysteresis = 0;
  uint32_t maglevTableSize = 65537;  // prime
  OnRemove onRsRemoved = OnRemove::kDrain;
  OnRemove onRsDown = OnRemove::kDrain;
  std::string notify;  // command run on RS state changes; empty = none
  // keepalived's quorum_up / quorum_down: run when this service's VIP is announced / withdrawn.
  std::string quorumUp;
  std::string quorumDown;
  HealthCheck check;
  std::vector<RealServer> realServers;
  SourcePos pos;
  friend bool operator==(const Service&, const Service&) = default;
};

struct Control {
  std::string socket = "/run/anylb/anylb.sock";
  Endpoint metricsListen{*IpAddr::parse("127.0.0.1"), 9469};
  bool ipvsMetrics = true;  // also node_exporter's node_ipvs_* families on /metrics
  // Runtime changes (anylbctl's ipvsadm commands, the control API's edit operations) are kept
  // here and applied over the TOML at every start and reload; empty: runtime edits refused.
  std::string stateFile = "/var/lib/anylb/runtime-state.json";
  friend bool operator==(const Control&, const Control&) = default;
};

struct Logging {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  std::string file;            // empty: stderr
  friend bool operator==(const Logging&, const Logging&) = default;
};

// --- session sync between the nodes of a fleet (src/sync/): [sync], [[sync.peer]]
struct SyncPeer {
  uint32_t nodeId = 0;
  IpAddr address;                   // where its sync socket listens (one of its node addresses)
  std::vector<Prefix> lipPrefixes;  // its LIPs: announced here as backup routes (prepended)
  friend bool operator==(const SyncPeer&, const SyncPeer&) = default;
};
struct Sync {
  bool enabled = false;
  uint32_t nodeId = 0;            // 1..65535, unique in the fleet
  std::optional<IpAddr> address;  // the socket's local address; unset: the first uplink's
  uint32_t port = 8848;           // UDP, LVS's sync port
  std::string keyFile;            // 64 hex digits, not readable by group/other
  uint32_t replicas = 0;          // holders per session; 0 = every peer
  uint32_t refreshSeconds = 10;
  uint32_t bulkTimeoutMs = 8000;
  uint32_t backupPrepend = 3;
  // Share of each worker's session_capacity that peers' sessions may take (the rest stays for
  // the node's own new connections).
  uint32_t replicaSharePercent = 50;
  std::vector<SyncPeer> peers;
  friend bool operator==(const Sync&, const Sync&) = default;
};
// --- end session sync

struct Config {
  std::string file;  // path it was loaded from
  Node node;
  Dataplane dataplane;
  std::vector<Uplink> uplinks;
  Bgp bgp;
  std::vector<Prefix> localAddresses;
  // local_addresses.port_min / port_max: the LPORTs new sessions take on every LIP (each worker
  // owns those with LPORT % workers == its id).
  uint16_t localPortMin = 1024;
  uint16_t localPortMax = 65535;
  std::vector<Service> services;
  Control control;
  Logging logging;
  Sync sync;
};

// How many ports local_addresses.port_min..port_max holds (0 when max < min).
inline unsigned localPortCount(const Config& cfg) {
  return cfg.localPortMax >= cfg.localPortMin ? cfg.localPortMax - cfg.localPortMin + 1U : 0;
}
// LIP pools are small prefixes (a /28 is 16 addresses): what one prefix contributes at most.
inline constexpr uint64_t kMaxLipsPerPrefix = 4096;
// The local ports one worker can open sessions from: the node's LIP addresses (all families)
// times its share of port_min..port_max.
uint64_t localPortsPerWorker(const Config& cfg);

// A standard community "ASN:VALUE" (each 0..65535) as (ASN << 16) | VALUE.
std::optional<uint32_t> parseCommunity(std::string_view s);

const char* toString(Protocol p);
const char* toString(Scheduler s);
const char* toString(CheckKind k);
const char* toString(OnRemove o);
const char* toString(ClientAddress c);
const char* toString(SynProxyMode m);

}  // namespace anylb::config
