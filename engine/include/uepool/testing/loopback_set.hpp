// uepool/testing/loopback_set.hpp — the members of one SMF set in one
// process, their frames carried by an in-memory network: the one harness of
// the member tests, the member stress test and the benchmark.
//
// Overview
//   LoopbackSet starts every member of a plan (fresh), each with one Worker
//   made at start (create_worker is a message-side call), and pump(now) does
//   what a node's message thread does, through the same pump
//   (transport/pump.hpp) over an in-memory Transport per member: tick every
//   member at `now` and take what it sends, then deliver those frames at
//   once and in order. Frames to or from a member in down() are lost; a
//   crashed member loses all its state.
//
//     auto set = testing::LoopbackSet::create({plan, {pool_config}}).value();
//     for (std::uint64_t now = 1; now < 100; ++now) set->pump(now);  // windows acknowledged
//     set::MemberAllocation a = set->member(1)->allocate(*set->worker(1), 0);
//
// Concurrency contract
//   pump, start, crash, options and down() belong to one thread at a time
//   (the message thread); the hot path (Member::allocate / release / claim
//   through worker(id)) may run on other threads meanwhile, as in a node.
//
// Scale limits
//   A test harness: lossless and instant (the simulator is the place for
//   loss, delay, duplication and reordering), members up to the plan's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/set/member.hpp"
#include "uepool/transport/pump.hpp"

namespace uepool::testing {

struct LoopbackOptions {
  std::shared_ptr<const set::Plan> plan;  // every member of it is started
  std::vector<core::PoolConfig> pools;    // one per pool of the plan
  // tune — optional: adjusts each member's options before it is created
  // (id, plan, pools, fresh and nonce are already set).
  std::function<void(set::MemberOptions&)> tune;
  std::uint64_t first_nonce = 1;  // each start takes the next nonce
};

class LoopbackSet {
 public:
  // create — starts every member of the plan. Returns: the first member's
  // configuration error, if any.
  static Result<std::unique_ptr<LoopbackSet>> create(LoopbackOptions options);
  ~LoopbackSet();
  LoopbackSet(const LoopbackSet&) = delete;
  LoopbackSet& operator=(const LoopbackSet&) = delete;

  // options — what start(id, fresh) would create the member with (tests of
  // configuration errors change it and call Member::create themselves).
  [[nodiscard]] set::MemberOptions options(std::uint32_t id, bool fresh);
  // start — (re)starts member `id` as a new incarnation with a new Worker:
  // `fresh` as at the set's birth, otherwise a restart with no memory.
  Status start(std::uint32_t id, bool fresh);
  // crash — member `id` and all its state are gone (frames to it are lost).
  void crash(std::uint32_t id);
  // down — members whose frames (to and from them) are lost while listed.
  [[nodiscard]] std::set<std::uint32_t>& down() noexcept { return down_; }

  // member / worker — null if `id` is not running.
  [[nodiscard]] set::Member* member(std::uint32_t id) const;
  [[nodiscard]] set::Member::Worker* worker(std::uint32_t id) const;
  // ids — the running members, in order.
  [[nodiscard]] std::vector<std::uint32_t> ids() const;
  [[nodiscard]] const set::Plan& plan() const noexcept { return *options_.plan; }

  // pump — tick every running member at `now`, then deliver the frames they
  // sent (except to or from a member in down(), or to one not running).
  // Returns: the frames delivered.
  std::size_t pump(std::uint64_t now);

 private:
  explicit LoopbackSet(LoopbackOptions options);

  class Endpoint;  // a member's in-memory Transport

  LoopbackOptions options_;
  std::uint64_t nonce_;
  std::map<std::uint32_t, std::unique_ptr<Endpoint>> endpoints_;
  std::map<std::uint32_t, std::unique_ptr<set::Member>> members_;
  std::map<std::uint32_t, set::Member::Worker*> workers_;
  std::set<std::uint32_t> down_;
  std::vector<set::Frame> frames_;  // what the members sent this round
  std::vector<set::Frame> scratch_;
};

}  // namespace uepool::testing
