// uepool/set/replica.hpp — one member's copy of a peer's usage of the peer's
// own blocks, built from the peer's usage stream (DESIGN.md section 2).
//
// A replica is complete once it holds a bulk copy (Seed) of one incarnation
// of its owner; from then on it applies that incarnation's stream records
// strictly in order. Anything it cannot trust makes it incomplete again and
// is refused: a gap in the stream, a record or seed naming a unit its owner
// does not own, a window longer than a block. An incomplete replica neither
// votes in recovery nor acknowledges windows; the owner re-seeds it.
//
// Re-division: the replica follows its owner's membership epoch. An Epoch
// record moves it to the next epoch (in order, the same members): blocks the
// owner gained become pending (their usage here means nothing until a Take
// record), blocks it lost become frozen (their usage is kept, as it was at
// the mark, for the member that takes them; no record may change it). A
// record naming a unit outside the owner's blocks in its epoch is refused.
//
// Message thread only; a pure value: no Member, no I/O, time passed in.
//
//   Replica r(plan, /*owner=*/2, {{&pool, /*hold_down=*/0}});
//   r.seed(inc, seed_record, now);           // kApplied: complete
//   r.apply(inc, Record{record::Words{...}}, now);
//   std::shared_ptr<const UsageSnapshot> s = r.snapshot(now);  // a recovery answer
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <roaring/roaring.hh>
#include <utility>
#include <vector>

#include "uepool/base/word_map.hpp"
#include "uepool/core/pool.hpp"
#include "uepool/set/messages.hpp"
#include "uepool/set/plan.hpp"

namespace uepool::set {

// PlanBook — the plans of the membership epochs a member knows, by epoch
// (the configuration's, and those its peers' epoch marks name), made from
// the first plan's pools. Shared by a member and its replicas (message
// thread only). Plans are never dropped: a hot path may still read one.
class PlanBook {
 public:
  explicit PlanBook(std::shared_ptr<const Plan> base) : base_(std::move(base)) { plans_[base_->epoch()] = base_; }
  // add — a plan from outside. false: another plan is known for its epoch,
  // its members differ, or it brings back a member retired in an earlier
  // epoch (or retires one that a later known epoch has not).
  bool add(const std::shared_ptr<const Plan>& plan);
  // get — the plan of `epoch` with `members` (made if new); null if another
  // plan is known for that epoch, or the members are not the set's.
  std::shared_ptr<const Plan> get(std::uint64_t epoch, const std::vector<MemberSpec>& members);
  [[nodiscard]] std::shared_ptr<const Plan> find(std::uint64_t epoch) const {
    auto it = plans_.find(epoch);
    return it == plans_.end() ? nullptr : it->second;
  }
  [[nodiscard]] std::uint64_t newest() const noexcept { return plans_.rbegin()->first; }
  // history_before — the members and weights of the known epochs before
  // `epoch`, the last UsageSnapshot::kMaxHistory of them (a bulk copy's history).
  [[nodiscard]] std::vector<UsageSnapshot::EpochMembers> history_before(std::uint64_t epoch) const;
  [[nodiscard]] const std::map<std::uint64_t, std::shared_ptr<const Plan>>& plans() const noexcept { return plans_; }
  // retired — member `id` is retired in the newest known epoch (and so in
  // every later one: retire_consistent).
  [[nodiscard]] bool retired(std::uint32_t id) const noexcept { return plans_.rbegin()->second->retired(id); }
  // retire_consistent — `plan` keeps retired every member an earlier known
  // epoch retired, and retires none that a later known epoch has not.
  [[nodiscard]] bool retire_consistent(const Plan& plan) const;

 private:
  std::shared_ptr<const Plan> base_;
  std::map<std::uint64_t, std::shared_ptr<const Plan>> plans_;
};

class Replica {
 public:
  // PoolShape — what the replica needs of each pool: its size and static
  // ranges (read from the local Pool, const only) and its hold-down.
  struct PoolShape {
    const core::Pool* pool = nullptr;
    std::uint64_t hold_down = 0;
  };
  enum class Outcome : std::uint8_t {
    kApplied,  // the record changed (or confirmed) the replica
    kWaiting,  // not applied: no bulk copy of this incarnation yet (nothing wrong)
    kRefused,  // not applied, and the replica is incomplete now (a gap, or a record its owner may not send)
  };

  Replica() = default;
  Replica(std::shared_ptr<const Plan> plan, std::uint32_t owner, std::vector<PoolShape> pools,
          std::shared_ptr<PlanBook> book = nullptr)
      : plan_(std::move(plan)), book_(std::move(book)), owner_(owner), pools_(std::move(pools)) {
    if (!book_) book_ = std::make_shared<PlanBook>(plan_);
    start_plan_ = plan_;
  }

  // seed — replace the replica with a bulk copy of incarnation `of`. The
  // hold-downs and leases in it count from `now`.
  Outcome seed(const Incarnation& of, const record::Seed& s, std::uint64_t now);
  // apply — one record of incarnation `of`'s usage stream (a request record is refused).
  Outcome apply(const Incarnation& of, const Record& r, std::uint64_t now);
  // assume_complete — follow `of`'s stream from `seq + 1` on without a bulk
  // copy. Only for the rule switched off in tests (MemberRules::complete_replica_votes).
  void assume_complete(const Incarnation& of, std::uint64_t seq);
  void invalidate() noexcept { complete_ = false; }
  // expire — forget hold-downs that ended by `now`.
  void expire(std::uint64_t now);

  [[nodiscard]] bool complete() const noexcept { return complete_; }
  [[nodiscard]] bool complete_for(const Incarnation& inc) const noexcept { return complete_ && of_ == inc; }
  [[nodiscard]] const Incarnation& of() const noexcept { return of_; }
  [[nodiscard]] std::uint64_t seq() const noexcept { return seq_; }
  [[nodiscard]] std::size_t open_windows() const noexcept { return windows_.size(); }
  // The owner's membership epoch, as far as the replica knows; `handover`:
  // its mark of that epoch is acknowledged (see member.hpp, Re-division).
  [[nodiscard]] std::uint64_t epoch() const noexcept { return plan_->epoch(); }
  [[nodiscard]] bool handover() const noexcept { return handover_; }
  [[nodiscard]] const Plan& plan() const noexcept { return *plan_; }
  [[nodiscard]] bool pending(std::uint32_t pool, std::uint64_t block) const noexcept {
    return pending_.count({pool, block}) != 0;
  }
  // in_use — the unit is in use as far as the replica knows (dynamic or static).
  [[nodiscard]] bool in_use(std::uint32_t pool, std::uint64_t unit) const noexcept;
  // pool_held — no unit of `pool` may be handed out before a time after
  // `now` (the owner rebuilt from the session store: UsageSnapshot::pool_hold).
  [[nodiscard]] bool pool_held(std::uint32_t pool, std::uint64_t now) const noexcept {
    return pool < pool_hold_until_.size() && pool_hold_until_[pool] > now;
  }
  // held — the unit is in its hold-down at `now`.
  [[nodiscard]] bool held(std::uint32_t pool, std::uint64_t unit, std::uint64_t now) const noexcept;
  // snapshot — the replica as a UsageSnapshot (leases and hold-downs as time left at `now`).
  [[nodiscard]] std::shared_ptr<const UsageSnapshot> snapshot(std::uint64_t now) const;

 private:
  bool owns(std::uint32_t pool, std::uint64_t unit) const noexcept;
  // allocates — owns, and the block is not pending (windows may lie there).
  bool allocates(std::uint32_t pool, std::uint64_t unit) const noexcept;
  bool frozen(std::uint32_t pool, std::uint64_t unit) const noexcept;
  bool on_epoch(const record::Epoch& r);
  Outcome refuse() noexcept {
    complete_ = false;
    return Outcome::kRefused;
  }
  void on(const record::Window& r, std::uint64_t now);
  void on(const record::Words& r, std::uint64_t now);
  void on(const record::Alloc& r, std::uint64_t now);
  void on(const record::Free& r, std::uint64_t now);
  void on(const record::Close& r, std::uint64_t now);
  void on(const record::Take& r, std::uint64_t now);
  void on(const record::Handover& r, std::uint64_t now);

  std::shared_ptr<const Plan> plan_;        // of the owner's epoch
  std::shared_ptr<const Plan> start_plan_;  // before any bulk copy
  std::shared_ptr<PlanBook> book_;
  std::uint32_t owner_ = 0;
  std::vector<PoolShape> pools_;

  bool complete_ = false;
  Incarnation of_;
  std::uint64_t seq_ = 0;
  std::vector<WordMap> words_;      // per pool: word -> dynamic units in use
  std::vector<::Roaring> statics_;  // per pool: static units claimed
  struct Win {
    OpenWindow w;
    std::uint64_t until = 0;
  };
  std::vector<Win> windows_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> held_;  // (pool, unit) -> hold-down end
  std::vector<std::uint64_t> pool_hold_until_;                             // per pool (UsageSnapshot::pool_hold)
  bool handover_ = false;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t> pending_;  // (pool, block) -> taken from
  std::vector<::Roaring> frozen_;                                             // per pool: frozen blocks
};

}  // namespace uepool::set
