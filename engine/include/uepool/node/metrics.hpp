// uepool/node/metrics.hpp — a node's metrics in the Prometheus text
// exposition format (version 0.0.4), served over HTTP on a loopback port.
//
//   auto m = MetricsServer::start(node, "127.0.0.1", 9464);   // GET /metrics
//
// The families (every one labelled member="NAME"; `promtool check metrics`
// passes on every node's scrape in tests/multihost/multihost_test.py):
//   uepool_member_ready, uepool_member_phase{phase}, uepool_member_generation,
//   uepool_recovery_seconds (start to first ready, this incarnation),
//   uepool_allocations_total{pool}, uepool_allocation_refusals_total{reason},
//   uepool_control_requests_refused_total, uepool_claims_total,
//   uepool_releases_total{stage=requested|forwarded|received|applied},
//   uepool_releases_refused_total{reason}, uepool_releases_dropped_total{reason},
//   uepool_alarms_total{kind},
//   uepool_frames_total{direction}, uepool_records_total{direction},
//   uepool_records_per_frame{direction} (data frames carrying records),
//   uepool_retransmitted_batches_total, uepool_transport_dropped_total{reason},
//   uepool_transport_bytes_total{direction}, uepool_transport_auth_denied_total,
//   uepool_transport_handshakes_refused_total,
//   uepool_fenced_frames_total, uepool_channel_batches_dropped_total{reason},
//   uepool_pool_units{pool,state}, uepool_pool_utilization{pool},
//   uepool_windows_open, uepool_windows_reserved_total,
//   uepool_audits_total, uepool_audit_freed_total, uepool_audit_problems_total{kind},
//   uepool_rebuilds_total, uepool_held_lists_read_total,
//   uepool_peer_holds_our_replica{peer}, uepool_peer_unacked_records{peer}.
//   uepool_window_waits_total (allocations from every hot-path thread that
//   found no open window).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "uepool/base/status.hpp"

namespace httplib {
class Server;
}

namespace uepool::node {

class Node;

// render_metrics — the whole page. Message thread (it reads the member's view).
std::string render_metrics(Node& node);

// MetricsServer — GET /metrics on host:port (its own thread; the page is
// rendered on the message thread through Node::run).
class MetricsServer {
 public:
  // start — port 0 picks a free one (port() tells).
  static Result<std::unique_ptr<MetricsServer>> start(Node& node, const std::string& host, int port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace uepool::node
