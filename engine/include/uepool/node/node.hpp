// uepool/node/node.hpp — one running member of an SMF set: the Member, its
// ZmqTransport, its generation file and the message loop (DESIGN.md
// section 3: `node`).
//
//   ConfigLoad c = load_config(text);
//   auto node = Node::create({*c.config, "smf1", "/var/lib/uepool", secret_key, /*fresh=*/false}).value();
//   while (!stop) node->step(10);        // receive (up to 10 ms), tick, send
//   node->member().allocate(...);        // the hot path, from any SMF thread
//
// Time: milliseconds of the monotonic clock since the node started (the
//   member's leases and timers are in those units).
// The generation file (`data_dir`/generation): the member's highest
//   generation, written (temporary file, fsync, rename, fsync of the
//   folder) before the member uses it; a new incarnation takes a higher one.
//   `fresh` (the set's very first start) is honoured only when no
//   generation file exists: a node that ran before never claims it.
// The session store: with `session_store`, the member reads held lists
//   (audit, rebuild) from a HeldListStore that an SMF answers through the
//   control interface (control.hpp), or with `store` from the embedding's
//   own; without either the member runs no audit (see member.hpp, Known
//   limits: a deployment needs the store).
// Other threads reach the message side through run(): the control server
//   and the metrics endpoint do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "uepool/node/config.hpp"
#include "uepool/node/control.hpp"
#include "uepool/set/member.hpp"
#include "uepool/transport/pump.hpp"
#include "uepool/transport/zmq_transport.hpp"

namespace uepool::node {

// FileGenerationStore — set::GenerationStore in a file.
class FileGenerationStore final : public set::GenerationStore {
 public:
  explicit FileGenerationStore(std::string path) : path_(std::move(path)) {}
  std::uint32_t load() override;                 // 0: no file (or unreadable: counted as none)
  bool save(std::uint32_t generation) override;  // write, fsync, rename, fsync the folder

 private:
  std::string path_;
};

// NodeStats — what the message loop counts (message thread only).
// NodeStats — the pump's counters (frames, records and data frames each
// way: transport/pump.hpp) and the node's own.
struct NodeStats : transport::PumpCounters {
  std::uint64_t retransmitted = 0;  // channel batches sent again, summed over every peer channel
  std::uint64_t started_ms = 0;     // when this incarnation started (the node's clock)
  std::uint64_t ready_ms = 0;       // when it first became ready (0: not yet)
  std::uint64_t phase_changes = 0;
};

struct NodeOptions {
  NodeConfig config;
  std::string member;          // the member's name in the configuration
  std::string data_dir;        // where the generation file lives
  std::string secret_key;      // Z85 (curve on); empty: read the member's secret_key_file
  bool fresh = false;          // the set's very first start (ignored once a generation file exists)
  bool session_store = false;  // held lists come through the control interface (audit and rebuild)
  // store — the embedding's own session store (the C API's read_held
  // callback); takes the place of the control interface's (session_store).
  set::SessionStore* store = nullptr;
  // transport — null: ZeroMQ to the endpoints of the configuration (the
  // member binds its own); otherwise the embedding's network
  // (ExternalTransport: the C API's uepool_feed / uepool_take). Shared:
  // the embedding feeds it while the node runs.
  std::shared_ptr<transport::Transport> transport = nullptr;
};

class Node {
 public:
  // create — checks the options, binds the member's endpoint and connects
  // to its peers. Errors name what is wrong (an unknown member, an
  // unreadable key file, an endpoint that cannot be bound).
  static Result<std::unique_ptr<Node>> create(const NodeOptions& options);

  // step — one round of the message thread: frames that arrive within
  // `timeout_ms` (no wait after a round that moved frames), a tick, and
  // what the member has to send.
  void step(int timeout_ms);

  // run — from any thread but the message thread: run `fn` on the message
  // thread (at the end of its next step) and wait for it. false: the node
  // stopped serving such calls (close_calls), `fn` did not run.
  bool run(std::function<void()> fn);
  // close_calls — message thread, when its loop ends: every waiting and
  // later run() returns false.
  void close_calls();

  [[nodiscard]] set::Member& member() noexcept { return *member_; }
  [[nodiscard]] set::Member::Worker& worker() noexcept { return *worker_; }
  // control_worker — the control interface's own Worker (made with the node:
  // workers are made on the message side, and the control server may start
  // while the message loop runs).
  [[nodiscard]] set::Member::Worker& control_worker() noexcept { return *control_worker_; }
  [[nodiscard]] transport::Transport& transport() noexcept { return *transport_; }
  // zmq — the built-in ZeroMQ transport (null with the embedding's own).
  [[nodiscard]] transport::ZmqTransport* zmq() noexcept { return zmq_; }
  [[nodiscard]] std::uint64_t now() const noexcept;
  [[nodiscard]] const MemberConfig& self() const noexcept { return self_; }
  [[nodiscard]] const NodeConfig& config() const noexcept { return config_; }
  // held_lists — the session store fed by the control interface (null without session_store).
  [[nodiscard]] HeldListStore* held_lists() noexcept { return held_lists_.get(); }
  // steps — message-loop rounds so far (message thread).
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
  [[nodiscard]] const NodeStats& stats() const noexcept { return stats_; }
  // control_stats — written by the control server, read by /metrics.
  [[nodiscard]] ControlStats& control_stats() noexcept { return *control_stats_; }

 private:
  Node() = default;
  struct Call {
    std::function<void()> fn;
    bool done = false;
    bool ran = false;
  };
  void run_calls();
  Status open_zmq(const NodeOptions& o, const MemberConfig& self);  // the built-in transport
  MemberConfig self_;
  NodeConfig config_;
  std::unique_ptr<FileGenerationStore> generations_;
  std::unique_ptr<HeldListStore> held_lists_;
  std::shared_ptr<transport::Transport> transport_;
  transport::ZmqTransport* zmq_ = nullptr;  // transport_, when it is the built-in one
  std::unique_ptr<set::Member> member_;
  set::Member::Worker* worker_ = nullptr;
  set::Member::Worker* control_worker_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  std::vector<set::Frame> in_;
  std::uint64_t steps_ = 0;
  bool busy_ = false;  // the last round moved frames: the next one polls without waiting
  NodeStats stats_;
  std::unique_ptr<ControlStats> control_stats_;
  set::MemberPhase last_phase_ = set::MemberPhase::kQueryingGeneration;
  std::map<std::uint32_t, std::uint64_t> retransmit_seen_;  // per peer: its channel's count at our last look
  // Calls from other threads. Invariant: a Call is in calls_ until the
  // message thread ran it (done = true, under mu_); its caller waits on cv_
  // and owns it (it lives on the caller's stack).
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Call*> calls_;
  bool closed_ = false;
};

}  // namespace uepool::node
