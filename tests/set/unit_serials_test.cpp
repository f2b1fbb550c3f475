// UnitSerials: the 4-bit allocation serial per unit — its cycle, the CAS
// that ends one allocation, lazy pages, and racing ends (exactly one wins).
#include "uepool/set/detail/unit_serials.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

namespace uepool::set::detail {
namespace {

// Units churned in lockstep must not all wrap in the same round: a new
// page spreads their starting serials over the whole cycle.
TEST(UnitSerials, NewPagesSpreadTheStartingSerials) {
  UnitSerials s(1 << 16);
  ASSERT_TRUE(s.ensure(0, 1 << 16));
  std::vector<int> seen(16, 0);
  for (std::uint64_t u = 0; u < (1 << 16); ++u) ++seen[s.get(u)];
  for (std::uint8_t v = 0; v <= UnitSerials::kLast; ++v) EXPECT_GT(seen[v], 3'000) << int{v};
  EXPECT_EQ(seen[UnitSerials::kRestored], 0);
  EXPECT_EQ(seen[UnitSerials::kWrapHeld], 0);
}

TEST(UnitSerials, CycleWrapsThroughTheHeldValue) {
  EXPECT_EQ(UnitSerials::next(0), 1);
  EXPECT_EQ(UnitSerials::next(12), 13);
  EXPECT_EQ(UnitSerials::next(UnitSerials::kLast), UnitSerials::kWrapHeld);
  EXPECT_EQ(UnitSerials::next(UnitSerials::kWrapHeld), 0);
  EXPECT_EQ(UnitSerials::next(UnitSerials::kRestored), 0);
}

TEST(UnitSerials, EndAdvancesOnlyTheNamedAllocation) {
  UnitSerials s(1'000);
  EXPECT_FALSE(s.end(5, 0)) << "no page yet: nothing of this incarnation was allocated there";
  ASSERT_TRUE(s.ensure(0, 64));
  const std::uint8_t s4 = s.get(4), s5 = s.get(5);
  EXPECT_LE(s5, UnitSerials::kLast);
  EXPECT_TRUE(s.end(5, s5));
  EXPECT_FALSE(s.end(5, s5)) << "a duplicate of the ended allocation";
  EXPECT_EQ(s.get(5), UnitSerials::next(s5));
  EXPECT_EQ(s.get(4), s4);  // neighbours in the same word untouched
  s.set(6, UnitSerials::kRestored);
  EXPECT_EQ(s.get(6), UnitSerials::kRestored);
  EXPECT_EQ(s.get(5), UnitSerials::next(s5));
  EXPECT_TRUE(s.end(6, UnitSerials::kRestored));
  EXPECT_EQ(s.get(6), 0);
  EXPECT_FALSE(s.end(2'000, 0)) << "beyond the pool";
  EXPECT_FALSE(s.end(5, 16)) << "not a serial";
}

TEST(UnitSerials, PagesAreMadeOnlyWhereNeeded) {
  const std::uint64_t units = std::uint64_t{1} << 32;  // an IPv6 /32 in /64s
  UnitSerials s(units);
  const std::size_t directory = s.bytes();
  EXPECT_EQ(directory, (units >> UnitSerials::kPageShift) * sizeof(void*));
  ASSERT_TRUE(s.ensure(units - 64, units));                       // the last window only
  EXPECT_EQ(s.bytes() - directory, UnitSerials::kPageUnits / 2);  // one page: 4 bits a unit
  EXPECT_TRUE(s.end(units - 1, s.get(units - 1)));
  EXPECT_EQ(s.get(0), 0);
  EXPECT_FALSE(s.end(0, 0));
}

// Threads racing to end one allocation of a unit (a release, its duplicate,
// the audit): exactly one succeeds, every round; neighbours sharing the
// word change meanwhile and are never disturbed.
TEST(UnitSerials, RacingEndsExactlyOneWins) {
  UnitSerials s(64);
  ASSERT_TRUE(s.ensure(0, 64));
  constexpr int kThreads = 2, kRounds = 2'000;
  std::atomic<int> winners{0};
  std::atomic<std::uint64_t> own_ends{0};
  // Between rounds: keep unit 3 on the 0..13 cycle (kLast -> kWrapHeld -> 0).
  std::barrier sync(kThreads, [&]() noexcept {
    if (s.get(3) == UnitSerials::kWrapHeld) (void)s.end(3, UnitSerials::kWrapHeld);
  });
  const std::uint8_t s3 = s.get(3);
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; ++t) {
    th.emplace_back([&, t] {
      const std::uint64_t mine = 8 + static_cast<std::uint64_t>(t);  // this thread's alone, in the same word
      for (int r = 0; r < kRounds; ++r) {
        if (s.end(3, static_cast<std::uint8_t>((s3 + r) % (UnitSerials::kLast + 1)))) winners.fetch_add(1);
        if (s.end(mine, s.get(mine))) own_ends.fetch_add(1);
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& x : th) x.join();
  EXPECT_EQ(winners.load(), kRounds);
  EXPECT_EQ(own_ends.load(), std::uint64_t{kThreads} * kRounds);
}

}  // namespace
}  // namespace uepool::set::detail
