// Re-division: a join, a leave and a weight change move blocks between
// members while sessions hold units in them; no unit is handed out twice,
// every held unit stays in use at its owner in the new epoch, releases of
// moved units reach the new owner, and a taking waits for the previous
// owner's handover. A lossless in-test network (testing::LoopbackSet); the
// simulator drives re-division under faults.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "uepool/testing/loopback_set.hpp"

namespace uepool::set {
namespace {

core::PoolConfig pool() {
  core::PoolConfig c;
  c.name = "v4";
  c.prefix = net::Prefix::parse("10.8.0.0/18").value();  // 16,384 units: 256 blocks of 64
  c.unit_length = 32;
  return c;
}

std::shared_ptr<const Plan> plan(std::uint64_t epoch, const std::vector<std::uint32_t>& weights) {
  std::vector<MemberSpec> specs;
  for (std::uint32_t i = 1; i <= weights.size(); ++i) specs.push_back({i, weights[i - 1]});
  std::vector<PoolSpec> pools = {{"v4", 16384, 64}};
  return std::make_shared<const Plan>(Plan::create(epoch, specs, pools).value());
}

struct Set {
  std::unique_ptr<testing::LoopbackSet> set;
  std::uint64_t now = 0;
  std::map<std::uint64_t, Lease> held;  // unit -> lease of the session holding it

  // tune — each member's options (by default, a lease longer than any test).
  explicit Set(
      std::shared_ptr<const Plan> first, std::function<void(MemberOptions&)> tune = [](MemberOptions& o) {
        o.lease = 100'000;
        o.window_units = 64;
      }) {
    testing::LoopbackOptions lo;
    lo.plan = std::move(first);
    lo.pools = {pool()};
    lo.tune = std::move(tune);
    auto created = testing::LoopbackSet::create(lo);
    EXPECT_TRUE(created.ok()) << created.status().to_string();
    set = std::move(created.value());
  }
  Member* m(std::uint32_t id) const { return set->member(id); }
  void step(int n = 1) {
    for (int k = 0; k < n; ++k) set->pump(++now);
  }
  // allocate — n sessions at member `id`; every unit must be new.
  void allocate(std::uint32_t id, int n) {
    for (int k = 0; k < n; ++k) {
      MemberAllocation a = m(id)->allocate(*set->worker(id), 0);
      for (int tries = 0; !a.ok() && tries < 50; ++tries) {
        step();
        a = m(id)->allocate(*set->worker(id), 0);
      }
      ASSERT_TRUE(a.ok()) << "member " << id << ": " << member_status_name(a.status);
      ASSERT_TRUE(held.emplace(a.lease.unit, a.lease).second) << "unit " << a.lease.unit << " handed out twice";
      ASSERT_EQ(m(id)->plan().owner(0, a.lease.unit), id);
    }
  }
  void give(const std::shared_ptr<const Plan>& p) {
    for (std::uint32_t id : set->ids()) ASSERT_TRUE(m(id)->set_membership(p).ok());
  }
  bool settled() const {
    for (std::uint32_t id : set->ids())
      if (!m(id)->settled()) return false;
    return true;
  }
  // every held unit is in use at its owner in that owner's epoch
  void expect_held_in_use() const {
    for (const auto& [unit, lease] : held) {
      const std::uint32_t owner = m(1)->plan().owner(0, unit);
      EXPECT_TRUE(m(owner)->in_use(0, unit)) << "unit " << unit << " held, free at its owner " << owner;
    }
  }
};

// A standby member (weight 0) joins: it takes about its share of the
// blocks, the units sessions hold there stay in use, and it allocates.
TEST(Redivision, AJoinMovesAboutItsShareAndKeepsEverySession) {
  const auto one = plan(1, {1, 1, 1, 0});
  const auto two = plan(2, {1, 1, 1, 1});
  Set s(one);
  s.step(10);
  EXPECT_EQ(s.m(4)->view().pools[0].owned_units, 0u);
  for (std::uint32_t id = 1; id <= 3; ++id) s.allocate(id, 1500);
  EXPECT_EQ(s.m(4)->allocate(*s.set->worker(4), 0).status, MemberStatus::kNoneFree);  // owns nothing
  s.give(two);
  for (int k = 0; k < 200 && !s.settled(); ++k) s.step();
  ASSERT_TRUE(s.settled()) << s.m(4)->view().epoch_wait;
  // The plan decides what moves: exactly the blocks member 4 now owns, all
  // taken by it, about a quarter of 256 (a binomial draw: 64 +- 7).
  const std::uint64_t moved = two->units_of(0, 4) / 64;
  EXPECT_EQ(s.m(4)->counters().blocks_moved, moved);
  EXPECT_GT(moved, 64u - 24u);
  EXPECT_LT(moved, 64u + 24u);
  std::uint64_t lost = 0, units = 0;
  for (std::uint32_t id = 1; id <= 4; ++id) {
    EXPECT_EQ(s.m(id)->epoch(), 2u);
    lost += s.m(id)->counters().blocks_lost;
  }
  EXPECT_EQ(lost, moved);  // nothing moved between the others
  for (const auto& [unit, lease] : s.held) units += two->owner(0, unit) == 4 ? 1 : 0;
  EXPECT_EQ(s.m(4)->counters().units_handed_over, units);
  EXPECT_GT(units, 0u);
  s.expect_held_in_use();
  // Everyone allocates on, member 4 too; nothing is handed out twice.
  for (std::uint32_t id = 1; id <= 4; ++id) s.allocate(id, 300);
  s.expect_held_in_use();
}

// A release of a moved unit, at any member, reaches the new owner and frees it there.
TEST(Redivision, ReleasesOfMovedUnitsReachTheNewOwner) {
  Set s(plan(1, {1, 1, 0}));
  s.step(10);
  s.allocate(1, 400);
  s.allocate(2, 400);
  s.give(plan(2, {1, 1, 1}));
  for (int k = 0; k < 200 && !s.settled(); ++k) s.step();
  ASSERT_TRUE(s.settled());
  int released = 0;
  for (auto it = s.held.begin(); it != s.held.end();) {
    if (s.m(1)->plan().owner(0, it->first) != 3) {
      ++it;
      continue;
    }
    const std::uint32_t at = 1 + static_cast<std::uint32_t>(released % 3);  // at the old owner, another, the new
    s.m(at)->release(*s.set->worker(at), it->second);
    ++released;
    it = s.held.erase(it);
  }
  ASSERT_GT(released, 10);
  s.step(20);
  EXPECT_EQ(s.m(3)->counters().releases_deferred, 0u) << "no session store: nothing waits for a read";
  for (std::uint64_t u = 0; u < 16384; ++u) {
    // Free, or waiting out the repeat window (its serial wrapped at the taking).
    if (s.m(1)->plan().owner(0, u) == 3 && !s.held.count(u)) {
      EXPECT_TRUE(!s.m(3)->in_use(0, u) || s.m(3)->held_down(0, u))
          << "unit " << u << " released, still in use at the new owner";
    }
  }
  const MemberCounters& c3 = s.m(3)->counters();
  EXPECT_EQ(c3.stale_releases, 0u);
  EXPECT_EQ(c3.double_releases, 0u);
  EXPECT_EQ(c3.releases_dropped_full + c3.releases_dropped_gone, 0u);
  s.expect_held_in_use();
}

// A member leaves (weight 0): every block goes, it hands out nothing more,
// and what its sessions hold stays in use at the new owners.
TEST(Redivision, ALeaveHandsEveryBlockOver) {
  Set s(plan(1, {1, 1, 1}));
  s.step(10);
  for (std::uint32_t id = 1; id <= 3; ++id) s.allocate(id, 500);
  s.give(plan(2, {1, 1, 0}));
  for (int k = 0; k < 200 && !s.settled(); ++k) s.step();
  ASSERT_TRUE(s.settled());
  EXPECT_EQ(s.m(3)->view().pools[0].owned_units, 0u);
  EXPECT_EQ(s.m(3)->open_windows(), 0u);
  EXPECT_EQ(s.m(3)->allocate(*s.set->worker(3), 0).status, MemberStatus::kNoneFree);
  EXPECT_EQ(s.m(1)->counters().blocks_moved + s.m(2)->counters().blocks_moved, s.m(3)->counters().blocks_lost);
  s.expect_held_in_use();
  s.allocate(1, 200);
  s.allocate(2, 200);
}

// The taker waits for the previous owner's handover: while that owner is
// cut off, its blocks stay pending (no window there), then move.
TEST(Redivision, ATakingWaitsForThePreviousOwnersHandover) {
  Set s(plan(1, {1, 1, 1, 0}));
  s.step(10);
  for (std::uint32_t id = 1; id <= 3; ++id) s.allocate(id, 300);
  s.set->down().insert(2);
  s.give(plan(2, {1, 1, 1, 1}));
  s.step(100);
  const MemberView v = s.m(4)->view();
  EXPECT_GT(v.pending_blocks, 0u);  // member 2's blocks: no handover from it yet
  EXPECT_EQ(s.m(2)->epoch(), 2u);   // it moved (its mark is streamed) but nobody acknowledged it
  for (const MemberView::Window& w : v.windows)
    EXPECT_NE(plan(1, {1, 1, 1, 0})->owner(0, w.begin), 2u) << "a window in a block not taken yet";
  s.set->down().clear();
  for (int k = 0; k < 200 && !s.settled(); ++k) s.step();
  ASSERT_TRUE(s.settled()) << s.m(4)->view().epoch_wait;
  s.expect_held_in_use();
  s.allocate(4, 300);
}

// Epochs are applied in order: given epoch 3 while 2 is known, a member
// passes through 2; a member restarted after the change recovers its epoch.
TEST(Redivision, EpochsInOrderAndARestartKeepsTheEpoch) {
  Set s(plan(1, {1, 1, 1, 0}));
  s.step(10);
  for (std::uint32_t id = 1; id <= 3; ++id) s.allocate(id, 300);
  const auto two = plan(2, {1, 1, 1, 1});
  const auto three = plan(3, {2, 1, 0, 1});
  s.give(two);
  s.give(three);
  for (int k = 0; k < 400 && !s.settled(); ++k) s.step();
  ASSERT_TRUE(s.settled());
  for (std::uint32_t id = 1; id <= 4; ++id) {
    EXPECT_EQ(s.m(id)->epoch(), 3u);
    EXPECT_EQ(s.m(id)->counters().transitions, 2u);
  }
  s.expect_held_in_use();
  s.set->crash(4);
  ASSERT_TRUE(s.set->start(4, false).ok());  // its options name epoch 1: the replicas know better
  for (int k = 0; k < 400 && !(s.m(4)->ready() && s.settled()); ++k) s.step();
  ASSERT_TRUE(s.m(4)->ready()) << s.m(4)->not_ready_reason();
  EXPECT_EQ(s.m(4)->epoch(), 3u);
  s.expect_held_in_use();
  s.allocate(4, 200);
  s.allocate(1, 200);
}

}  // namespace
}  // namespace uepool::set

namespace uepool::set {
namespace {

// Store — the sessions the test holds, as a session store (the audit reads it).
struct Store final : SessionStore {
  const std::map<std::uint64_t, Lease>* held = nullptr;
  bool read_held(std::uint32_t owner, const Plan& plan, std::vector<Lease>& out) override {
    for (const auto& [unit, lease] : *held)
      if (plan.owner(0, unit) == owner) out.push_back(lease);
    return true;
  }
};

// Churn goes on through a join: sessions end at any member, before, during
// and after the taking. Nothing leaks: the final audit frees nothing.
TEST(Redivision, ChurnThroughAJoinLeaksNothing) {
  Store store;
  testing::LoopbackOptions lo;
  lo.plan = plan(1, {1, 1, 1, 0});
  lo.pools = {pool()};
  lo.tune = [&store](MemberOptions& o) {
    o.lease = 200;
    o.window_units = 64;
    o.store = &store;
    o.audit_grace = 5;
    o.stream_interval = 7;
  };
  auto created = testing::LoopbackSet::create(lo);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<testing::LoopbackSet> set = std::move(created.value());
  std::map<std::uint64_t, Lease> held;
  store.held = &held;
  std::uint64_t now = 0, x = 12345;
  auto rnd = [&x](std::uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % n;
  };
  std::vector<std::uint32_t> serving = {1, 2, 3};
  for (int step = 0; step < 3000; ++step) {
    set->pump(++now);
    if (step == 1000) {
      for (std::uint32_t id : set->ids()) ASSERT_TRUE(set->member(id)->set_membership(plan(2, {1, 1, 1, 1})).ok());
      serving.push_back(4);
    }
    for (int k = 0; k < 4; ++k) {
      if (held.size() < 2000 && rnd(2) == 0) {
        const std::uint32_t id = serving[rnd(serving.size())];
        const MemberAllocation a = set->member(id)->allocate(*set->worker(id), 0);
        if (a.ok()) {
          ASSERT_TRUE(held.emplace(a.lease.unit, a.lease).second) << "unit handed out twice";
        }
      } else if (!held.empty()) {
        auto it = held.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rnd(held.size())));
        const auto at = static_cast<std::uint32_t>(1 + rnd(4));
        set->member(at)->release(*set->worker(at), it->second);
        held.erase(it);
      }
    }
  }
  for (int step = 0; step < 1000; ++step) set->pump(++now);
  for (std::uint32_t id : set->ids()) ASSERT_TRUE(set->member(id)->audit_now().ok());
  for (int step = 0; step < 3000; ++step) set->pump(++now);
  for (std::uint32_t id : set->ids()) {
    const MemberCounters& c = set->member(id)->counters();
    EXPECT_TRUE(set->member(id)->settled());
    EXPECT_GE(c.audits, 1u);
    EXPECT_EQ(c.audit_freed, 0u) << "member " << id << " leaked (handed over " << c.units_handed_over << "; deferred "
                                 << c.releases_deferred << ", applied " << c.releases_applied << ", received "
                                 << c.releases_received << ", parked " << c.requests_parked << ", double "
                                 << c.double_releases << ", gone " << c.releases_dropped_gone << ")";
    EXPECT_EQ(c.stale_releases, 0u) << id;
  }
}

}  // namespace
}  // namespace uepool::set

namespace uepool::set {
namespace {

// Regression (simulator, liveness seed 777000048): a block lost and gained
// back before the member it went to took it. Member 2 (a standby) joins at
// epoch 2 and leaves at epoch 3 while it is cut off, so it never took the
// blocks it got at 2; member 1 hands them over at 2, gains them back at 3,
// and restarts. Member 2 comes back, goes through epoch 2 (takes the blocks
// from member 1's copy) and 3 (hands them back). Member 1's frozen copy
// must survive its gain and its restart: the sessions' units there stay in
// use all the way round.
TEST(Redivision, ABlockGainedBackBeforeItsTakerTookItKeepsItsCopy) {
  Set s(plan(1, {1, 0, 1}));
  s.step(10);
  s.allocate(1, 800);
  s.allocate(3, 800);
  s.set->down().insert(2);
  for (std::uint32_t id : {1u, 3u}) {
    ASSERT_TRUE(s.m(id)->set_membership(plan(2, {1, 1, 1})).ok());
    ASSERT_TRUE(s.m(id)->set_membership(plan(3, {1, 0, 1})).ok());
  }
  s.step(200);
  ASSERT_EQ(s.m(1)->epoch(), 3u) << s.m(1)->view().epoch_wait;
  const MemberView v = s.m(1)->view();
  ASSERT_GT(v.pending_blocks, 0u) << "member 1 gained back nothing";
  s.set->crash(1);
  ASSERT_TRUE(s.set->start(1, false).ok());
  s.set->down().clear();
  for (int k = 0; k < 2000 && !(s.m(1)->ready() && s.settled()); ++k) s.step();
  ASSERT_TRUE(s.m(1)->ready()) << s.m(1)->not_ready_reason();
  ASSERT_TRUE(s.settled()) << s.m(2)->view().epoch_wait << " / " << s.m(1)->view().epoch_wait;
  EXPECT_EQ(s.m(2)->epoch(), 3u);
  EXPECT_GT(s.m(2)->counters().blocks_moved, 0u);  // it took them (at epoch 2) and handed them back
  EXPECT_GT(s.m(2)->counters().units_handed_over, 0u) << "member 2 took the blocks with no unit in use";
  std::printf("member 2: blocks moved %llu, units handed over %llu; member 1: transitions %llu\n",
              static_cast<unsigned long long>(s.m(2)->counters().blocks_moved),
              static_cast<unsigned long long>(s.m(2)->counters().units_handed_over),
              static_cast<unsigned long long>(s.m(1)->counters().transitions));
  s.expect_held_in_use();
  s.allocate(1, 300);
  s.allocate(3, 300);
}

}  // namespace
}  // namespace uepool::set

namespace uepool::set {
namespace {

// H5: a member gone for good. The operator retires it in the next epoch
// (weight 0, MemberSpec::retired); its blocks are taken from the session
// store, since no handover will ever come.
std::shared_ptr<const Plan> retiring(std::uint64_t epoch, std::uint32_t gone, std::uint32_t members) {
  std::vector<MemberSpec> specs;
  for (std::uint32_t i = 1; i <= members; ++i) specs.push_back({i, i == gone ? 0u : 1u, i == gone});
  std::vector<PoolSpec> pools = {{"v4", 16384, 64}};
  return std::make_shared<const Plan>(Plan::create(epoch, specs, pools).value());
}

// LagStore — the sessions the test holds; those in `unstored` are not in
// the store yet (the SMF stores a session a while after it allocated).
struct LagStore final : SessionStore {
  std::map<std::uint64_t, Lease> held;
  std::set<std::uint64_t> unstored;
  bool read_held(std::uint32_t owner, const Plan& plan, std::vector<Lease>& out) override {
    for (const auto& [unit, lease] : held)
      if (plan.owner(0, unit) == owner && unstored.count(unit) == 0) out.push_back(lease);
    return true;
  }
};

struct RetireRun {
  LagStore store;
  std::set<std::uint64_t> ended_unheard;  // ended after member 3 died: their releases never reached it
  std::set<std::uint64_t> late;           // allocated by member 3 just before it died, stored after
  std::shared_ptr<const Plan> one = plan(1, {1, 1, 1, 1});
  std::shared_ptr<const Plan> two = retiring(2, 3, 4);
  Set s;

  explicit RetireRun(bool rule_on)
      : s(one, [this, rule_on](MemberOptions& o) {
          o.lease = 200;
          o.window_units = 64;
          o.store = &store;
          o.audit_grace = 30;
          o.rules.retired_take_waits = rule_on;
        }) {}
  Member* m(std::uint32_t id) const { return s.m(id); }
  testing::LoopbackSet& set() const { return *s.set; }
  void step(int n = 1) { s.step(n); }
  bool allocate(std::uint32_t id, bool stored = true) {
    MemberAllocation a = m(id)->allocate(*set().worker(id), 0);
    for (int tries = 0; !a.ok() && tries < 50; ++tries) {
      step();
      a = m(id)->allocate(*set().worker(id), 0);
    }
    EXPECT_TRUE(a.ok()) << "member " << id << ": " << member_status_name(a.status);
    if (!a.ok()) return false;
    EXPECT_TRUE(store.held.emplace(a.lease.unit, a.lease).second) << "unit " << a.lease.unit << " handed out twice";
    if (!stored) store.unstored.insert(a.lease.unit);
    return true;
  }
  // Up to member 3's death and the retiring epoch reaching the others.
  void retire_member_3() {
    step(10);
    for (std::uint32_t id = 1; id <= 4; ++id)
      for (int k = 0; k < 300; ++k) ASSERT_TRUE(allocate(id));
    int ended = 0;
    for (auto it = store.held.begin(); it != store.held.end() && ended < 50;) {
      if (one->owner(0, it->first) != 3) {
        ++it;
        continue;
      }
      m(3)->release(*set().worker(3), it->second);  // ended while member 3 ran
      it = store.held.erase(it);
      ++ended;
    }
    step(20);
    for (int k = 0; k < 20; ++k) ASSERT_TRUE(allocate(3, /*stored=*/false));
    late = store.unstored;
    step();
    set().crash(3);  // for good
    ended = 0;
    for (auto it = store.held.begin(); it != store.held.end() && ended < 30;) {
      if (one->owner(0, it->first) != 3 || late.count(it->first) != 0) {
        ++it;
        continue;
      }
      m(1)->release(*set().worker(1), it->second);  // forwarded to member 3: lost
      ended_unheard.insert(it->first);
      it = store.held.erase(it);
      ++ended;
    }
    for (std::uint32_t id : {1u, 2u, 4u}) ASSERT_TRUE(m(id)->set_membership(two).ok());
  }
  bool settled() const {
    for (std::uint32_t id : {1u, 2u, 4u})
      if (!m(id)->settled()) return false;
    return true;
  }
  std::uint64_t taken_from_store() const {
    std::uint64_t n = 0;
    for (std::uint32_t id : {1u, 2u, 4u}) n += m(id)->counters().blocks_taken_retired;
    return n;
  }
};

TEST(Redivision, ARetiredMembersBlocksAreTakenFromTheSessionStore) {
  RetireRun r(/*rule_on=*/true);
  r.retire_member_3();
  r.step(20);
  // Its last sessions are not stored yet: nothing is taken before they can be.
  EXPECT_EQ(r.taken_from_store(), 0u);
  EXPECT_NE(std::string(r.m(1)->view().epoch_wait).find("session store"), std::string::npos)
      << r.m(1)->view().epoch_wait;
  r.store.unstored.clear();  // the SMF stored them (within audit_grace)
  for (int k = 0; k < 2000 && !r.settled(); ++k) r.step();
  ASSERT_TRUE(r.settled()) << r.m(1)->view().epoch_wait;
  // Every block member 3 owned is taken, by the store, and nothing else moved.
  const std::uint64_t blocks3 = r.one->units_of(0, 3) / 64;
  ASSERT_GT(blocks3, 0u);
  EXPECT_EQ(r.taken_from_store(), blocks3);
  std::uint64_t moved = 0;
  for (std::uint32_t id : {1u, 2u, 4u}) moved += r.m(id)->counters().blocks_moved;
  EXPECT_EQ(moved, blocks3);
  // Every session's unit is in use at its new owner, the late ones too; a
  // session that ended while member 3 was down is not (free, or held down).
  for (const auto& [unit, lease] : r.store.held) {
    const std::uint32_t owner = r.two->owner(0, unit);
    ASSERT_NE(owner, 3u);
    EXPECT_TRUE(r.m(owner)->in_use(0, unit)) << "unit " << unit << " held, free at its owner " << owner;
  }
  for (std::uint64_t unit : r.ended_unheard) {
    const std::uint32_t owner = r.two->owner(0, unit);
    EXPECT_TRUE(!r.m(owner)->in_use(0, unit) || r.m(owner)->held_down(0, unit)) << "unit " << unit << " leaked";
  }
  // Everyone allocates on: nothing is handed out twice.
  for (std::uint32_t id : {1u, 2u, 4u})
    for (int k = 0; k < 1000; ++k) ASSERT_TRUE(r.allocate(id));
}

// Rules::retired_take_waits off: the block is taken at once, before the
// retired member's last sessions are stored, and a unit one of them holds
// is free at its new owner.
TEST(Redivision, ARetiredMembersBlockTakenBeforeItsLastSessionsAreStoredFreesThem) {
  RetireRun r(/*rule_on=*/false);
  r.retire_member_3();
  r.step(5);
  EXPECT_GT(r.taken_from_store(), 0u);
  int free_held = 0;
  for (std::uint64_t unit : r.late) {
    const std::uint32_t owner = r.two->owner(0, unit);
    if (owner != 3 && !r.m(owner)->in_use(0, unit)) ++free_held;
  }
  EXPECT_GT(free_held, 0) << "a session's unit free at its new owner";
}

// A retired member is fenced: the others drop its frames, and one that is
// started again (against the operator's word) learns it is retired and stops.
TEST(Redivision, ARetiredMemberIsFencedAndStops) {
  RetireRun r(/*rule_on=*/true);
  r.retire_member_3();
  r.store.unstored.clear();
  for (int k = 0; k < 2000 && !r.settled(); ++k) r.step();
  ASSERT_TRUE(r.settled());
  ASSERT_TRUE(r.set().start(3, /*fresh=*/false).ok());  // its configuration still says epoch 1
  r.step(300);
  EXPECT_FALSE(r.m(3)->ready());
  std::uint64_t dropped = 0;
  for (std::uint32_t id : {1u, 2u, 4u}) dropped += r.m(id)->counters().retired_frames;
  EXPECT_GT(dropped, 0u);
  ASSERT_TRUE(r.m(3)->set_membership(r.two).ok());
  r.step();
  EXPECT_EQ(r.m(3)->phase(), MemberPhase::kRetired);
  EXPECT_EQ(r.m(3)->allocate(*r.set().worker(3), 0).status, MemberStatus::kNotReady);
  // The set runs on without it.
  for (std::uint32_t id : {1u, 2u, 4u})
    for (int k = 0; k < 200; ++k) ASSERT_TRUE(r.allocate(id));
}

// Retired is for good, and a set keeps A peers that run for every member.
TEST(Redivision, RetiringIsForGoodAndKeepsAQuorum) {
  RetireRun r(/*rule_on=*/true);
  r.step(5);
  ASSERT_TRUE(r.m(1)->set_membership(r.two).ok());
  const Status back = r.m(1)->set_membership(plan(3, {1, 1, 1, 1}));
  EXPECT_FALSE(back.ok());
  EXPECT_NE(std::string(back.reason()).find("brings back a retired member"), std::string::npos) << back.reason();
  std::vector<MemberSpec> specs = {{1, 1}, {2, 0, true}, {3, 0, true}, {4, 1}};
  std::vector<PoolSpec> pools = {{"v4", 16384, 64}};
  const Status many = r.m(1)->set_membership(std::make_shared<const Plan>(Plan::create(3, specs, pools).value()));
  EXPECT_FALSE(many.ok());
  EXPECT_NE(std::string(many.reason()).find("retires too many members"), std::string::npos) << many.reason();
  EXPECT_EQ(r.m(1)->counters().refused_plans, 2u);
}

}  // namespace
}  // namespace uepool::set
