// Concurrency stress of AtomicBitmap and Pool (run under ThreadSanitizer in CI).
//
// N threads, each with its own Worker, do random allocate / allocate_in /
// claim / release for UEPOOL_STRESS_SECONDS. A shadow array of owners checks,
// at every step, that no unit is handed to two holders at once. Afterwards:
// count() equals the sum of holdings, iteration matches them, validate()
// passes, and after releasing everything the whole pool allocates again
// (nothing hidden).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "uepool/core/pool.hpp"

namespace uepool::core {
namespace {

double stress_seconds() {
  const char* s = std::getenv("UEPOOL_STRESS_SECONDS");
  return s != nullptr ? std::atof(s) : 2.0;
}

struct Shadow {
  explicit Shadow(std::uint64_t n) : owner(n) {}
  std::vector<std::atomic<std::uint32_t>> owner;  // 0 = free, else thread id + 1
  std::atomic<std::uint64_t> duplicates{0};
  void take(std::uint64_t unit, std::uint32_t who) {
    // relaxed is enough: exchange is atomic, and the verdict is read after join.
    if (owner[unit].exchange(who, std::memory_order_relaxed) != 0) duplicates.fetch_add(1, std::memory_order_relaxed);
  }
  void give_back(std::uint64_t unit) { owner[unit].store(0, std::memory_order_relaxed); }
};

void stress_bitmap(std::uint64_t capacity, int threads, bool windows) {
  AtomicBitmap bitmap(capacity);
  Shadow shadow(capacity);
  std::atomic<bool> stop{false};
  std::vector<std::vector<std::uint64_t>> held(static_cast<std::size_t>(threads));
  std::atomic<std::uint64_t> ops{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      AtomicBitmap::Worker w(bitmap);
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + capacity);
      auto& mine = held[static_cast<std::size_t>(t)];
      const auto who = static_cast<std::uint32_t>(t + 1);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const unsigned op = static_cast<unsigned>(rng() % 16);
        if (op < 7) {
          Allocation a;
          if (windows && op < 3) {
            const std::uint64_t lo = rng() % capacity;
            a = bitmap.allocate_in(w, {lo, std::min(capacity, lo + 1 + rng() % 300)});
          } else {
            a = bitmap.allocate(w);
          }
          if (a.ok()) {
            ASSERT_LT(a.unit, capacity);
            shadow.take(a.unit, who);
            mine.push_back(a.unit);
          }
        } else if (op < 14) {
          if (!mine.empty()) {
            const std::size_t i = rng() % mine.size();
            const std::uint64_t u = mine[i];
            mine[i] = mine.back();
            mine.pop_back();
            shadow.give_back(u);  // before the release: afterwards another thread may take it
            ASSERT_EQ(bitmap.release(w, u), ReleaseStatus::kReleased);
          }
        } else if (op == 14) {
          const std::uint64_t u = rng() % capacity;
          if (bitmap.claim(w, u) == ClaimStatus::kClaimed) {
            shadow.take(u, who);
            mine.push_back(u);
          }
        } else {
          // test() of a unit this thread holds is always true.
          if (!mine.empty()) {
            ASSERT_TRUE(bitmap.test(mine[rng() % mine.size()]));
          }
        }
        ++n;
      }
      ops.fetch_add(n, std::memory_order_relaxed);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds()));
  stop.store(true);
  for (auto& th : pool) th.join();

  EXPECT_EQ(shadow.duplicates.load(), 0u) << "a unit was handed to two holders at once";
  std::set<std::uint64_t> all;
  for (const auto& v : held) all.insert(v.begin(), v.end());
  std::uint64_t total = 0;
  for (const auto& v : held) total += v.size();
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(bitmap.count(), total);
  std::uint64_t iterated = 0;
  bool match = true;
  bitmap.for_each_in_use([&](UnitRange r) {
    for (std::uint64_t u = r.begin; u < r.end; ++u) match = match && all.count(u) == 1;
    iterated += r.size();
  });
  EXPECT_TRUE(match);
  EXPECT_EQ(iterated, total);
  const Status s = bitmap.validate();
  EXPECT_TRUE(s.ok()) << s.to_string();
  // Nothing hidden: release everything, then the whole bitmap allocates again.
  AtomicBitmap::Worker w(bitmap);
  for (const auto u : all) ASSERT_EQ(bitmap.release(w, u), ReleaseStatus::kReleased);
  std::uint64_t again = 0;
  while (bitmap.allocate(w).ok()) ++again;
  EXPECT_EQ(again, capacity);
  std::printf("capacity %llu, %d threads: %llu operations\n", static_cast<unsigned long long>(capacity), threads,
              static_cast<unsigned long long>(ops.load()));
}

TEST(AllocatorStress, TinyPoolAlwaysNearFull) {
  stress_bitmap(128, 4, false);
}
TEST(AllocatorStress, MultiLeafWithWindows) {
  stress_bitmap(3 * 4096 + 77, 4, true);
}
TEST(AllocatorStress, ManyRegions) {
  stress_bitmap(1 << 20, 3, true);
}

TEST(AllocatorStress, PoolWithHoldDownAndStatics) {
  PoolConfig c;
  c.name = "stress";
  c.prefix = net::Prefix::parse("10.0.0.0/22").value();
  c.unit_length = 32;
  c.excluded = {net::Prefix::parse("10.0.0.1/32").value()};
  c.static_ranges = {net::Prefix::parse("10.0.3.0/24").value()};
  c.hold_down = 50;
  auto created = Pool::create(c);
  ASSERT_TRUE(created.ok());
  Pool& pool = *created.value();
  Shadow shadow(pool.size());
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> clock{0};
  const int threads = 4;
  std::vector<std::vector<std::uint64_t>> held(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      Pool::Worker w(pool);
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 99);
      auto& mine = held[static_cast<std::size_t>(t)];
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t now = clock.fetch_add(1, std::memory_order_relaxed);
        const unsigned op = static_cast<unsigned>(rng() % 10);
        if (op < 4) {
          const PoolAllocation a = pool.allocate(w, now);
          if (a.ok()) {
            ASSERT_FALSE(pool.is_excluded(a.unit));
            ASSERT_FALSE(pool.is_static(a.unit));
            shadow.take(a.unit, static_cast<std::uint32_t>(t + 1));
            mine.push_back(a.unit);
          }
        } else if (op < 5) {
          const std::uint64_t u = 768 + rng() % 256;  // static
          if (pool.claim(w, u) == UnitStatus::kOk) {
            shadow.take(u, static_cast<std::uint32_t>(t + 1));
            mine.push_back(u);
          }
        } else if (!mine.empty()) {
          const std::size_t i = rng() % mine.size();
          const std::uint64_t u = mine[i];
          mine[i] = mine.back();
          mine.pop_back();
          shadow.give_back(u);
          ASSERT_EQ(pool.release(w, u, now), UnitStatus::kOk);
          // A second release is detected while the unit waits in this
          // worker's hold-down queue (only this worker can free it from there).
          // A static unit has no hold-down: it may be claimed again at once.
          if (!pool.is_static(u)) {
            ASSERT_EQ(pool.release(w, u, now), UnitStatus::kNotInUse);
          }
        }
      }
      w.drain(UINT64_MAX);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds()));
  stop.store(true);
  for (auto& th : ts) th.join();
  EXPECT_EQ(shadow.duplicates.load(), 0u);
  std::uint64_t total = 0;
  for (const auto& v : held) total += v.size();
  EXPECT_EQ(pool.count(), total);
  const Status s = pool.validate();
  EXPECT_TRUE(s.ok()) << s.to_string();
}

}  // namespace
}  // namespace uepool::core
