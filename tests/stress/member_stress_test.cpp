// Member under concurrency: several hot-path threads allocate and release
// through their own Workers while one message thread ticks both members,
// delivers their frames and closes windows under them (short leases), for
// UEPOOL_STRESS_SECONDS. Run under ThreadSanitizer in CI.
//
// Checks: a shadow array of holders (no unit handed out twice at once), every
// lease inside the owner's blocks, and after everything is released the
// owner shows every unit free again (nothing lost in the window-close race:
// a worker that raced a close gave its unit back).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "uepool/testing/loopback_set.hpp"

namespace uepool::set {
namespace {

double stress_seconds() {
  const char* s = std::getenv("UEPOOL_STRESS_SECONDS");
  return s != nullptr ? std::atof(s) : 2.0;
}

TEST(MemberStress, HotPathAgainstMessageThread) {
  std::vector<MemberSpec> specs = {{1, 1}, {2, 1}};
  std::vector<PoolSpec> pools = {{"v4", 1 << 12, 64}};
  auto plan = std::make_shared<const Plan>(Plan::create(1, specs, pools).value());
  core::PoolConfig cfg;
  cfg.name = "v4";
  cfg.prefix = net::Prefix::parse("10.9.0.0/20").value();
  cfg.unit_length = 32;
  testing::LoopbackOptions lo;
  lo.plan = plan;
  lo.pools = {cfg};
  lo.first_nonce = 100;
  lo.tune = [](MemberOptions& o) {
    o.lease = 40;  // windows close all the time, under the workers' feet
    o.windows_ahead = 4;
    o.heartbeat = 1;
    o.retransmit = 5;
  };
  auto created = testing::LoopbackSet::create(lo);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  testing::LoopbackSet& set = *created.value();
  Member* const owner = set.member(1);
  constexpr int kThreads = 3;
  std::vector<Member::Worker*> workers;
  for (int t = 0; t < kThreads; ++t) workers.push_back(owner->create_worker());

  std::vector<std::atomic<int>> holder(1 << 12);
  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::atomic<std::uint64_t> allocations{0};

  std::thread message([&] {
    std::uint64_t now = 0;
    while (!stop.load(std::memory_order_relaxed)) set.pump(++now);
  });
  std::vector<std::thread> hot;
  for (int t = 0; t < kThreads; ++t) {
    hot.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      std::vector<Lease> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        if (mine.size() < 200 && rng() % 3 != 0) {
          const MemberAllocation a = owner->allocate(*workers[t], 0);
          if (!a.ok()) continue;
          allocations.fetch_add(1, std::memory_order_relaxed);
          if (plan->owner(0, a.lease.unit) != 1) violations.fetch_add(1);
          int expect = 0;
          if (!holder[a.lease.unit].compare_exchange_strong(expect, t + 1)) violations.fetch_add(1);
          mine.push_back(a.lease);
        } else if (!mine.empty()) {
          const std::size_t k = rng() % mine.size();
          holder[mine[k].unit].store(0);
          owner->release(*workers[t], mine[k]);
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (const Lease& l : mine) {
        holder[l.unit].store(0);
        owner->release(*workers[t], l);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds()));
  stop.store(true);
  for (auto& th : hot) th.join();
  message.join();
  // Quiet: let the message side drain the release rings and close every window.
  for (std::uint64_t now = 1'000'000; now < 1'000'200; ++now) set.pump(now);
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(allocations.load(), 100u);
  std::uint64_t still = 0;
  for (std::uint64_t u = 0; u < (1 << 12); ++u) still += owner->in_use(0, u) ? 1 : 0;
  EXPECT_EQ(still, 0u) << "units lost after every lease was released";
  EXPECT_EQ(owner->counters().double_releases, 0u);
  EXPECT_EQ(owner->counters().releases_ring_full, 0u);
  std::printf("allocations %llu, undone in the close race %llu, windows %llu\n",
              static_cast<unsigned long long>(allocations.load()),
              static_cast<unsigned long long>(owner->counters().undone_allocations),
              static_cast<unsigned long long>(owner->counters().windows_reserved));
}

}  // namespace
}  // namespace uepool::set
