// Exhaustive interleaving test of the summary protocol (the lost-wakeup race);
// the longest scenario (a search that repairs a stale bit) is explored with a
// preemption bound of three.
//
// The bitmap is instantiated with `SchedAtomic`, an atomic whose every
// operation on a 64-bit word (bitmap words and summaries) is a scheduling
// point. Two logical threads run on real threads, but only one at a time;
// a depth-first search over the choices at each point runs every
// interleaving of the two operations, and after each one checks the
// quiescent invariant (validate) and that the freed unit can be allocated.
// This checks the protocol's logic under every sequentially consistent
// interleaving; it does not model weaker memory orders (the orders are
// argued in atomic_bitmap_impl.hpp and exercised under ThreadSanitizer).
//
// A deliberately broken variant (no recheck after clearing a summary bit)
// must fail in some interleaving: the test can fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "../support/interleaving.hpp"
#include "uepool/core/atomic_bitmap.hpp"

namespace {

using uepool::testing::g_scheduler;
using uepool::testing::next_schedule;
using uepool::testing::SchedAtomic;
using uepool::testing::Scheduler;

// BrokenAtomic — the same atomic, but the bitmap built on it skips the recheck.
template <class T>
struct BrokenAtomic : SchedAtomic<T> {
  using SchedAtomic<T>::SchedAtomic;
};

// TrustingAtomic — the same atomic, but the bitmap built on it trusts an
// empty summary while a repair may be in flight (no repair counter check, no
// rescan): the false none-free of N in atomic_bitmap_impl.hpp.
template <class T>
struct TrustingAtomic : SchedAtomic<T> {
  using SchedAtomic<T>::SchedAtomic;
};

}  // namespace

template <>
struct uepool::core::detail::SkipRecheck<BrokenAtomic> {
  static constexpr bool value = true;
};
template <>
struct uepool::core::detail::SkipRepairCheck<TrustingAtomic> {
  static constexpr bool value = true;
};

namespace {

using uepool::core::AllocStatus;
using uepool::core::ReleaseStatus;

// Scenario: a bitmap of `capacity` units, every unit in use except
// `initially_free` (or none: kNone); thread A (worker created first when
// `a_first`, so its home region holds unit 0) allocates while thread B
// releases `freed`. `stale_leaf`, if not kNone, is a full leaf whose root
// bit is left stale (fills never clear it) while every other leaf's bit is
// repaired first, so A's search repairs it while B frees a unit in it.
// Afterwards the bitmap must validate, and exactly the units A did not take
// must be allocatable, then none. Returns (interleavings, failures).
constexpr std::uint64_t kNone = UINT64_MAX;

template <template <class> class Atom>
std::pair<int, int> explore(std::uint64_t capacity, std::uint64_t initially_free, std::uint64_t freed, bool a_first,
                            std::uint64_t stale_leaf = kNone, int preemption_bound = -1) {
  using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
  Scheduler scheduler;
  int runs = 0;
  int failures = 0;
  std::vector<int> prefix;
  std::vector<std::pair<int, int>> trace;
  while (true) {
    Bitmap bitmap(capacity);
    std::optional<typename Bitmap::Worker> wa;
    if (a_first) wa.emplace(bitmap);
    typename Bitmap::Worker setup(bitmap);
    for (std::uint64_t u = 0; u < capacity; ++u) {
      if (u != initially_free) {
        EXPECT_EQ(bitmap.claim(setup, u), uepool::core::ClaimStatus::kClaimed);
      }
    }
    if (stale_leaf != kNone) {
      // Repair every leaf's root bit but the stale one's (a search that finds
      // a leaf full clears its bit).
      for (std::uint64_t leaf = 0; leaf * 4096 < capacity; ++leaf) {
        if (leaf != stale_leaf) (void)bitmap.allocate_in(setup, {leaf * 4096, std::min(capacity, leaf * 4096 + 4096)});
      }
    }
    if (!a_first) wa.emplace(bitmap);
    typename Bitmap::Worker wb(bitmap);
    uepool::core::Allocation got;
    ReleaseStatus released{};
    g_scheduler = &scheduler;
    scheduler.run({[&] { got = bitmap.allocate(*wa); }, [&] { released = bitmap.release(wb, freed); }}, prefix, trace,
                  preemption_bound);
    g_scheduler = nullptr;
    ++runs;
    if (scheduler.livelock_) {
      ADD_FAILURE() << "an interleaving ran past " << Scheduler::kMaxSteps << " scheduling points";
      return {runs, failures + 1};
    }
    bool ok = released == ReleaseStatus::kReleased && bitmap.validate().ok();
    // The units now free: {initially free, freed} minus what A took.
    std::vector<std::uint64_t> remaining;
    for (const std::uint64_t u : {initially_free, freed}) {
      if (u != kNone && !(got.ok() && got.unit == u)) remaining.push_back(u);
    }
    ok = ok && (got.ok() || initially_free == kNone);  // A may find nothing only if B's unit was the only one
    typename Bitmap::Worker wc(bitmap);
    std::vector<std::uint64_t> found;
    for (auto again = bitmap.allocate(wc); again.ok(); again = bitmap.allocate(wc)) found.push_back(again.unit);
    std::sort(found.begin(), found.end());
    std::sort(remaining.begin(), remaining.end());
    ok = ok && found == remaining;
    if (!ok) ++failures;
    if (!next_schedule(trace, prefix)) break;
  }
  std::printf("explored %d interleavings (preemption bound %d), %d failing\n", runs, preemption_bound, failures);
  return {runs, failures};
}

// Scenario N (no false none-free): 4160 units (leaf 0 full, leaf 1 of one
// word full), leaf 0's root bit stale, leaf 1's repaired. Thread A (home
// region 0) allocates: its search reads leaf 0, finds it full and repairs
// its bit. Thread B releases units 2051 and 2053 (word 32 of leaf 0) and
// then allocates from its home region 1: a search that starts after the
// releases returned, possibly while A is between clearing the bit and
// rechecking the leaf. A takes at most one unit, so B must never answer
// kNoneFree. A failing schedule needs three preemptions (A reads word 32,
// B releases, A clears the bit, B searches), too many for an exhaustive
// search of these ~100 points: `random_schedules` > 0 samples that many
// seeded random schedules instead (about four switches each); 0 runs every
// schedule within `preemption_bound`. Returns (runs, failures).
template <template <class> class Atom>
std::pair<int, int> explore_search_after_release(int preemption_bound, int random_schedules = 0) {
  using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
  Scheduler scheduler;
  int runs = 0;
  int failures = 0;
  std::vector<int> prefix;
  std::vector<std::pair<int, int>> trace;
  std::vector<std::uint32_t> all(4160);
  for (std::uint32_t u = 0; u < 4160; ++u) all[u] = u;
  std::mt19937_64 random(20261129);
  while (true) {
    Bitmap bitmap(4160);
    typename Bitmap::Worker wa(bitmap);  // region 0
    typename Bitmap::Worker wb(bitmap);  // region 1
    {
      typename Bitmap::Worker setup(bitmap);
      (void)bitmap.claim_bulk(setup, all);
      (void)bitmap.allocate_in(setup, {4096, 4160});  // finds leaf 1 full: repairs its bit
    }
    uepool::core::Allocation got_a;
    uepool::core::Allocation got_b;
    bool released = false;
    g_scheduler = &scheduler;
    scheduler.run({[&] { got_a = bitmap.allocate(wa); },
                   [&] {
                     released = bitmap.release(wb, 2051) == ReleaseStatus::kReleased &&
                                bitmap.release(wb, 2053) == ReleaseStatus::kReleased;
                     got_b = bitmap.allocate(wb);
                   }},
                  prefix, trace, preemption_bound, random_schedules > 0 ? &random : nullptr, 0.04);
    g_scheduler = nullptr;
    ++runs;
    if (scheduler.livelock_) {
      ADD_FAILURE() << "an interleaving ran past " << Scheduler::kMaxSteps << " scheduling points";
      return {runs, failures + 1};
    }
    const bool ok = released && got_b.ok() && bitmap.validate().ok() && (!got_a.ok() || got_a.unit != got_b.unit);
    if (!ok) ++failures;
    if (random_schedules > 0) {
      if (runs == random_schedules) break;
      continue;
    }
    if (!next_schedule(trace, prefix)) break;
  }
  std::printf("explored %d %s (preemption bound %d), %d failing\n", runs,
              random_schedules > 0 ? "random schedules" : "interleavings", preemption_bound, failures);
  return {runs, failures};
}

TEST(SummaryInterleaving, SearchAfterAReleaseNeverAnswersNoneFreeDuringARepair) {
  const auto [runs, failures] = explore_search_after_release<SchedAtomic>(1);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
  const auto [random_runs, random_failures] = explore_search_after_release<SchedAtomic>(-1, 1500);
  EXPECT_EQ(random_failures, 0) << "of " << random_runs << " random schedules";
}

TEST(SummaryInterleaving, TrustingAnEmptyRootDuringARepairAnswersNoneFreeFalsely) {
  const auto [runs, failures] = explore_search_after_release<TrustingAtomic>(-1, 1500);
  EXPECT_GT(failures, 0) << "the trusting search passed all " << runs << " random schedules: the test is blind";
}

TEST(SummaryInterleaving, SearchFindsTheLeafFullWhileAReleaseLandsInIt) {
  // 128 units, all in use: A's search reads the leaf's words, finds them
  // full and clears the leaf's bit (then rechecks); B frees unit 3 in it.
  // Every schedule with at most three preemptions (all 16,595 schedules
  // pass too, in 18 s: too long for the sanitizer builds).
  const auto [runs, failures] = explore<SchedAtomic>(128, kNone, 3, true, kNone, 3);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, FillRacesReleaseInTheSameWord) {
  // 128 units: A takes unit 5, the last free one (word 0 and the whole bitmap
  // become full); B releases unit 3 in the same word.
  const auto [runs, failures] = explore<SchedAtomic>(128, 5, 3, true);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, FillRacesReleaseInAnotherWordOfTheLeaf) {
  // A fills word 0 (and the leaf); B frees unit 70 in word 1.
  const auto [runs, failures] = explore<SchedAtomic>(128, 5, 70, true);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, FillRacesReleaseInAnotherLeaf) {
  // Two leaves: A fills leaf 0's last word; B frees a unit of full leaf 1.
  const auto [runs, failures] = explore<SchedAtomic>(8192, 5, 5000, true);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, RepairOfAStaleLeafBitRacesRelease) {
  // Everything is in use; leaf 1 (units 4096..4223, the last 128 units) is
  // full under a stale root bit (allocations never clear summary bits).
  // A's search finds leaf 1 full and clears its root bit while B frees unit
  // 4100 in it: the unit must not stay hidden. A's search is long (dozens of
  // points): every schedule with at most three preemptions, which covers
  // B's release landing between any two of A's steps and A's resuming at
  // any point of B's.
  const auto [runs, failures] = explore<SchedAtomic>(4224, kNone, 4100, false, 1, 3);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, WithoutTheRecheckSomeInterleavingLosesTheUnit) {
  const auto [runs, failures] = explore<BrokenAtomic>(128, kNone, 3, true, kNone, 3);
  EXPECT_GT(failures, 0) << "the broken protocol passed all " << runs << " interleavings: the test is blind";
  const auto [repair_runs, repair_failures] = explore<BrokenAtomic>(4224, kNone, 4100, false, 1, 3);
  EXPECT_GT(repair_failures, 0) << "the broken repair passed all " << repair_runs << " interleavings";
}

}  // namespace
