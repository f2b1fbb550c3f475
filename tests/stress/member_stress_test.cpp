// Member under concurrency: several hot-path threads allocate and release
// through their own Workers while one message thread ticks both members,
// delivers their frames and closes windows under them (short leases), for
// UEPOOL_STRESS_SECONDS. Run under ThreadSanitizer in CI.
//
// Checks: a shadow array of holders (no unit handed out twice at once), every
// lease inside the owner's blocks, and after everything is released the
// owner shows every unit free again (nothing lost in the window-close race:
// a worker that raced a close gave its unit back). Meanwhile threads drop
// leases without releasing them (lost releases) and release some of them
// late, while audits against the holders free the leaked units: no audit
// may free a held unit, no late release may free a unit handed out again.
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

// HolderStore — the session store of this test: every unit a hot thread
// holds (holder > 0). A thread marks itself in flight around allocate and
// its store; a read while any thread is in flight says "not now" (so every
// allocation made before an audit started is listed once it is read).
// Leaked units (holder -1: the thread dropped the lease without releasing
// it, as a lost release would) are not listed: the audit must free them.
struct HolderStore final : SessionStore {
  std::vector<std::atomic<int>>* holder = nullptr;
  std::vector<std::atomic<bool>>* in_flight = nullptr;
  bool read_held(std::uint32_t owner, const Plan& plan, std::vector<Lease>& out) override {
    for (auto& f : *in_flight)
      if (f.load()) return false;  // seq_cst, like the threads' stores
    for (std::uint64_t u = 0; u < holder->size(); ++u)
      if ((*holder)[u].load() > 0 && plan.owner(0, u) == owner) out.push_back(Lease{0, u, {}, 0});
    return true;
  }
};

TEST(MemberStress, HotPathAgainstMessageThread) {
  std::vector<MemberSpec> specs = {{1, 1}, {2, 1}};
  std::vector<PoolSpec> pools = {{"v4", 1 << 12, 64}};
  auto plan = std::make_shared<const Plan>(Plan::create(1, specs, pools).value());
  core::PoolConfig cfg;
  cfg.name = "v4";
  cfg.prefix = net::Prefix::parse("10.9.0.0/20").value();
  cfg.unit_length = 32;
  constexpr int kThreads = 3;
  std::vector<std::atomic<int>> holder(1 << 12);
  std::vector<std::atomic<bool>> in_flight(kThreads);
  HolderStore store;
  store.holder = &holder;
  store.in_flight = &in_flight;
  testing::LoopbackOptions lo;
  lo.plan = plan;
  lo.pools = {cfg};
  lo.first_nonce = 100;
  lo.tune = [&store](MemberOptions& o) {
    o.lease = 40;  // windows close all the time, under the workers' feet
    o.windows_ahead = 4;
    o.heartbeat = 1;
    o.retransmit = 5;
    o.store = &store;  // audits run all the time too, freeing the leaked units
    o.audit_interval = 100;
    o.audit_grace = 5;
    // Duplicates are repeated within a few thousand pumps here (the message
    // thread pumps far faster than the hot threads churn one unit).
    o.release_repeat_window = 20'000;
  };
  auto created = testing::LoopbackSet::create(lo);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  testing::LoopbackSet& set = *created.value();
  Member* const owner = set.member(1);
  std::vector<Member::Worker*> workers;
  for (int t = 0; t < kThreads; ++t) workers.push_back(owner->create_worker());

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> leaked{0}, late{0}, duplicates{0};
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
      std::vector<Lease> lost;  // leases dropped without a release; some are released late
      std::vector<Lease>
          done;  // leases released once: the embedding repeats some (refused: their unit may have a new holder)
      std::uint64_t lost_count = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (mine.size() < 200 && rng() % 3 != 0) {
          in_flight[t].store(true);
          const MemberAllocation a = owner->allocate(*workers[t], 0);
          if (!a.ok()) {
            in_flight[t].store(false);
            continue;
          }
          allocations.fetch_add(1, std::memory_order_relaxed);
          if (plan->owner(0, a.lease.unit) != 1) violations.fetch_add(1);
          int expect = 0;
          if (!holder[a.lease.unit].compare_exchange_strong(expect, t + 1)) {
            // -1: a leaked unit an audit freed; any other holder: handed out twice.
            if (expect != -1 || !holder[a.lease.unit].compare_exchange_strong(expect, t + 1)) violations.fetch_add(1);
          }
          in_flight[t].store(false);
          mine.push_back(a.lease);
        } else if (!mine.empty()) {
          const std::size_t k = rng() % mine.size();
          if (rng() % 64 == 0) {
            holder[mine[k].unit].store(-1);  // the session ended, its release was lost: a leak
            leaked.fetch_add(1, std::memory_order_relaxed);
            if (++lost_count % 2 == 0) lost.push_back(mine[k]);  // released late; every other one: never (the audit's)
          } else {
            holder[mine[k].unit].store(0);
            owner->release(*workers[t], mine[k]);
            if (rng() % 16 == 0 && done.size() < 64) done.push_back(mine[k]);
          }
          mine[k] = mine.back();
          mine.pop_back();
        } else if (!done.empty() && rng() % 4 == 0) {
          // A duplicate release: its allocation ended; if it freed the unit
          // under a new holder, a third thread could be handed it (caught above).
          owner->release(*workers[t], done.back());
          done.pop_back();
          duplicates.fetch_add(1, std::memory_order_relaxed);
        } else if (!lost.empty() && rng() % 4 == 0) {
          // A late release of a lost lease: it frees the unit if no audit did
          // yet; if an audit did, it ended that allocation and the release is refused
          // (the unit may have a new holder by now: freeing it would let a
          // third thread be handed it while that holder has it).
          const Lease l = lost.back();
          lost.pop_back();
          int expect = -1;
          (void)holder[l.unit].compare_exchange_strong(expect, 0);
          owner->release(*workers[t], l);
          late.fetch_add(1, std::memory_order_relaxed);
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
  // Quiet: let the message side drain the release rings and close every
  // window, and a last audit free what leaked.
  std::uint64_t now = 1'000'000;
  for (; now < 1'000'200; ++now) set.pump(now);
  ASSERT_TRUE(owner->audit_now().ok());
  for (; now < 1'010'000 && owner->auditing(); ++now) set.pump(now);
  const std::uint64_t wrap_end = now + 20'001;  // units whose serial wrapped wait out the repeat window
  for (; now < wrap_end; ++now) set.pump(now);
  for (auto& h : holder) {
    int expect = -1;
    h.compare_exchange_strong(expect, 0);
  }
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(allocations.load(), 100u);
  std::uint64_t still = 0;
  for (std::uint64_t u = 0; u < (1 << 12); ++u) still += owner->in_use(0, u) ? 1 : 0;
  EXPECT_EQ(still, 0u) << "units lost after every lease was released";
  EXPECT_EQ(owner->counters().double_releases, 0u);
  EXPECT_EQ(owner->counters().releases_ring_full, 0u);
  EXPECT_GT(owner->counters().audit_freed, 0u);
  EXPECT_GT(duplicates.load(), 0u);
  EXPECT_GE(owner->counters().stale_releases,
            duplicates.load());  // every duplicate refused (and late ones after an audit)
  std::printf(
      "allocations %llu, undone in the close race %llu, windows %llu; leaked %llu, released late %llu, duplicates "
      "%llu, audits %llu freed %llu, stale releases refused %llu\n",
      static_cast<unsigned long long>(allocations.load()),
      static_cast<unsigned long long>(owner->counters().undone_allocations),
      static_cast<unsigned long long>(owner->counters().windows_reserved),
      static_cast<unsigned long long>(leaked.load()), static_cast<unsigned long long>(late.load()),
      static_cast<unsigned long long>(duplicates.load()), static_cast<unsigned long long>(owner->counters().audits),
      static_cast<unsigned long long>(owner->counters().audit_freed),
      static_cast<unsigned long long>(owner->counters().stale_releases));
}

// Re-division under the hot path: two members' worker threads allocate and
// release (each at its own member, the lease's owner anywhere) while the
// message thread moves blocks between them and a standby, epoch after
// epoch (the owner table swapped under the workers, releases racing the
// marks). No unit is held twice; after a final audit nothing is in use
// that no thread holds.
TEST(MemberStress, HotPathThroughEpochChanges) {
  std::vector<PoolSpec> pools = {{"v4", 1 << 12, 64}};
  auto plan_of = [&](std::uint64_t epoch, std::uint32_t w1, std::uint32_t w2, std::uint32_t w3) {
    std::vector<MemberSpec> specs = {{1, w1}, {2, w2}, {3, w3}};
    return std::make_shared<const Plan>(Plan::create(epoch, specs, pools).value());
  };
  core::PoolConfig cfg;
  cfg.name = "v4";
  cfg.prefix = net::Prefix::parse("10.9.0.0/20").value();
  cfg.unit_length = 32;
  constexpr int kThreads = 2;  // one at member 1, one at member 2
  std::vector<std::atomic<int>> holder(1 << 12);
  std::vector<std::atomic<bool>> in_flight(kThreads);
  HolderStore store;
  store.holder = &holder;
  store.in_flight = &in_flight;
  testing::LoopbackOptions lo;
  lo.plan = plan_of(1, 1, 1, 0);
  lo.pools = {cfg};
  lo.first_nonce = 300;
  lo.tune = [&store](MemberOptions& o) {
    o.lease = 60;
    o.heartbeat = 1;
    o.retransmit = 5;
    o.store = &store;
    o.audit_grace = 5;
    o.release_repeat_window = 2'000;
  };
  auto created = testing::LoopbackSet::create(lo);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  testing::LoopbackSet& set = *created.value();
  std::vector<Member::Worker*> workers = {set.member(1)->create_worker(), set.member(2)->create_worker()};

  std::atomic<bool> stop{false};
  std::atomic<int> violations{0};
  std::atomic<std::uint64_t> allocations{0};
  std::uint64_t epochs = 1;
  std::thread message([&] {
    std::uint64_t now = 0;
    const std::uint32_t weights[][3] = {{1, 1, 1}, {1, 0, 2}, {2, 1, 0}, {1, 1, 1}, {0, 1, 1}, {1, 1, 0}};
    while (!stop.load(std::memory_order_relaxed)) {
      set.pump(++now);
      if (now % 500 != 0) continue;
      bool settled = true;
      for (std::uint32_t id : set.ids()) settled = settled && set.member(id)->settled();
      if (!settled) continue;
      const auto* w = weights[(epochs - 1) % 6];
      const auto next = plan_of(++epochs, w[0], w[1], w[2]);
      for (std::uint32_t id : set.ids())
        if (!set.member(id)->set_membership(next).ok()) violations.fetch_add(1);
    }
  });
  std::vector<std::thread> hot;
  for (int t = 0; t < kThreads; ++t) {
    hot.emplace_back([&, t] {
      Member* const m = set.member(static_cast<std::uint32_t>(t) + 1);
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 7);
      std::vector<Lease> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        if (mine.size() < 300 && rng() % 2 == 0) {
          in_flight[t].store(true);
          const MemberAllocation a = m->allocate(*workers[t], 0);
          if (a.ok()) {
            allocations.fetch_add(1, std::memory_order_relaxed);
            int expect = 0;
            if (!holder[a.lease.unit].compare_exchange_strong(expect, t + 1)) violations.fetch_add(1);
            mine.push_back(a.lease);
          }
          in_flight[t].store(false);
        } else if (!mine.empty()) {
          const std::size_t k = rng() % mine.size();
          holder[mine[k].unit].store(0);
          m->release(*workers[t], mine[k]);
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (const Lease& l : mine) {
        holder[l.unit].store(0);
        m->release(*workers[t], l);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds()));
  stop.store(true);
  for (auto& th : hot) th.join();
  message.join();
  // Quiet: every member settles, a last audit frees what a release racing
  // an epoch mark left in use, the repeat window ends.
  std::uint64_t now = 1'000'000;
  for (; now < 1'002'000; ++now) set.pump(now);
  for (std::uint32_t id : set.ids()) {
    EXPECT_TRUE(set.member(id)->settled()) << "member " << id << ": " << set.member(id)->view().epoch_wait;
    ASSERT_TRUE(set.member(id)->audit_now().ok());
  }
  for (; now < 1'010'000; ++now) set.pump(now);
  EXPECT_EQ(violations.load(), 0);
  EXPECT_GT(allocations.load(), 100u);
  EXPECT_GT(epochs, 2u) << "the membership never changed";
  std::uint64_t still = 0, moved = 0;
  for (std::uint32_t id : set.ids()) {
    moved += set.member(id)->counters().blocks_moved;
    for (std::uint64_t u = 0; u < (1 << 12); ++u)
      still += set.member(id)->plan().owner(0, u) == id && set.member(id)->in_use(0, u) ? 1 : 0;
  }
  EXPECT_EQ(still, 0u) << "units in use after every lease was released and the audits ran";
  EXPECT_GT(moved, 0u);
  std::printf("epochs %llu, blocks moved %llu, allocations %llu\n", static_cast<unsigned long long>(epochs),
              static_cast<unsigned long long>(moved), static_cast<unsigned long long>(allocations.load()));
}

}  // namespace
}  // namespace uepool::set
