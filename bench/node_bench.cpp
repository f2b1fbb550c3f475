// uepool-node-bench — the two figures of a set over the real transport
// (ZeroMQ over TCP on 127.0.0.1), nodes in one process, each with its own
// message thread as in `uepool node`:
//
//   uepool-node-bench release  [--units N] [--curve 0|1] [--workers W]
//     Two nodes. Node 2 allocates N units it owns; node 1 releases them all
//     (an SMF that took the sessions over): every release crosses to the
//     owner. Reports releases applied at the owner per second (from the
//     first release to the owner's releases_applied reaching N), records per
//     frame and bytes per unit on the way, and the bytes per unit of the
//     owner's usage stream back (the words the releases freed, to its replica).
//   uepool-node-bench recovery [--units N] [--curve 0|1]
//     Four nodes. Node 1 allocates N units; once its 3 peers hold its
//     replica it is destroyed (no goodbye: as SIGKILL) and a new incarnation
//     starts from the same generation file. Reports the time to ready, the
//     bytes it received meanwhile and bytes per unit.
//
// One line of key=value results per run. Wall-clock figures on a shared
// machine: run several times and report the range (perf/node.sh does).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "uepool/node/node.hpp"
#include "uepool/transport/tsan_suppressions.hpp"

extern "C" const char* __tsan_default_suppressions() {  // uepool/transport/tsan_suppressions.hpp says why
  return uepool::transport::kTsanZmqSuppressions;
}

namespace {

using namespace uepool;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  std::string mode;
  std::uint64_t units = 0;
  bool curve = false;
  int workers = 4;  // release: the releasing SMF's threads
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A running node: its message thread steps it until stopped.
struct Running {
  std::unique_ptr<node::Node> node;
  std::atomic<bool> stop{false};
  std::thread thread;
  explicit Running(std::unique_ptr<node::Node> n) : node(std::move(n)) {
    thread = std::thread([this] {
      while (!stop.load(std::memory_order_relaxed)) node->step(1);
      node->close_calls();
    });
  }
  ~Running() {
    stop.store(true);
    thread.join();
  }
  template <class F>
  auto on_message_thread(F f) {
    decltype(f()) out{};
    (void)node->run([&] { out = f(); });
    return out;
  }
};

struct Set {
  fs::path dir;
  node::NodeConfig config;
  std::vector<std::unique_ptr<Running>> nodes;

  Set(int members, bool curve) {
    dir = fs::temp_directory_path() / ("uepool-node-bench-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const int base = 12000 + static_cast<int>(::getpid() % 4000) * 4;
    // 2^24 /64 prefixes: node 1 of 4 owns about 4 M of them.
    std::string text = "epoch: 1\nlease_ms: 2000\ncurve: " + std::string(curve ? "true" : "false") +
                       "\npools:\n  - {name: v6, prefix: \"2001:db8::/40\", unit_length: 64, block_units: 4096}\n"
                       "members:\n";
    for (int i = 1; i <= members; ++i) {
      fs::create_directories(dir / ("smf" + std::to_string(i)));
      text += "  - {name: smf" + std::to_string(i) + ", id: " + std::to_string(i) +
              ", endpoint: \"tcp://127.0.0.1:" + std::to_string(base + i) + "\"";
      if (curve) {
        const auto keys = transport::make_curve_keys().value();
        const fs::path key_file = dir / ("smf" + std::to_string(i) + ".key");
        FILE* f = std::fopen(key_file.c_str(), "w");
        std::fprintf(f, "%s\n", keys.secret_key.c_str());
        std::fclose(f);
        text += ", public_key: \"" + keys.public_key + "\", secret_key_file: \"" + key_file.string() + "\"";
      }
      text += "}\n";
    }
    node::ConfigLoad c = node::load_config(text);
    if (!c.errors.empty()) {
      std::fprintf(stderr, "config: %s\n", c.errors[0].to_string().c_str());
      std::exit(1);
    }
    config = *c.config;
    for (int i = 1; i <= members; ++i) start(i, true);
  }
  ~Set() {
    nodes.clear();
    fs::remove_all(dir);
  }
  void start(int i, bool fresh) {
    const std::string name = "smf" + std::to_string(i);
    auto n = node::Node::create({config, name, (dir / name).string(), "", fresh});
    if (!n.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), n.status().to_string().c_str());
      std::exit(1);
    }
    if (nodes.size() < static_cast<std::size_t>(i)) nodes.resize(static_cast<std::size_t>(i));
    nodes[static_cast<std::size_t>(i - 1)] = std::make_unique<Running>(std::move(n.value()));
  }
  Running& at(int i) { return *nodes[static_cast<std::size_t>(i - 1)]; }
  bool wait(const char* what, double limit_s, const std::function<bool()>& done) {
    const auto t = Clock::now();
    while (!done()) {
      if (seconds_since(t) > limit_s) {
        std::fprintf(stderr, "timed out after %.0f s waiting for %s\n", limit_s, what);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  bool all_ready() {
    for (auto& r : nodes)
      if (!r->on_message_thread([&] { return r->node->member().ready(); })) return false;
    return true;
  }
};

// allocate — n units at node `r` (its own units), from its worker.
bool allocate(Running& r, std::uint64_t n, std::vector<set::Lease>& out) {
  set::Member& m = r.node->member();
  set::Member::Worker& w = r.node->worker();
  const auto t = Clock::now();
  while (out.size() < n) {
    const set::MemberAllocation a = m.allocate(w, 0);
    if (a.ok()) {
      out.push_back(a.lease);
    } else if (a.status == set::MemberStatus::kNoneFree || seconds_since(t) > 120) {
      std::fprintf(stderr, "allocate: %s after %zu units\n", set::member_status_name(a.status), out.size());
      return false;
    } else {
      std::this_thread::yield();  // waiting for a window
    }
  }
  return true;
}

int run_release(const Options& o) {
  const std::uint64_t n = o.units == 0 ? 1'000'000 : o.units;
  Set set(2, o.curve);
  if (!set.wait("both nodes ready", 30, [&] { return set.all_ready(); })) return 1;
  Running& a = set.at(1);
  Running& b = set.at(2);
  std::vector<set::Lease> leases;
  leases.reserve(n);
  if (!allocate(b, n, leases)) return 1;

  auto a_stats = [&] {
    return a.on_message_thread([&] {
      struct S {
        node::NodeStats ns;
        transport::TransportCounters tc;
        set::MemberCounters mc;
      };
      return S{a.node->stats(), a.node->transport().counters(), a.node->member().counters()};
    });
  };
  auto applied = [&] { return b.on_message_thread([&] { return b.node->member().counters().releases_applied; }); };
  const std::uint64_t applied0 = applied();
  // The owner's usage stream back to node 1 (its replica): the words the
  // releases freed.
  auto owner_bytes = [&] { return b.on_message_thread([&] { return b.node->transport().counters().bytes_sent; }); };
  const std::uint64_t owner_bytes0 = owner_bytes();
  auto seeds = [&] {
    return a.on_message_thread([&] { return a.node->member().counters().seeds_sent; }) +
           b.on_message_thread([&] { return b.node->member().counters().seeds_sent; });
  };
  const std::uint64_t seeds0 = seeds();
  const auto before = a_stats();
  set::Member& am = a.node->member();
  // Workers: each has a ring of 4096 releases for the message thread; the
  // producer fills a chunk a little under that into each, then waits for the
  // message thread to forward them (a full ring drops, counted).
  std::vector<set::Member::Worker*> workers{&a.node->worker()};
  for (int k = 1; k < o.workers; ++k) (void)a.node->run([&] { workers.push_back(am.create_worker()); });
  constexpr std::size_t kChunk = 3072;
  constexpr std::size_t kInFlight = 32768;
  auto received = [&] { return b.on_message_thread([&] { return b.node->member().counters().releases_received; }); };
  const std::uint64_t received0 = received();
  const auto t = Clock::now();
  for (std::size_t i = 0; i < leases.size();) {
    for (set::Member::Worker* w : workers) {
      const std::size_t end = std::min(leases.size(), i + kChunk);
      for (; i < end; ++i) am.release(*w, leases[i]);
    }
    // Rings drained, and at most kInFlight on the way (the channel holds 4096
    // unacknowledged records; more wait in the member's outbox, up to 65536).
    const std::uint64_t want = before.mc.releases_forwarded + i;
    while (a.on_message_thread([&] { return am.counters().releases_forwarded; }) < want) std::this_thread::yield();
    while (i - (received() - received0) > kInFlight) std::this_thread::yield();
  }
  const double forwarded_s = seconds_since(t);
  if (!set.wait("the owner to apply every release", 120, [&] { return applied() - applied0 >= n; })) return 1;
  const double s = seconds_since(t);
  const auto after = a_stats();
  const std::uint64_t frames = after.ns.data_frames_sent - before.ns.data_frames_sent;
  const std::uint64_t records = after.ns.records_sent - before.ns.records_sent;
  const std::uint64_t bytes = after.tc.bytes_sent - before.tc.bytes_sent;
  const std::uint64_t stream_bytes = owner_bytes() - owner_bytes0;
  std::printf(
      "release units=%llu curve=%d seconds=%.4f applied_per_second=%.0f forwarded_seconds=%.4f records_per_frame=%.1f "
      "bytes_per_unit=%.2f owner_stream_bytes_per_unit=%.2f ring_full=%llu dropped=%llu bulk_copies=%llu\n",
      static_cast<unsigned long long>(n), o.curve ? 1 : 0, s, static_cast<double>(n) / s, forwarded_s,
      frames == 0 ? 0.0 : static_cast<double>(records) / static_cast<double>(frames),
      static_cast<double>(bytes) / static_cast<double>(n), static_cast<double>(stream_bytes) / static_cast<double>(n),
      static_cast<unsigned long long>(after.mc.releases_ring_full - before.mc.releases_ring_full),
      static_cast<unsigned long long>(after.mc.releases_dropped_full + after.mc.releases_dropped_gone),
      static_cast<unsigned long long>(seeds() - seeds0));
  return 0;
}

int run_recovery(const Options& o) {
  const std::uint64_t n = o.units == 0 ? 1'000'000 : o.units;
  Set set(4, o.curve);
  if (!set.wait("four nodes ready", 30, [&] { return set.all_ready(); })) return 1;
  std::vector<set::Lease> leases;
  leases.reserve(n);
  if (!allocate(set.at(1), n, leases)) return 1;
  // Every peer holds a complete replica with every allocation in it: the
  // owner's usage is streamed and acknowledged.
  auto replicated = [&] {
    return set.at(1).on_message_thread([&] {
      const set::MemberView v = set.at(1).node->member().view();
      std::uint64_t in_use = 0;
      for (const auto& p : v.pools) in_use += p.in_use;
      bool all = in_use >= n;
      for (const auto& p : v.peers) all = all && p.acks_us && p.unacked_records == 0;
      return all;
    });
  };
  if (!set.wait("the peers to hold node 1's replica", 120, replicated)) return 1;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a few heartbeats: acks settle
  set.nodes[0].reset();  // no goodbye: its peers see a silent node, as after SIGKILL
  const auto t = Clock::now();
  set.start(1, false);
  Running& r = set.at(1);
  if (!set.wait("the restarted node to be ready", 60,
                [&] { return r.on_message_thread([&] { return r.node->member().ready(); }); }))
    return 1;
  const double s = seconds_since(t);
  const auto [bytes, in_use, generation] = r.on_message_thread([&] {
    const set::MemberView v = r.node->member().view();
    std::uint64_t u = 0;
    for (const auto& p : v.pools) u += p.in_use;
    return std::tuple{r.node->transport().counters().bytes_received, u, v.incarnation.generation};
  });
  std::printf(
      "recovery units=%llu curve=%d seconds_to_ready=%.4f bytes_received=%llu bytes_per_unit=%.4f in_use_after=%llu "
      "generation=%u\n",
      static_cast<unsigned long long>(n), o.curve ? 1 : 0, s, static_cast<unsigned long long>(bytes),
      static_cast<double>(bytes) / static_cast<double>(n), static_cast<unsigned long long>(in_use), generation);
  if (in_use < n) {
    std::fprintf(stderr, "recovered %llu units in use, fewer than the %llu allocated\n",
                 static_cast<unsigned long long>(in_use), static_cast<unsigned long long>(n));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--units" || a == "--curve" || a == "--workers") && i + 1 < argc) {
      const std::string v = argv[++i];
      if (a == "--workers") o.workers = std::max(1, std::atoi(v.c_str()));
      if (a == "--units") o.units = std::strtoull(v.c_str(), nullptr, 10);
      if (a == "--curve") o.curve = v == "1";
    } else if (o.mode.empty() && (a == "release" || a == "recovery")) {
      o.mode = a;
    } else {
      std::fprintf(stderr, "usage: uepool-node-bench release|recovery [--units N] [--curve 0|1] [--workers W]\n");
      return 2;
    }
  }
  if (o.mode == "release") return run_release(o);
  if (o.mode == "recovery") return run_recovery(o);
  std::fprintf(stderr, "usage: uepool-node-bench release|recovery [--units N] [--curve 0|1] [--workers W]\n");
  return 2;
}
