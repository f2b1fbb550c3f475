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
// Not built yet (issue 13): the control interface (allocate, claim,
//   release, held lists for the audit, membership, state) for an SMF in
//   another process, /metrics, and a session store (without one the member
//   runs no audit; see member.hpp, Known limits).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "uepool/node/config.hpp"
#include "uepool/set/member.hpp"
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

struct NodeOptions {
  NodeConfig config;
  std::string member;      // the member's name in the configuration
  std::string data_dir;    // where the generation file lives
  std::string secret_key;  // Z85 (curve on); empty: read the member's secret_key_file
  bool fresh = false;      // the set's very first start (ignored once a generation file exists)
};

class Node {
 public:
  // create — checks the options, binds the member's endpoint and connects
  // to its peers. Errors name what is wrong (an unknown member, an
  // unreadable key file, an endpoint that cannot be bound).
  static Result<std::unique_ptr<Node>> create(const NodeOptions& options);

  // step — one round of the message thread: frames that arrive within
  // `timeout_ms`, a tick, and what the member has to send.
  void step(int timeout_ms);

  [[nodiscard]] set::Member& member() noexcept { return *member_; }
  [[nodiscard]] set::Member::Worker& worker() noexcept { return *worker_; }
  [[nodiscard]] transport::ZmqTransport& transport() noexcept { return *transport_; }
  [[nodiscard]] std::uint64_t now() const noexcept;
  [[nodiscard]] const MemberConfig& self() const noexcept { return self_; }

 private:
  Node() = default;
  MemberConfig self_;
  std::unique_ptr<FileGenerationStore> generations_;
  std::unique_ptr<transport::ZmqTransport> transport_;
  std::unique_ptr<set::Member> member_;
  set::Member::Worker* worker_ = nullptr;
  std::chrono::steady_clock::time_point start_;
  std::vector<set::Frame> in_;
};

}  // namespace uepool::node
