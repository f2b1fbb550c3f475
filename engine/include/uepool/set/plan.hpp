// uepool/set/plan.hpp — which member of the SMF set owns which block of each pool.
//
// Overview
//   Every member computes the same Plan from the same input (the pools, the
//   members with integer weights, the membership epoch), with integer
//   arithmetic only: no floating point, no std:: distributions, no unordered
//   iteration. Each pool is cut into power-of-two aligned blocks of at least
//   64 units (so each bitmap word has one owner and each block is one CIDR
//   prefix), and each block gets an owner.
//
//     std::vector<PoolSpec> pools = {{"internet-v4", 1u << 16, 256}};
//     std::vector<MemberSpec> members = {{1, 1}, {2, 1}, {3, 2}};
//     Result<Plan> plan = Plan::create(/*epoch=*/1, members, pools);
//     std::uint32_t smf = plan->owner(0, unit);            // O(1)
//     std::vector<core::UnitRange> mine = plan->ranges_of(0, 3);
//
// How owners are chosen: weighted rendezvous hashing (HRW) over runs of
//   2^r consecutive blocks. Every member draws a 64-bit hash of (pool salt,
//   run, member id); the run goes to the member with the smallest
//   -log2(u) / weight, u being the hash as a fraction in (0, 1) — the
//   integer form of the classic weighted HRW score, with -log2 computed in
//   Q32 fixed point by repeated squaring (exact and identical on every
//   compiler). Ties go to the lower member id.
//   * One member joining takes only the runs it now wins: its weighted share,
//     about 1/n of the blocks; nothing moves between the other members.
//   * One member leaving moves only its own runs.
//   * Balance: a member's share is a binomial draw over the runs, so its
//     relative error is about sqrt((1 - s) / (s * runs)) for share s. Runs are
//     made as fine as blocks until a pool has more than 16,384 blocks (r = 0),
//     then coarser, so every pool has at most 16,384 runs: 10,000 blocks over
//     three equal members are within about 1.5 % (one standard deviation).
//   * Relaxed property, by choice: CIDR ranges. Adjacent runs of one owner are
//     merged into one range, but a random assignment leaves about
//     runs * (1 - 1/n) ranges per pool — balance and minimal movement were
//     preferred over few ranges. `ranges_of` returns the merged ranges;
//     `range_count` says how many there are.
//   The plan's epoch is carried, never hashed: a new epoch with the same
//   members is the same assignment.
//
// Weight 0: a standby member. It is in the set (a peer: it keeps replicas
//   and counts in the quorums) but owns no block; a later epoch may give it a
//   weight (a join), or give a member weight 0 (a leave). The members, by id,
//   stay the same across epochs (re-division, uepool/set/member.hpp).
//
// Errors (Plan::create): no members, a duplicate member id, every weight zero, a
//   total weight above 2^32, more than 65,535 members, a pool of zero units,
//   a block size that is not a power of two, below 64 units or above the pool,
//   a retired member with a weight.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/core/unit_range.hpp"

namespace uepool::set {

struct MemberSpec {
  std::uint32_t id = 0;
  std::uint32_t weight = 1;
  // retired — the operator's statement that this member is gone for good
  // (its process stopped, its host fenced: it will never run again). Its
  // weight must be 0, and every later epoch keeps it retired. Its blocks are
  // taken without its handover (Member, "Re-division": H5).
  bool retired = false;
};

struct PoolSpec {
  std::string name;  // hashed into the salt, so pools added later do not reshuffle others
  std::uint64_t units = 0;
  std::uint64_t block_units = 64;  // a power of two, >= 64, <= units
};

class Plan {
 public:
  static constexpr std::uint64_t kMaxRunsPerPool = 1u << 14;

  static Result<Plan> create(std::uint64_t epoch, std::span<const MemberSpec> members, std::span<const PoolSpec> pools);

  // reweighted — the plan of a later epoch: the same pools, other weights.
  [[nodiscard]] Result<Plan> reweighted(std::uint64_t epoch, std::span<const MemberSpec> members) const;
  // same_roster — `members` names exactly this plan's members (weights aside).
  [[nodiscard]] bool same_roster(std::span<const MemberSpec> members) const noexcept;
  // same_assignment — the same members and weights and the same owner of every run.
  [[nodiscard]] bool same_assignment(const Plan& other) const noexcept;
  // block_of — the index of the block holding `unit` (unit / block_units).
  [[nodiscard]] std::uint64_t block_of(std::size_t pool, std::uint64_t unit) const noexcept {
    return unit / pools_[pool].block_units;
  }
  [[nodiscard]] std::uint64_t blocks(std::size_t pool) const noexcept {
    return (pools_[pool].units + pools_[pool].block_units - 1) / pools_[pool].block_units;
  }

  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] std::span<const MemberSpec> members() const noexcept { return members_; }
  [[nodiscard]] std::size_t pool_count() const noexcept { return pools_.size(); }
  [[nodiscard]] bool has_member(std::uint32_t id) const noexcept;
  // retired — member `id` is retired in this plan (MemberSpec::retired).
  [[nodiscard]] bool retired(std::uint32_t id) const noexcept;
  [[nodiscard]] bool any_retired() const noexcept;

  // owner — the member id owning `unit` of pool `pool`. O(1).
  // Requires: pool < pool_count(), unit < units(pool).
  [[nodiscard]] std::uint32_t owner(std::size_t pool, std::uint64_t unit) const noexcept {
    const PoolPlan& p = pools_[pool];
    return members_[p.run_owner[unit >> p.run_shift]].id;
  }
  [[nodiscard]] std::uint64_t units(std::size_t pool) const noexcept { return pools_[pool].units; }
  [[nodiscard]] std::uint64_t block_units(std::size_t pool) const noexcept { return pools_[pool].block_units; }
  [[nodiscard]] std::uint64_t run_units(std::size_t pool) const noexcept {
    return std::uint64_t{1} << pools_[pool].run_shift;
  }
  [[nodiscard]] std::uint64_t runs(std::size_t pool) const noexcept { return pools_[pool].run_owner.size(); }
  // owner_table / run_shift / member_index — the O(1) lookup's parts, for a
  // hot path that caches them: owner index = table[unit >> run_shift].
  [[nodiscard]] const std::uint16_t* owner_table(std::size_t pool) const noexcept {
    return pools_[pool].run_owner.data();
  }
  [[nodiscard]] unsigned run_shift(std::size_t pool) const noexcept { return pools_[pool].run_shift; }
  [[nodiscard]] std::uint16_t member_index(std::uint32_t id) const noexcept {
    for (std::size_t i = 0; i < members_.size(); ++i)
      if (members_[i].id == id) return static_cast<std::uint16_t>(i);
    return UINT16_MAX;
  }

  // ranges_of — the merged, sorted unit ranges that `member` owns in `pool`.
  [[nodiscard]] std::vector<core::UnitRange> ranges_of(std::size_t pool, std::uint32_t member) const;
  // units_of — how many units of `pool` `member` owns.
  [[nodiscard]] std::uint64_t units_of(std::size_t pool, std::uint32_t member) const noexcept;
  // range_count — merged ranges over all members of `pool`.
  [[nodiscard]] std::uint64_t range_count(std::size_t pool) const noexcept;

 private:
  struct PoolPlan {
    std::uint64_t units = 0;
    std::uint64_t block_units = 0;
    unsigned run_shift = 0;                // log2(units per run)
    std::vector<std::uint16_t> run_owner;  // index into members_
  };
  Plan() = default;

  std::uint64_t epoch_ = 0;
  std::vector<MemberSpec> members_;  // sorted by id
  std::vector<PoolPlan> pools_;
  std::vector<PoolSpec> specs_;  // as given: reweighted() cuts the same pools
};

namespace detail {
// neg_log2_q32 — -log2(x / 2^53) in Q32 fixed point, for 0 < x < 2^53; at least 1.
std::uint64_t neg_log2_q32(std::uint64_t x) noexcept;
// mix64 — the splitmix64 finalizer.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// fnv1a — a stable 64-bit hash of a name.
std::uint64_t fnv1a(std::string_view s) noexcept;
}  // namespace detail

}  // namespace uepool::set
