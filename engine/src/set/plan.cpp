// Plan: weighted rendezvous hashing over runs of blocks. See uepool/set/plan.hpp.
#include "uepool/set/plan.hpp"

#include <algorithm>
#include <bit>

namespace uepool::set {

namespace detail {

std::uint64_t neg_log2_q32(std::uint64_t x) noexcept {
  // log2(x) = k + log2(m), m = x / 2^k in [1, 2). The fraction's bits come
  // from squaring m: each squaring doubles log2(m); m >= 2 means the next bit is 1.
  const unsigned k = 63u - static_cast<unsigned>(std::countl_zero(x));
  unsigned __int128 m = static_cast<unsigned __int128>(x) << (62 - k);  // Q62, in [1, 2)
  std::uint64_t frac = 0;
  for (int i = 31; i >= 0; --i) {
    m = (m * m) >> 62;
    if (m >= (static_cast<unsigned __int128>(2) << 62)) {
      m >>= 1;
      frac |= std::uint64_t{1} << i;
    }
  }
  const std::uint64_t log2x = (std::uint64_t{k} << 32) | frac;
  const std::uint64_t whole = std::uint64_t{53} << 32;
  return log2x >= whole ? 1 : std::max<std::uint64_t>(whole - log2x, 1);
}

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace detail

bool Plan::has_member(std::uint32_t id) const noexcept {
  return std::binary_search(members_.begin(), members_.end(), MemberSpec{id, 0},
                            [](const MemberSpec& a, const MemberSpec& b) { return a.id < b.id; });
}

bool Plan::retired(std::uint32_t id) const noexcept {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const MemberSpec& a, std::uint32_t b) { return a.id < b; });
  return it != members_.end() && it->id == id && it->retired;
}

bool Plan::any_retired() const noexcept {
  return std::any_of(members_.begin(), members_.end(), [](const MemberSpec& m) { return m.retired; });
}

Result<Plan> Plan::create(std::uint64_t epoch, std::span<const MemberSpec> members, std::span<const PoolSpec> pools) {
  if (members.empty()) return Status(StatusCode::kInvalidArgument, "plan has no members");
  if (members.size() > 65535)
    return Status(StatusCode::kOutOfRange, "too many members").with_number(members.size(), "members");
  Plan plan;
  plan.epoch_ = epoch;
  plan.members_.assign(members.begin(), members.end());
  std::sort(plan.members_.begin(), plan.members_.end(),
            [](const MemberSpec& a, const MemberSpec& b) { return a.id < b.id; });
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < plan.members_.size(); ++i) {
    if (i > 0 && plan.members_[i].id == plan.members_[i - 1].id)
      return Status(StatusCode::kInvalidArgument, "duplicate member id").with_number(plan.members_[i].id, "member");
    if (plan.members_[i].retired && plan.members_[i].weight != 0)
      return Status(StatusCode::kInvalidArgument, "a retired member has a weight (it must be 0)")
          .with_number(plan.members_[i].id, "member");
    total += plan.members_[i].weight;
  }
  if (total == 0) return Status(StatusCode::kInvalidArgument, "every member weight is zero: nobody owns a block");
  if (total > (std::uint64_t{1} << 32))
    return Status(StatusCode::kOutOfRange, "total member weight above 2^32").with_number(total, "weight");

  for (std::size_t pi = 0; pi < pools.size(); ++pi) {
    const PoolSpec& spec = pools[pi];
    if (spec.units == 0) return Status(StatusCode::kInvalidArgument, "pool has no units").with_number(pi, "pool");
    if (!std::has_single_bit(spec.block_units) || spec.block_units < 64)
      return Status(StatusCode::kInvalidArgument, "block size is not a power of two of at least 64 units")
          .with_number(spec.block_units, "block units");
    if (spec.block_units > spec.units)
      return Status(StatusCode::kOutOfRange, "block larger than its pool").with_number(spec.block_units, "block units");
    PoolPlan pp;
    pp.units = spec.units;
    pp.block_units = spec.block_units;
    const std::uint64_t blocks = (spec.units + spec.block_units - 1) / spec.block_units;
    unsigned r = 0;
    while ((blocks >> r) > kMaxRunsPerPool) ++r;
    pp.run_shift = static_cast<unsigned>(std::countr_zero(spec.block_units)) + r;
    const std::uint64_t run_count = (spec.units + (std::uint64_t{1} << pp.run_shift) - 1) >> pp.run_shift;
    pp.run_owner.resize(run_count);
    const std::uint64_t salt = detail::fnv1a(spec.name);
    for (std::uint64_t run = 0; run < run_count; ++run) {
      std::size_t best = SIZE_MAX;
      std::uint64_t best_l = 0;
      for (std::size_t m = 0; m < plan.members_.size(); ++m) {
        if (plan.members_[m].weight == 0) continue;  // a standby member owns nothing
        const std::uint64_t h = detail::mix64(salt ^ detail::mix64(run ^ detail::mix64(plan.members_[m].id)));
        const std::uint64_t l = detail::neg_log2_q32((h >> 11) | 1);
        // Smallest l / weight wins: compare l_m * w_best < l_best * w_m exactly.
        if (best == SIZE_MAX || static_cast<unsigned __int128>(l) * plan.members_[best].weight <
                                    static_cast<unsigned __int128>(best_l) * plan.members_[m].weight) {
          best = m;
          best_l = l;
        }
      }
      pp.run_owner[run] = static_cast<std::uint16_t>(best);
    }
    plan.pools_.push_back(std::move(pp));
    plan.specs_.push_back(spec);
  }
  return plan;
}

Result<Plan> Plan::reweighted(std::uint64_t epoch, std::span<const MemberSpec> members) const {
  return create(epoch, members, specs_);
}

bool Plan::same_roster(std::span<const MemberSpec> members) const noexcept {
  if (members.size() != members_.size()) return false;
  for (const MemberSpec& m : members)
    if (!has_member(m.id)) return false;
  return true;
}

bool Plan::same_assignment(const Plan& other) const noexcept {
  if (pool_count() != other.pool_count() || members_.size() != other.members_.size()) return false;
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (members_[i].id != other.members_[i].id || members_[i].weight != other.members_[i].weight ||
        members_[i].retired != other.members_[i].retired)
      return false;
  for (std::size_t p = 0; p < pool_count(); ++p) {
    if (units(p) != other.units(p) || block_units(p) != other.block_units(p) || runs(p) != other.runs(p)) return false;
    if (!std::equal(owner_table(p), owner_table(p) + runs(p), other.owner_table(p))) return false;
  }
  return true;
}

std::vector<core::UnitRange> Plan::ranges_of(std::size_t pool, std::uint32_t member) const {
  std::vector<core::UnitRange> out;
  const PoolPlan& p = pools_[pool];
  const std::uint64_t run_units = std::uint64_t{1} << p.run_shift;
  for (std::uint64_t run = 0; run < p.run_owner.size(); ++run) {
    if (members_[p.run_owner[run]].id != member) continue;
    const std::uint64_t b = run * run_units;
    const std::uint64_t e = std::min(b + run_units, p.units);
    if (!out.empty() && out.back().end == b) {
      out.back().end = e;
    } else {
      out.push_back({b, e});
    }
  }
  return out;
}

std::uint64_t Plan::units_of(std::size_t pool, std::uint32_t member) const noexcept {
  std::uint64_t n = 0;
  const PoolPlan& p = pools_[pool];
  const std::uint64_t run_units = std::uint64_t{1} << p.run_shift;
  for (std::uint64_t run = 0; run < p.run_owner.size(); ++run)
    if (members_[p.run_owner[run]].id == member) n += std::min(run_units, p.units - run * run_units);
  return n;
}

std::uint64_t Plan::range_count(std::size_t pool) const noexcept {
  const PoolPlan& p = pools_[pool];
  std::uint64_t n = 0;
  for (std::uint64_t run = 0; run < p.run_owner.size(); ++run)
    if (run == 0 || p.run_owner[run] != p.run_owner[run - 1]) ++n;
  return n;
}

}  // namespace uepool::set
