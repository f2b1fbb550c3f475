// Plan: identical everywhere, minimal movement on join/leave, weighted balance, O(1) owner.
#include "uepool/set/plan.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace uepool::set {
namespace {

std::vector<PoolSpec> one_pool(std::uint64_t units, std::uint64_t block) {
  return {{"p", units, block}};
}

TEST(NegLog2, MatchesLibm) {
  for (std::uint64_t x : {1ULL, 2ULL, 3ULL, 1000ULL, 123456789ULL, (1ULL << 52) + 17, (1ULL << 53) - 1}) {
    const double expect = 53.0 - std::log2(static_cast<double>(x));
    const double got = static_cast<double>(detail::neg_log2_q32(x)) / 4294967296.0;
    EXPECT_NEAR(got, expect, 1e-6) << x;
  }
  EXPECT_GE(detail::neg_log2_q32((1ULL << 53) - 1), 1u);
}

TEST(Plan, RejectsBadInput) {
  std::vector<MemberSpec> none;
  EXPECT_EQ(Plan::create(1, none, one_pool(256, 64)).status().reason(), std::string("plan has no members"));
  std::vector<MemberSpec> dup = {{1, 1}, {1, 2}};
  EXPECT_EQ(Plan::create(1, dup, one_pool(256, 64)).status().reason(), std::string("duplicate member id"));
  std::vector<MemberSpec> zero = {{1, 0}, {2, 0}};
  EXPECT_EQ(Plan::create(1, zero, one_pool(256, 64)).status().reason(),
            std::string("every member weight is zero: nobody owns a block"));
  std::vector<MemberSpec> weighed = {{1, 1}, {2, 1, true}};
  EXPECT_EQ(Plan::create(1, weighed, one_pool(256, 64)).status().reason(),
            std::string("a retired member has a weight (it must be 0)"));
  std::vector<MemberSpec> ok = {{1, 1}};
  EXPECT_FALSE(Plan::create(1, ok, one_pool(256, 96)).ok());
  EXPECT_FALSE(Plan::create(1, ok, one_pool(256, 32)).ok());
  EXPECT_EQ(Plan::create(1, ok, one_pool(64, 128)).status().reason(), std::string("block larger than its pool"));
  EXPECT_FALSE(Plan::create(1, ok, one_pool(0, 64)).ok());
}

TEST(Plan, SameInputSameOwnersInAnyOrder) {
  std::vector<MemberSpec> a = {{1, 1}, {2, 3}, {7, 2}};
  std::vector<MemberSpec> b = {{7, 2}, {1, 1}, {2, 3}};
  auto pa = Plan::create(1, a, one_pool(1 << 16, 64));
  auto pb = Plan::create(9, b, one_pool(1 << 16, 64));
  ASSERT_TRUE(pa.ok() && pb.ok());
  for (std::uint64_t u = 0; u < (1 << 16); u += 17) EXPECT_EQ(pa->owner(0, u), pb->owner(0, u));
}

TEST(Plan, OwnerAndRangesAgreeAndCoverEverything) {
  std::vector<MemberSpec> m = {{1, 1}, {2, 1}, {3, 1}};
  auto plan = Plan::create(1, m, one_pool(1 << 14, 128));
  ASSERT_TRUE(plan.ok());
  std::uint64_t total = 0;
  for (const auto& spec : m) {
    auto ranges = plan->ranges_of(0, spec.id);
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      if (i > 0) {
        EXPECT_LT(ranges[i - 1].end, ranges[i].begin);  // merged: never adjacent
      }
      EXPECT_EQ(ranges[i].begin % 128, 0u);
      for (std::uint64_t u = ranges[i].begin; u < ranges[i].end; ++u) ASSERT_EQ(plan->owner(0, u), spec.id);
      total += ranges[i].size();
    }
    EXPECT_EQ(plan->units_of(0, spec.id), [&] {
      std::uint64_t n = 0;
      for (auto r : ranges) n += r.size();
      return n;
    }());
  }
  EXPECT_EQ(total, 1u << 14);
}

// Shares of 16,384 blocks follow the weights within a few per cent.
TEST(Plan, WeightedBalanceOnManyBlocks) {
  std::vector<MemberSpec> m = {{1, 1}, {2, 2}, {3, 3}, {4, 1}, {5, 1}};
  auto plan = Plan::create(1, m, one_pool(1 << 20, 64));  // 16,384 blocks
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->runs(0), 16384u);
  for (const auto& spec : m) {
    const double share = static_cast<double>(plan->units_of(0, spec.id)) / (1 << 20);
    const double want = spec.weight / 8.0;
    EXPECT_NEAR(share / want, 1.0, 0.05) << "member " << spec.id;
  }
}

TEST(Plan, LargePoolsAreCutIntoBoundedRuns) {
  std::vector<MemberSpec> m = {{1, 1}, {2, 1}};
  auto plan = Plan::create(1, m, one_pool(std::uint64_t{1} << 32, 64));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->runs(0), Plan::kMaxRunsPerPool);
  EXPECT_EQ(plan->run_units(0), std::uint64_t{1} << 18);
  EXPECT_NEAR(static_cast<double>(plan->units_of(0, 1)) / (1ULL << 32), 0.5, 0.03);
}

// A member joining moves about its weighted share and nothing between others;
// a member leaving moves only its own blocks.
TEST(Plan, JoinAndLeaveMoveLittle) {
  std::vector<MemberSpec> before = {{1, 1}, {2, 1}, {3, 1}, {4, 1}};
  std::vector<MemberSpec> after = before;
  after.push_back({5, 1});
  auto p0 = Plan::create(1, before, one_pool(1 << 20, 64));
  auto p1 = Plan::create(2, after, one_pool(1 << 20, 64));
  ASSERT_TRUE(p0.ok() && p1.ok());
  std::uint64_t moved = 0;
  for (std::uint64_t u = 0; u < (1 << 20); u += 64) {
    if (p0->owner(0, u) != p1->owner(0, u)) {
      ++moved;
      EXPECT_EQ(p1->owner(0, u), 5u);  // only to the joiner
    }
  }
  EXPECT_NEAR(static_cast<double>(moved) / 16384, 0.2, 0.02);
  // Leave: the reverse, seen from p1 to p0: only member 5's blocks move.
  for (std::uint64_t u = 0; u < (1 << 20); u += 64) {
    if (p1->owner(0, u) != 5) {
      EXPECT_EQ(p0->owner(0, u), p1->owner(0, u));
    }
  }
}

TEST(Plan, PoolsAreIndependentBySalt) {
  std::vector<MemberSpec> m = {{1, 1}, {2, 1}};
  std::vector<PoolSpec> two = {{"a", 1 << 14, 64}, {"b", 1 << 14, 64}};
  std::vector<PoolSpec> b_only = {{"b", 1 << 14, 64}};
  auto p2 = Plan::create(1, m, two);
  auto p1 = Plan::create(1, m, b_only);
  ASSERT_TRUE(p2.ok() && p1.ok());
  for (std::uint64_t u = 0; u < (1 << 14); u += 64) EXPECT_EQ(p2->owner(1, u), p1->owner(0, u));
}

}  // namespace
}  // namespace uepool::set
