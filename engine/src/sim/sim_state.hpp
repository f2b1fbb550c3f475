// sim_state.hpp — the Simulator's private types (nodes, sessions, window
// facts) and helpers, shared by the sim/*.cpp files (one role each). Not
// installed: engine/src/sim only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "uepool/sim/simulator.hpp"
#include "uepool/transport/pump.hpp"
#include "uepool/transport/transport.hpp"

namespace uepool::sim {

namespace sim_detail {
inline std::uint64_t pack(const set::LeaseTag& t) {
  return (std::uint64_t{t.generation} << 32) | t.window;
}
inline unsigned long long ull(std::uint64_t v) {
  return static_cast<unsigned long long>(v);
}
}  // namespace sim_detail
using namespace sim_detail;  // NOLINT: the simulator files share these names

// SavedGeneration — a member's generation on its node's disk: survives a
// crash, unless the fault loses the disk too.
struct SavedGeneration final : set::GenerationStore {
  std::uint32_t value = 0;
  std::uint32_t load() override { return value; }
  bool save(std::uint32_t g) override {
    value = g;
    return true;
  }
};

// Simulator::Endpoint — a member's (or its zombie's) place on the simulated
// network, as a Transport: what it sends goes into the network (loss,
// duplication, delay; a split brain or a cut-off zombie reaches only its
// side), and deliver() puts what reaches it into its inbox, which the
// member's pump reads in the same step.
struct Simulator::Endpoint final : transport::InboxTransport {
  Endpoint(Simulator& sim, std::uint32_t member, bool zombie) : sim_(sim), member_(member), zombie_(zombie) {}
  bool send(const set::Frame& frame) override;

 private:
  Simulator& sim_;
  std::uint32_t member_;
  bool zombie_;
};

struct Simulator::Node {
  std::unique_ptr<Endpoint> ep;         // the current incarnation's
  std::unique_ptr<Endpoint> zombie_ep;  // the zombie's
  SavedGeneration disk;
  std::unique_ptr<set::Member> member;
  set::Member::Worker* worker = nullptr;
  bool up = false;
  std::uint64_t restart_at = 0;  // 0 = not scheduled
  std::uint64_t lives = 0;
  // A zombie: the previous incarnation, still running (it never learned that
  // it was replaced) until zombie_until. It serves its sessions and may
  // allocate in windows it holds; peers must fence it.
  std::unique_ptr<set::Member> zombie;
  set::Member::Worker* zombie_worker = nullptr;
  std::uint64_t zombie_until = 0;
  bool zombie_partitioned = false;  // hears nothing, reaches no one
  // zombie_side — a split brain (Simulator::zombie_side): the one peer the
  // zombie shares a side of a partition with (0: none). The zombie hears and
  // reaches only that peer; the new incarnation hears and reaches every
  // member but that one.
  std::uint32_t zombie_side = 0;
  // Membership epochs: the newest this member's configuration has
  // (1-based), and when the next ones reach it (epoch -> step).
  std::uint64_t epoch = 1;
  std::map<std::uint64_t, std::uint64_t> epoch_due;
};

struct Simulator::Session {
  SessionId id = 0;
  std::vector<set::Lease> leases;
  std::uint32_t controller = 0;   // 0 = orphaned (its SMF crashed)
  bool on_zombie = false;         // served by the controller's zombie (its previous incarnation)
  std::uint64_t takeover_at = 0;  // when orphaned
  bool is_static = false;
  std::uint64_t stored_at = 0;  // the session store lists it from this step on (in flight before)
};

struct Simulator::WindowFacts {
  set::OpenWindow w;
  std::uint64_t lease_end = 0;
  std::set<std::uint32_t> ackers;  // peers that applied it to a complete replica
};

}  // namespace uepool::sim
