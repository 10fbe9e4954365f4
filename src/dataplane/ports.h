// DPDK port set-up for the dataplane: the uplink ports, their TAP exception ports, and the
// kernel side of the exception path. Called by the control thread in Dataplane::start(),
// before any worker runs.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

namespace anylb::dataplane {

// Configures `port` with `queues` RX/TX queue pairs (queue q belongs to worker q, its RX
// mbufs come from pools[q]), sets the MTU (best effort) and starts it in promiscuous mode.
// Returns an empty string on success, else what failed.
std::string configurePort(uint16_t port, uint16_t queues, uint16_t mtu,
                          const std::vector<rte_mempool*>& pools);

}  // namespace anylb::dataplane
