// Prometheus metrics: the text exposition format (version 0.0.4) built from the same objects
// the control API serves (the stats object and the services listing), and a minimal HTTP
// server for `GET /metrics` on control.metrics_listen. The server is bounded like the control
// socket: 8 KiB of request head, 2 s per request, 16 connections.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/ip.h"

namespace anylb {

// `stats`: Node::statsJson() with its `bgp` member; `services`: Node::servicesJson();
// `sessionCapacity` / `localPorts`: per worker (for the fill ratios).
// `ipvsCompat`: also node_exporter's IPVS collector families (node_ipvs_*, its names and
// labels), so that dashboards built for LVS nodes read anylb unchanged ([control] ipvs_metrics).
std::string prometheusText(const nlohmann::json& stats, const nlohmann::json& services,
                           uint64_t sessionCapacity, uint64_t localPorts, bool ipvsCompat = false);

class MetricsServer {
 public:
  using Source = std::function<std::string()>;  // the body of /metrics

  MetricsServer(boost::asio::io_context& io, Endpoint listen, Source source);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  std::string start();  // "" or why not
  void stop();
  [[nodiscard]] uint16_t port() const;  // the bound port (listen port 0 picks one)

 private:
  class Conn;
  void accept();

  Endpoint listen_;
  Source source_;
  boost::asio::ip::tcp::acceptor acceptor_;
  size_t clients_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace anylb
