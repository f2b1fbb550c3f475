// A node's /metrics page (Prometheus text format 0.0.4) and its HTTP server
// (cpp-httplib). See uepool/node/metrics.hpp.
#include "uepool/node/metrics.hpp"

#include <httplib.h>

#include <cinttypes>
#include <cstdio>

#include "uepool/node/node.hpp"

namespace uepool::node {

namespace {

// label — a label value, escaped as the format wants (\\, \", \n).
std::string label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Page {
 public:
  explicit Page(std::string_view member) : member_(label(member)) {}
  // family — starts a metric family: its help line and type.
  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }
  // sample — one sample of the current family; `labels` is "" or `k="v",...` (escaped).
  void sample(const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", value);
    line(labels, buf);
  }
  void sample(const std::string& labels, std::uint64_t value) { line(labels, std::to_string(value)); }
  std::string take() { return std::move(text_); }

 private:
  void line(const std::string& labels, std::string_view value) {
    text_ += name_;
    text_ += "{member=\"" + member_ + '"';
    if (!labels.empty()) text_ += ',' + labels;
    text_ += "} ";
    text_ += value;
    text_ += '\n';
  }
  std::string member_;
  std::string name_;
  std::string text_;
};

std::string kv(const char* key, std::string_view value) {
  return std::string(key) + "=\"" + label(value) + '"';
}

}  // namespace

std::string render_metrics(Node& node) {
  set::Member& m = node.member();
  const set::MemberView v = m.view();
  const set::MemberCounters& c = v.counters;
  const NodeStats& ns = node.stats();
  const ControlStats& cs = node.control_stats();
  const transport::TransportCounters tc = node.transport().counters();
  const auto& pools = node.config().pools;
  auto relaxed = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };

  Page p(node.self().name);
  p.family("uepool_member_ready", "gauge", "1 when the member hands out units");
  p.sample("", std::uint64_t{v.phase == set::MemberPhase::kReady ? 1u : 0u});
  p.family("uepool_member_phase", "gauge", "1 for the member's current phase");
  for (const auto& [ph, name] :
       {std::pair{set::MemberPhase::kQueryingGeneration, "querying_generation"},
        std::pair{set::MemberPhase::kRecovering, "recovering"}, std::pair{set::MemberPhase::kRebuilding, "rebuilding"},
        std::pair{set::MemberPhase::kReady, "ready"}, std::pair{set::MemberPhase::kSuperseded, "superseded"},
        std::pair{set::MemberPhase::kRetired, "retired"}})
    p.sample(kv("phase", name), std::uint64_t{v.phase == ph ? 1u : 0u});
  p.family("uepool_member_generation", "gauge", "the generation of this incarnation");
  p.sample("", std::uint64_t{v.incarnation.generation});
  if (ns.ready_ms != 0) {
    p.family("uepool_recovery_seconds", "gauge", "from the start of this incarnation to its first ready");
    p.sample("", static_cast<double>(ns.ready_ms - ns.started_ms) / 1000.0);
  }

  p.family("uepool_allocations_total", "counter", "units handed out through the control interface");
  for (std::size_t i = 0; i < pools.size() && i < cs.pool_count; ++i)
    p.sample(kv("pool", pools[i].name), relaxed(cs.allocations[i]));
  p.family("uepool_allocation_refusals_total", "counter", "allocate requests refused, by reason");
  p.sample(kv("reason", "not_ready"), relaxed(cs.not_ready));
  p.sample(kv("reason", "none_free"), relaxed(cs.none_free));
  p.family("uepool_control_requests_refused_total", "counter", "control lines refused as malformed or naming nothing");
  p.sample("", relaxed(cs.bad_requests));
  p.family("uepool_claims_total", "counter", "static claims accepted through the control interface");
  p.sample("", relaxed(cs.claims));

  p.family("uepool_releases_total", "counter",
           "releases: requested through the control interface, forwarded to their owner, received from peers, applied "
           "as owner on the message thread (direct releases on the hot path are not counted here)");
  p.sample(kv("stage", "requested"), relaxed(cs.releases));
  p.sample(kv("stage", "forwarded"), c.releases_forwarded);
  p.sample(kv("stage", "received"), c.releases_received);
  p.sample(kv("stage", "applied"), c.releases_applied);
  p.family("uepool_releases_refused_total", "counter",
           "releases that ended nothing (stale, double), or that wait for the session store's read after a restart "
           "(deferred: applied or refused then), by reason");
  p.sample(kv("reason", "stale"), c.stale_releases);
  p.sample(kv("reason", "double"), c.double_releases);
  p.sample(kv("reason", "deferred"), c.releases_deferred);
  p.family("uepool_releases_dropped_total", "counter", "releases lost on the way (a leak the audit repairs)");
  p.sample(kv("reason", "channel_full"), c.releases_dropped_full);
  p.sample(kv("reason", "owner_gone"), c.releases_dropped_gone);
  p.sample(kv("reason", "ring_full"), c.releases_ring_full);
  p.family("uepool_alarms_total", "counter",
           "what an operator must look at, by kind: two incarnations of one generation (incarnation_twin), the "
           "generation file not saved (generation_save_failed), a peer's records for units it does not own or "
           "malformed (records_refused), static claims that could not reach their owner (claims_dropped), this "
           "incarnation superseded by a newer one of the same member (superseded)");
  p.sample(kv("kind", "incarnation_twin"), c.incarnation_alarms);
  p.sample(kv("kind", "generation_save_failed"), c.generation_save_failures);
  p.sample(kv("kind", "records_refused"), c.refused_records);
  p.sample(kv("kind", "claims_dropped"), c.claims_dropped);
  p.sample(kv("kind", "superseded"), c.superseded);

  p.family("uepool_frames_total", "counter", "frames between members");
  p.sample(kv("direction", "sent"), ns.frames_sent);
  p.sample(kv("direction", "received"), ns.frames_received);
  p.family("uepool_records_total", "counter", "channel records in data frames");
  p.sample(kv("direction", "sent"), ns.records_sent);
  p.sample(kv("direction", "received"), ns.records_received);
  p.family("uepool_records_per_frame", "gauge", "mean records per data frame that carries records");
  p.sample(
      kv("direction", "sent"),
      ns.data_frames_sent == 0 ? 0.0 : static_cast<double>(ns.records_sent) / static_cast<double>(ns.data_frames_sent));
  p.sample(kv("direction", "received"),
           ns.data_frames_received == 0
               ? 0.0
               : static_cast<double>(ns.records_received) / static_cast<double>(ns.data_frames_received));
  p.family("uepool_window_waits_total", "counter",
           "allocations refused because no open window had room (recovering, replication stalled, or the next "
           "windows not reserved in time), from every hot-path thread");
  p.sample("", c.window_waits);
  p.family("uepool_retransmitted_batches_total", "counter", "channel batches sent again (no acknowledgement in time)");
  p.sample("", ns.retransmitted);
  p.family("uepool_transport_dropped_total", "counter", "frames the transport dropped, by reason");
  p.sample(kv("reason", "send_queue"), tc.send_dropped);
  p.sample(kv("reason", "unencodable"), tc.send_refused);
  p.sample(kv("reason", "decode_error"), tc.decode_errors);
  p.sample(kv("reason", "impostor"), tc.impostors);
  p.sample(kv("reason", "wrong_destination"), tc.wrong_destination);
  p.family("uepool_transport_bytes_total", "counter", "frame bytes between members (CurveZMQ overhead not counted)");
  p.sample(kv("direction", "sent"), tc.bytes_sent);
  p.sample(kv("direction", "received"), tc.bytes_received);
  p.family("uepool_transport_auth_denied_total", "counter", "connections refused: a key not in the configuration");
  p.sample("", tc.auth_denied);
  p.family("uepool_transport_handshakes_refused_total", "counter",
           "our connections a peer refused (it did not know our key yet, or the handshake broke); each is made anew");
  p.sample("", tc.handshake_failed);
  p.family("uepool_fenced_frames_total", "counter", "frames from an older incarnation of a peer, dropped");
  p.sample("", c.fenced_frames);
  p.family("uepool_channel_batches_dropped_total", "counter",
           "channel batches from a peer dropped: already delivered (a retransmission or a replay) or too far ahead");
  p.sample(kv("reason", "duplicate"), c.duplicate_batches);
  p.sample(kv("reason", "too_far_ahead"), c.refused_batches);

  p.family("uepool_pool_units", "gauge", "units this member owns, by state");
  for (std::size_t i = 0; i < v.pools.size() && i < pools.size(); ++i) {
    const auto& pf = v.pools[i];
    const std::string pool = kv("pool", pools[i].name);
    p.sample(pool + ',' + kv("state", "owned"), pf.owned_units);
    p.sample(pool + ',' + kv("state", "in_use"), pf.in_use);
    p.sample(pool + ',' + kv("state", "quarantined"), pf.quarantined);
    p.sample(pool + ',' + kv("state", "held_down"), pf.held_down);
  }
  p.family("uepool_pool_utilization", "gauge", "in-use units / owned units");
  for (std::size_t i = 0; i < v.pools.size() && i < pools.size(); ++i) {
    const auto& pf = v.pools[i];
    p.sample(kv("pool", pools[i].name),
             pf.owned_units == 0 ? 0.0 : static_cast<double>(pf.in_use) / static_cast<double>(pf.owned_units));
  }
  p.family("uepool_windows_open", "gauge", "allocation windows reserved and not yet closed");
  p.sample("", std::uint64_t{v.windows.size()});
  p.family("uepool_windows_reserved_total", "counter", "allocation windows reserved");
  p.sample("", c.windows_reserved);

  p.family("uepool_audits_total", "counter", "audits against the session store finished");
  p.sample("", c.audits);
  p.family("uepool_audit_freed_total", "counter", "units the audit freed (in use, held by no stored session)");
  p.sample("", c.audit_freed);
  p.family("uepool_audit_problems_total", "counter", "what the audit met, by kind");
  p.sample(kv("kind", "refused_list"), c.audit_refused_lists);
  p.sample(kv("kind", "duplicate"), c.audit_duplicates);
  p.sample(kv("kind", "store_unreadable"), c.audit_store_unreadable);
  p.sample(kv("kind", "aborted"), c.audit_aborted);
  p.family("uepool_rebuilds_total", "counter", "rebuilds from the session store (replicas lost)");
  p.sample("", c.rebuilds);
  p.family("uepool_member_epoch", "gauge", "the membership epoch this member's stream is in");
  p.sample("", v.epoch);
  p.family("uepool_member_target_epoch", "gauge", "the newest membership epoch this member was given");
  p.sample("", v.target_epoch);
  p.family("uepool_member_pending_blocks", "gauge", "blocks gained in the current epoch, not taken yet");
  p.sample("", std::uint64_t{v.pending_blocks});
  p.family("uepool_blocks_moved_total", "counter", "blocks taken from their previous owner (re-division)");
  p.sample("", c.blocks_moved);
  p.family("uepool_blocks_lost_total", "counter", "blocks handed to their next owner (re-division)");
  p.sample("", c.blocks_lost);
  p.family("uepool_units_handed_over_total", "counter", "units in use in the blocks taken");
  p.sample("", c.units_handed_over);
  p.family("uepool_blocks_taken_retired_total", "counter",
           "blocks taken from the session store: their previous owner is retired (gone for good)");
  p.sample("", c.blocks_taken_retired);
  p.family("uepool_retired_frames_total", "counter", "frames from a retired member, dropped");
  p.sample("", c.retired_frames);
  p.family("uepool_held_lists_read_total", "counter", "held lists read from the control interface's session store");
  p.sample("", node.held_lists() == nullptr ? std::uint64_t{0} : node.held_lists()->lists_read());

  p.family("uepool_peer_holds_our_replica", "gauge", "1 when the peer holds a complete replica of this incarnation");
  for (const auto& pf : v.peers) p.sample(kv("peer", std::to_string(pf.id)), std::uint64_t{pf.acks_us ? 1u : 0u});
  p.family("uepool_peer_unacked_records", "gauge", "records on our channel to the peer, not yet acknowledged");
  for (const auto& pf : v.peers) p.sample(kv("peer", std::to_string(pf.id)), std::uint64_t{pf.unacked_records});
  return p.take();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(Node& node, const std::string& host, int port) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->server_ = std::make_unique<httplib::Server>();
  s->server_->Get("/metrics", [&node](const httplib::Request&, httplib::Response& res) {
    std::string text;
    if (!node.run([&] { text = render_metrics(node); })) {
      res.status = 503;
      res.set_content("the node is stopping\n", "text/plain");
      return;
    }
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  const int bound = port == 0 ? s->server_->bind_to_any_port(host) : (s->server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Status(StatusCode::kUnavailable, "cannot bind the metrics port (in use, or a bad address)");
  s->port_ = bound;
  s->thread_ = std::thread([p = s.get()] { p->server_->listen_after_bind(); });
  return s;
}

MetricsServer::~MetricsServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace uepool::node
