// The four counterexamples of shared/research/protocol-model.md, scripted on
// the simulator: each must produce a violation with its rule switched off,
// and none with every rule on.
#include <gtest/gtest.h>

#include "uepool/set/detail/unit_serials.hpp"
#include "uepool/sim/simulator.hpp"

namespace uepool::sim {
namespace {

using set::detail::Rules;

// The member owning the most units of pool 0, and two others.
struct Cast {
  std::uint32_t owner = 0;
  std::vector<std::uint32_t> peers;
};
Cast cast(const Simulator& sim, std::uint32_t members) {
  Cast c;
  std::uint64_t best = 0;
  for (std::uint32_t m = 1; m <= members; ++m) {
    if (sim.plan().units_of(0, m) > best) {
      best = sim.plan().units_of(0, m);
      c.owner = m;
    }
  }
  for (std::uint32_t m = 1; m <= members; ++m)
    if (m != c.owner) c.peers.push_back(m);
  return c;
}

// allocate — one session at `m`, running steps while the member reserves windows.
std::optional<Simulator::SessionId> allocate(Simulator& sim, std::uint32_t m, int patience = 200) {
  for (int i = 0; i < patience && !sim.failed(); ++i) {
    if (auto s = sim.create_session(m, 0)) return s;
    sim.run_steps(1);
  }
  return std::nullopt;
}

// run_until_ready — step until member `m` is ready (or a check failed), at most `limit` steps.
void run_until_ready(Simulator& sim, std::uint32_t m, int limit) {
  for (int i = 0; i < limit && !sim.failed() && !sim.member(m)->ready(); ++i) sim.run_steps(1);
}

// try_to_conflict — allocate up to n sessions at `m` (the recovered owner).
void try_to_conflict(Simulator& sim, std::uint32_t m, int n) {
  for (int i = 0; i < n && !sim.failed(); ++i)
    if (!allocate(sim, m, 20)) break;
}

SimParams params(std::uint32_t members, std::uint64_t hold_down = 0) {
  SimParams p = SimParams::quiet(members, {{false, 10, 64}});
  p.windows_ahead = 1;
  p.hold_down = hold_down;
  return p;
}

// 1. The owner counted itself toward the quorum (3 members: p = 2, A = 1, R = 2):
// the restarted owner took its own empty state as one of the R answers
// (Rules::peers_only_answers). The ack side of the same habit
// (Rules::peers_only_quorum) is caught by the random sweep below.
void owner_counts_itself(Simulator& sim) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p1 = c.peers[0], p2 = c.peers[1];
  sim.run_steps(30);  // bulk copies everywhere; the first window acknowledged by both peers
  sim.block(o, p2);   // from now on only P1 hears O
  auto first = allocate(sim, o);
  ASSERT_TRUE(first.has_value());
  const std::uint64_t first_window = sim.lease_of(*first)->tag.window;
  // Fill the window P2 knows; the next one is acknowledged by P1 alone.
  while (!sim.failed()) {
    auto s = allocate(sim, o);
    ASSERT_TRUE(s.has_value());
    if (sim.lease_of(*s)->tag.window != first_window) break;
  }
  sim.run_steps(5);
  sim.crash(o);
  sim.unblock(o, p2);
  sim.block(o, p1);  // O' hears only P2, whose replica lacks the last window
  sim.restart(o);
  sim.run_steps(200);
  try_to_conflict(sim, o, 200);
}

TEST(Counterexample, OwnerCountsItself) {
  Rules broken;
  broken.peers_only_answers = false;
  Simulator bad(params(3), broken);
  owner_counts_itself(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(3));
  owner_counts_itself(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  ASSERT_NE(good.member(cast(good, 3).owner), nullptr);
  EXPECT_FALSE(good.member(cast(good, 3).owner)->ready());  // R = 2: it waits for P1
  good.heal();
  good.run_steps(200);
  EXPECT_TRUE(good.member(cast(good, 3).owner)->ready());
  try_to_conflict(good, cast(good, 3).owner, 200);
  EXPECT_FALSE(good.failed()) << good.failure();
}

// 2. A restarted peer's empty replica counted (2 members: A = R = 1).
void restarted_peer_votes(Simulator& sim) {
  const Cast c = cast(sim, 2);
  const std::uint32_t o = c.owner, p1 = c.peers[0];
  sim.run_steps(30);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(allocate(sim, o).has_value());
  sim.run_steps(20);  // P1's replica shows them
  sim.crash(p1);
  sim.block(o, p1);
  sim.restart(p1);  // P1' has no replica of O, and O cannot send it one
  sim.run_steps(20);
  sim.crash(o);
  sim.lose_disk(o);  // without its saved generation, O' cannot tell P1's empty replica is older than O
  sim.unblock(o, p1);
  sim.restart(o);
  sim.run_steps(300);
  try_to_conflict(sim, o, 100);
}

TEST(Counterexample, RestartedPeerVotes) {
  Rules broken;
  broken.complete_replica_votes = false;
  Simulator bad(params(2), broken);
  restarted_peer_votes(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(2));
  restarted_peer_votes(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  // Neither holds a complete replica of the other: no quorum can ever
  // answer, so both rebuild from the session store. Each waits until its
  // peer fenced its older incarnations and a lease has passed, and says so.
  for (std::uint32_t m = 1; m <= 2; ++m) {
    ASSERT_NE(good.member(m), nullptr);
    EXPECT_FALSE(good.member(m)->ready());
    EXPECT_NE(std::string(good.member(m)->not_ready_reason()).find("rebuilding from the session store"),
              std::string::npos)
        << good.member(m)->not_ready_reason();
  }
  good.run_steps(params(2).lease + 200);
  for (std::uint32_t m = 1; m <= 2; ++m) {
    EXPECT_TRUE(good.member(m)->ready()) << good.member(m)->not_ready_reason();
    EXPECT_EQ(good.member(m)->counters().rebuilds, 1U);
  }
  try_to_conflict(good, cast(good, 2).owner, 100);  // the five sessions' units are in use again
  EXPECT_FALSE(good.failed()) << good.failure();
  good.liveness_check();  // every member ready, nothing leaked
  EXPECT_FALSE(good.failed()) << good.failure();
}

// 3. "Unconfirmed" read as "never allocated" (2 members).
void unconfirmed_read_as_free(Simulator& sim) {
  const Cast c = cast(sim, 2);
  const std::uint32_t o = c.owner;
  sim.run_steps(30);
  // Allocate all but one unit of the first window.
  std::vector<Simulator::SessionId> held;
  auto first = allocate(sim, o);
  ASSERT_TRUE(first.has_value());
  held.push_back(*first);
  const auto tag = sim.lease_of(*first)->tag;
  const std::uint64_t begin = sim.lease_of(*first)->unit / 64 * 64;
  std::uint64_t usable = 0;
  for (std::uint64_t u = begin; u < begin + 64; ++u) usable += (u == 0) ? 0 : 1;  // IPv4 pools exclude unit 0
  while (held.size() + 1 < usable) {
    auto s = sim.create_session(o, 0);
    ASSERT_TRUE(s.has_value());
    ASSERT_EQ(sim.lease_of(*s)->tag, tag);
    held.push_back(*s);
  }
  sim.run_steps(10);
  // Free one (P1 sees the free), then allocate the last unit and the freed one again.
  sim.end_session(held[3], o);
  sim.run_steps(10);
  auto last = sim.create_session(o, 0);
  auto again = sim.create_session(o, 0);
  ASSERT_TRUE(last.has_value() && again.has_value());
  ASSERT_EQ(sim.lease_of(*again)->tag, tag);
  sim.crash(o);  // before either allocation was streamed
  sim.restart(o);
  sim.run_steps(100);
  try_to_conflict(sim, o, 100);
}

TEST(Counterexample, UnconfirmedReadAsFree) {
  Rules broken;
  broken.quarantine_open_windows = false;
  Simulator bad(params(2), broken);
  unconfirmed_read_as_free(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(2));
  unconfirmed_read_as_free(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  const std::uint32_t o = cast(good, 2).owner;
  ASSERT_NE(good.member(o), nullptr);
  EXPECT_TRUE(good.member(o)->ready());
  EXPECT_GT(good.member(o)->counters().quarantined, 0u);
}

// 4. Hold-down lost across recovery (2 members, hold-down 1,000 steps).
void hold_down_lost(Simulator& sim) {
  const Cast c = cast(sim, 2);
  const std::uint32_t o = c.owner;
  sim.run_steps(30);
  auto first = allocate(sim, o);
  ASSERT_TRUE(first.has_value());
  const auto tag = sim.lease_of(*first)->tag;
  std::vector<Simulator::SessionId> held = {*first};
  // Fill the first window, so that it closes (no quarantine for it).
  while (true) {
    auto s = allocate(sim, o);
    ASSERT_TRUE(s.has_value());
    if (!(sim.lease_of(*s)->tag == tag)) break;
    held.push_back(*s);
  }
  sim.run_steps(20);
  // A session whose release does not wrap its unit's serial (a wrapped
  // unit stays in use through the repeat window instead of a hold-down).
  std::size_t k = 5;
  while (sim.lease_of(held[k])->serial == set::detail::UnitSerials::kLast) ++k;
  sim.end_session(held[k], o);  // freed: held down at O and in P1's replica
  sim.run_steps(20);
  sim.crash(o);
  sim.restart(o);
  sim.run_steps(50);
  try_to_conflict(sim, o, 300);  // well within the hold-down
}

TEST(Counterexample, HoldDownLost) {
  Rules broken;
  broken.restore_hold_down = false;
  Simulator bad(params(2, 1'000), broken);
  hold_down_lost(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(2, 1'000));
  hold_down_lost(good);
  EXPECT_FALSE(good.failed()) << good.failure();
}

// allocate_until — allocate at `m` until unit `unit` of pool 0 is handed
// out (the sessions made on the way are kept); its session, or none.
std::optional<Simulator::SessionId> allocate_until(Simulator& sim, std::uint32_t m, std::uint64_t unit) {
  for (int i = 0; i < 2'000 && !sim.failed(); ++i) {
    auto s = allocate(sim, m, 50);
    if (!s) return std::nullopt;
    if (sim.lease_of(*s)->unit == unit) return s;
  }
  return std::nullopt;
}

// 5. A late release after the audit (3 members: p = 2, A = 1, R = 2). A
// session ends at P2 while P2 cannot reach the owner: its release waits in
// P2's channel. The owner's audit finds the unit in use with no session,
// frees it, holds it down for a lease, hands it out again; then the old
// release arrives. The audit ended that allocation (the unit's serial
// advanced): refused (Rules::stale_release_check).
void late_release_after_audit(Simulator& sim) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p2 = c.peers[1];
  sim.run_steps(30);
  auto s = allocate(sim, o);
  ASSERT_TRUE(s.has_value());
  const set::Lease l = *sim.lease_of(*s);
  sim.run_steps(20);
  sim.block(o, p2);
  sim.end_session(*s, p2);  // the release waits at P2
  ASSERT_TRUE(sim.member(o)->in_use(0, l.unit));
  ASSERT_TRUE(sim.member(o)->audit_now().ok());
  sim.run_steps(100);
  EXPECT_EQ(sim.member(o)->counters().audit_freed, 1U);
  EXPECT_TRUE(sim.member(o)->held_down(0, l.unit));
  sim.run_steps(2'100);  // the audit's hold: one lease (2,000 steps)
  EXPECT_FALSE(sim.member(o)->in_use(0, l.unit));
  auto again = allocate_until(sim, o, l.unit);
  ASSERT_TRUE(again.has_value()) << "the freed unit was never handed out again";
  sim.unblock(o, p2);
  sim.run_steps(200);  // the old release arrives
}

TEST(Counterexample, LateReleaseAfterAudit) {
  Rules broken;
  broken.stale_release_check = false;
  Simulator bad(params(3), broken);
  late_release_after_audit(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(3));
  late_release_after_audit(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  const std::uint32_t o = cast(good, 3).owner;
  EXPECT_EQ(good.member(o)->counters().stale_releases, 1U);
}

// 6. A late release after a rebuild (3 members: p = 2, A = 1, R = 2). The
// owner and P1 restart together: P1' holds no replica of O, so O' rebuilds
// from the session store. A session of O's ends at P2 after P2 learned O'
// but cannot reach it; O' reads the store (the session is gone), hands the
// unit out again; then the release arrives, naming the older incarnation's
// allocation of a unit that is no longer restored (its serial is not
// kRestored: this incarnation freed it and handed it out): refused.
void late_release_after_rebuild(Simulator& sim) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p1 = c.peers[0], p2 = c.peers[1];
  sim.run_steps(30);
  auto s = allocate(sim, o);
  ASSERT_TRUE(s.has_value());
  const set::Lease l = *sim.lease_of(*s);
  sim.run_steps(20);
  sim.crash(o);
  sim.crash(p1);
  sim.restart(p1);
  sim.restart(o);
  for (int i = 0; i < 500 && !sim.failed(); ++i) {  // until both peers addressed O' (they fence O)
    sim.run_steps(1);
    if (std::string(sim.member(o)->not_ready_reason()).find("waiting out") != std::string::npos) break;
  }
  ASSERT_NE(std::string(sim.member(o)->not_ready_reason()).find("waiting out"), std::string::npos)
      << sim.member(o)->not_ready_reason();
  sim.block(o, p2);
  sim.end_session(*s, p2);  // the release waits at P2
  sim.run_steps(2'200);     // O' waits a lease, reads the store, is ready
  ASSERT_TRUE(sim.member(o)->ready()) << sim.member(o)->not_ready_reason();
  EXPECT_EQ(sim.member(o)->counters().rebuilds, 1U);
  auto again = allocate_until(sim, o, l.unit);
  ASSERT_TRUE(again.has_value()) << "the unit was never handed out again";
  sim.unblock(o, p2);
  sim.run_steps(200);  // the old release arrives
}

TEST(Counterexample, LateReleaseAfterRebuild) {
  Rules broken;
  broken.stale_release_check = false;
  Simulator bad(params(3), broken);
  late_release_after_rebuild(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(3));
  late_release_after_rebuild(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  EXPECT_GE(good.member(cast(good, 3).owner)->counters().stale_releases, 1U);
}

}  // namespace
}  // namespace uepool::sim

namespace uepool::sim {
namespace {

// The checker fails the moment an owner frees a unit a live session holds
// (here a buggy embedding releases a lease whose session goes on): on the
// hot path (a direct release at the owner), and on the message thread (a
// release at a peer, applied by the owner a few steps later).
TEST(Checker, AWrongFreeFailsTheMomentItHappens) {
  for (const bool at_owner : {true, false}) {
    Simulator sim(params(2));
    const Cast c = cast(sim, 2);
    sim.run_steps(30);
    auto s = allocate(sim, c.owner);
    ASSERT_TRUE(s.has_value());
    while (sim.lease_of(*s)->serial == set::detail::UnitSerials::kLast) {  // its release would wrap: freed a tick later
      s = allocate(sim, c.owner);
      ASSERT_TRUE(s.has_value());
    }
    const set::Lease l = *sim.lease_of(*s);
    sim.run_steps(5);
    ASSERT_FALSE(sim.failed()) << sim.failure();
    const std::uint32_t at = at_owner ? c.owner : c.peers[0];
    set::Member::Worker* w = sim.member(at)->create_worker();
    ASSERT_NE(w, nullptr);
    sim.member(at)->release(*w, l);
    if (!at_owner) {
      EXPECT_FALSE(sim.failed()) << "the peer only forwards the release";
      sim.run_steps(10);
    }
    ASSERT_TRUE(sim.failed()) << (at_owner ? "direct release" : "release at a peer");
    EXPECT_NE(sim.failure().find("freed pool 0 unit " + std::to_string(l.unit) + " while session"), std::string::npos)
        << sim.failure();
  }
}

// Each rule switched off is a deliberately broken member (test code only):
// the random safety sweep must catch it within a few dozen seeds (sweeping
// seeds 1..150 at 5,000 steps found each within the first 21), and the seed
// that catches it must pass with every rule on.
TEST(BrokenMember, RandomSweepCatchesEveryRuleSwitchedOff) {
  struct Case {
    const char* rule;
    void (*off)(set::detail::Rules&);
  };
  const Case cases[] = {
      {"peers_only_quorum", [](set::detail::Rules& r) { r.peers_only_quorum = false; }},
      {"peers_only_answers", [](set::detail::Rules& r) { r.peers_only_answers = false; }},
      {"complete_replica_votes", [](set::detail::Rules& r) { r.complete_replica_votes = false; }},
      {"quarantine_open_windows", [](set::detail::Rules& r) { r.quarantine_open_windows = false; }},
      {"restore_hold_down", [](set::detail::Rules& r) { r.restore_hold_down = false; }},
      {"reseed_quarantined_in_use", [](set::detail::Rules& r) { r.reseed_quarantined_in_use = false; }},
  };
  for (const Case& c : cases) {
    set::detail::Rules rules;
    c.off(rules);
    std::uint64_t caught = 0;
    for (std::uint64_t seed = 1; seed <= 60 && caught == 0; ++seed) {
      Simulator broken(SimParams::derive(seed, Mode::kSafety, 5'000), rules);
      const SimResult r = broken.run();
      if (!r.ok) {
        caught = seed;
        std::printf("%s switched off: seed %llu: %s\n", c.rule, static_cast<unsigned long long>(seed),
                    r.failure.c_str());
      }
    }
    ASSERT_NE(caught, 0u) << c.rule << " switched off was not caught by seeds 1..60";
    Simulator correct(SimParams::derive(caught, Mode::kSafety, 5'000));
    const SimResult good = correct.run();
    EXPECT_TRUE(good.ok) << c.rule << ": seed " << caught << " fails with every rule on: " << good.failure;
  }
}

// Seeds on which the sweeps found bugs; they pass now. (A protocol change
// alters every trace, so a seed no longer replays its old path; the unit
// tests named below pin each bug down directly.)
//   liveness, 3,000 steps:
//   2, 16, 45: a static claim's release overtook the claim on another path;
//              a claim that found its unit claimed was lost
//              (Member.ReleaseOvertakingItsClaimVoidsIt, StaticClaimsAtAnyMemberReachTheOwner);
//   33: two claims of one worker got the same id (++x | 1 repeats) (Member.ClaimIdsAreUnique);
//   8, 277: a unit freed or released at the very end was reported as leaked
//           (the end check now settles first);
//   14: go-back-N stalled for thousands of steps under reordering (the
//       channel buffers out-of-order batches: Channel.SurvivesAHostileNetwork).
//   liveness, 5,000 steps (with zombies: an old incarnation running on):
//   51: a peer that answered "no complete replica" was never asked again;
//   21948: a restarted member chose a generation some unheard peer already
//          knew, was fenced by it forever (peers now say so: kFenced, and it
//          starts over with a higher generation);
//   20113: a member refused as a twin stopped for good (the embedding restarts it).
//   safety, 5,000 steps:
//   20552: a zombie re-seeded a restarted peer after both holders of the
//          newer incarnation's state had crashed; the newest incarnation then
//          recovered from the zombie's older state and handed out a unit
//          twice (a member now stops for good once a peer addresses a newer
//          incarnation of it: superseded);
//   20186: the same, seen as a unit handed out inside its hold-down.
TEST(Regression, SeedsThatFoundBugs) {
  struct Case {
    Mode mode;
    std::uint64_t steps;
    std::uint64_t seed;
  };
  const Case cases[] = {{Mode::kLiveness, 3'000, 2},
                        {Mode::kLiveness, 3'000, 8},
                        {Mode::kLiveness, 3'000, 14},
                        {Mode::kLiveness, 3'000, 16},
                        {Mode::kLiveness, 3'000, 33},
                        {Mode::kLiveness, 3'000, 45},
                        {Mode::kLiveness, 3'000, 277},
                        {Mode::kLiveness, 5'000, 51},
                        {Mode::kLiveness, 5'000, 21948},
                        {Mode::kLiveness, 5'000, 20113},
                        {Mode::kSafety, 5'000, 20552},
                        {Mode::kSafety, 5'000, 20186},
                        // 99: a repeated release matched its unit's 4-bit serial 15 allocations
                        // later (before the wrap hold). 87: after a whole-set restart that lost
                        // every disk, a generation was reused and an older lease of it taken for
                        // the current incarnation's (before leases carried the nonce).
                        {Mode::kLiveness, 10'000, 99},
                        {Mode::kLiveness, 10'000, 87},
                        // 39: an audit held a wrapped unit for the repeat window; its owner
                        // crashed, and the restored hold ended in a quarantine no audit followed.
                        {Mode::kLiveness, 10'000, 39}};
  for (const Case& c : cases) {
    Simulator s(SimParams::derive(c.seed, c.mode, c.steps));
    const SimResult r = s.run();
    EXPECT_TRUE(r.ok) << "seed " << c.seed << ": " << r.failure;
  }
}

TEST(Simulator, SameSeedSameTrace) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const SimParams p = SimParams::derive(seed, Mode::kLiveness, 2'000);
    Simulator a(p), b(p);
    const SimResult ra = a.run(), rb = b.run();
    EXPECT_EQ(ra.trace_hash, rb.trace_hash);
    EXPECT_EQ(ra.steps_run, rb.steps_run);
  }
  Simulator x(SimParams::derive(1, Mode::kSafety, 2'000)), y(SimParams::derive(2, Mode::kSafety, 2'000));
  EXPECT_NE(x.run().trace_hash, y.run().trace_hash);
}

TEST(Rng, BelowIsInRangeAndCoversIt) {
  Rng r(7);
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 10'000; ++i) {
    const std::uint64_t v = r.below(10);
    ASSERT_LT(v, 10u);
    ++seen[v];
  }
  for (int c : seen) EXPECT_GT(c, 800);
  EXPECT_EQ(r.between(5, 5), 5u);
}

// 7. A duplicate release across the owner's restart (3 members). A session
// of O's ends; the unit is handed out again to a second session, which is
// stored and streamed. O crashes and recovers from its replicas: the unit
// is restored in use (an older incarnation's allocation, serial kRestored).
// Then the embedding repeats the first session's release (the SMF that
// took it over repeats a release whose first SMF crashed before storing
// it). Both allocations are O's older incarnation's: only the store tells
// them apart. The release waits for O's read of the store, which lists the
// second session's lease: refused (Rules::restored_releases_exact).
void duplicate_release_across_restart(Simulator& sim, std::uint64_t* unit) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p2 = c.peers[1];
  sim.run_steps(30);
  auto s = allocate(sim, o);
  ASSERT_TRUE(s.has_value());
  const set::Lease first = *sim.lease_of(*s);
  *unit = first.unit;
  sim.run_steps(20);
  sim.end_session(*s, o);
  auto again = allocate_until(sim, o, first.unit);
  ASSERT_TRUE(again.has_value()) << "the unit was never handed out again";
  const set::Lease second = *sim.lease_of(*again);
  ASSERT_NE(second.serial, first.serial);
  sim.run_steps(50);  // streamed to both peers
  sim.crash(o);
  sim.restart(o);
  run_until_ready(sim, o, 500);
  ASSERT_TRUE(sim.member(o)->ready()) << sim.member(o)->not_ready_reason();
  ASSERT_TRUE(sim.member(o)->in_use(0, first.unit));
  EXPECT_EQ(sim.member(o)->counters().rebuilds, 0U);  // recovered from replicas
  sim.release_again(first, p2);
  sim.run_steps(2'500);  // O reads the store after a lease (and the grace), then judges the release
}

TEST(Counterexample, DuplicateReleaseAcrossRestart) {
  Rules broken;
  broken.restored_releases_exact = false;
  Simulator bad(params(3), broken);
  std::uint64_t unit = 0;
  duplicate_release_across_restart(bad, &unit);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(3));
  duplicate_release_across_restart(good, &unit);
  EXPECT_FALSE(good.failed()) << good.failure();
  const std::uint32_t o = cast(good, 3).owner;
  EXPECT_EQ(good.member(o)->counters().releases_deferred, 1U);
  EXPECT_EQ(good.member(o)->counters().stale_releases, 1U);
  EXPECT_TRUE(good.member(o)->in_use(0, unit));  // the second session still holds it
}

// 8. A release re-sent to a later incarnation (3 members). A session of
// O's ends at P2; O applies the release, but its ack to P2 is lost (P2 is
// cut off from O just then). O hands the unit out again to a second
// session, streams it, and crashes; O' recovers from its replicas with the
// unit in use. If P2 re-sent the release to O' (Rules::
// releases_die_with_incarnation off), O' would take it for the restored
// allocation's: only the store read (Rules::restored_releases_exact) tells
// that the second session holds the unit. Both rules guard this; it fails
// only with both off.
void release_resent_to_new_incarnation(Simulator& sim, std::uint64_t* unit) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p2 = c.peers[1];
  sim.run_steps(30);
  auto s = allocate(sim, o);
  ASSERT_TRUE(s.has_value());
  const set::Lease first = *sim.lease_of(*s);
  *unit = first.unit;
  sim.run_steps(20);
  sim.block_one_way(o, p2);  // from now on O's acks to P2 are lost
  sim.end_session(*s, p2);   // P2 sends the release; O applies it on arrival
  for (int i = 0; i < 10 && sim.member(o)->in_use(0, first.unit); ++i) sim.run_steps(1);
  ASSERT_FALSE(sim.member(o)->in_use(0, first.unit)) << "the release was not applied";
  auto again = allocate_until(sim, o, first.unit);
  ASSERT_TRUE(again.has_value()) << "the unit was never handed out again";
  sim.run_steps(50);  // streamed to P1
  sim.crash(o);
  sim.run_steps(2);  // O's last frames (acks among them) are lost on the way too
  sim.unblock(o, p2);
  sim.restart(o);
  run_until_ready(sim, o, 500);
  ASSERT_TRUE(sim.failed() || sim.member(o)->ready()) << sim.member(o)->not_ready_reason();
  sim.run_steps(2'500);  // past O's store read
}

TEST(Counterexample, ReleaseResentToNewIncarnation) {
  std::uint64_t unit = 0;
  Rules both;
  both.releases_die_with_incarnation = false;
  both.restored_releases_exact = false;
  Simulator bad(params(3), both);
  release_resent_to_new_incarnation(bad, &unit);
  EXPECT_TRUE(bad.failed()) << "the broken rules were not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  for (const bool resend : {false, true}) {
    Rules one;
    one.releases_die_with_incarnation = !resend;  // either rule alone keeps it safe
    Simulator good(params(3), one);
    release_resent_to_new_incarnation(good, &unit);
    EXPECT_FALSE(good.failed()) << good.failure();
    const std::uint32_t o = cast(good, 3).owner;
    EXPECT_TRUE(good.member(o)->in_use(0, unit)) << "the second session's unit was freed";
    if (resend) {
      EXPECT_GE(good.member(o)->counters().stale_releases, 1U);  // the re-sent release, refused
    }
  }
}

// 9. The zombie re-seed hazard (3 members: p = 2, A = 1, R = 2). O is
// replaced by O' while the old incarnation Z runs on, cut off. O' hands
// units out, streamed to P1 and P2; then O', P1 and P2 all crash: every
// holder of O''s state is gone (O's disk keeps generation 2). P1 and P2
// restart empty; Z comes back into reach and re-seeds them with its older
// state (they know no newer incarnation of O). O'' restarts: two complete
// replicas answer, both of Z's generation, lacking what O' handed out.
// Rules::replica_not_older (with the saved generation: the GenerationStore)
// sees that the best replica is older than O's last incarnation and
// rebuilds from the session store instead.
void zombie_reseed(Simulator& sim, bool lose_disk = false) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p1 = c.peers[0], p2 = c.peers[1];
  sim.run_steps(30);
  sim.split(o, /*partitioned=*/true);
  run_until_ready(sim, o, 500);
  ASSERT_TRUE(sim.member(o)->ready()) << sim.member(o)->not_ready_reason();
  // Three windows' worth: more than Z's own open windows (quarantined
  // wherever its snapshot goes) can cover.
  for (int i = 0; i < 150; ++i) ASSERT_TRUE(allocate(sim, o).has_value());
  sim.run_steps(50);  // streamed to P1 and P2
  sim.crash(o);
  sim.crash(p1);
  sim.crash(p2);
  sim.restart(p1);
  sim.restart(p2);
  sim.run_steps(3);     // frames still on their way to O' are lost (Z would learn of O' from them)
  sim.reach_zombie(o);  // Z re-seeds P1' and P2' with its older state
  // P1' and P2' lost their replicas of each other too: they rebuild from
  // the store (a lease later), and take Z's bulk copy.
  for (int i = 0; i < 4'000; ++i) {
    sim.run_steps(1);
    if (sim.member(p1)->ready() && sim.member(p2)->ready() && sim.member(p1)->has_complete_replica(o) &&
        sim.member(p2)->has_complete_replica(o))
      break;
  }
  ASSERT_TRUE(sim.member(p1)->has_complete_replica(o) && sim.member(p2)->has_complete_replica(o));
  if (lose_disk) sim.lose_disk(o);  // the generation floor is gone with it
  sim.restart(o);
  run_until_ready(sim, o, 6'000);
  ASSERT_TRUE(sim.failed() || sim.member(o)->ready()) << sim.member(o)->not_ready_reason();
  sim.run_steps(100);  // its first windows acknowledged
  try_to_conflict(sim, o, 200);
}

TEST(Counterexample, ZombieReseed) {
  Rules broken;
  broken.replica_not_older = false;
  Simulator bad(params(3), broken);
  zombie_reseed(bad);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator floorless(params(3));  // every rule on, the saved generation lost: the hazard is open
  zombie_reseed(floorless, /*lose_disk=*/true);
  EXPECT_TRUE(floorless.failed()) << "without its generation floor the member cannot tell the replica is old";
  std::printf("without the floor: %s\n", floorless.failure().c_str());

  Simulator good(params(3));
  zombie_reseed(good);
  EXPECT_FALSE(good.failed()) << good.failure();
  EXPECT_EQ(good.member(cast(good, 3).owner)->counters().rebuilds, 1U);
}

// 10. A rebuild whose lease wait counts from its start, not from its
// fencing (3 members: p = 2, A = 1, R = 2). O splits in two: the new
// incarnation O' with P1 on one side, the old incarnation Z with P2 on the
// other (a split brain). P1 restarts too, so it holds no replica of O, and
// O' rebuilds from the session store. Z runs on: P2 never heard of O', so
// it acknowledges Z's new windows, and Z hands units out. With
// Rules::rebuild_fence_quorum off, O' reads the store a lease after it
// started and hands out units that Z handed out after that read. With the
// rule, O' waits until R peers know it. P2 learns of O' only when the
// partition heals, and then fences Z; O' waits a lease after that.
void rebuild_before_fenced(Simulator& sim, std::uint64_t lease, bool* ready_in_split) {
  const Cast c = cast(sim, 3);
  const std::uint32_t o = c.owner, p1 = c.peers[0], p2 = c.peers[1];
  sim.run_steps(30);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(allocate(sim, o).has_value());
  sim.run_steps(50);  // streamed to P1 and P2
  sim.split(o);
  sim.zombie_side(o, p2);
  sim.crash(p1);
  sim.restart(p1);
  for (std::uint64_t i = 0; i < 3 * lease && !sim.failed(); ++i) {
    sim.run_steps(1);
    if (i % 40 == 0) (void)sim.zombie_session(o, 0);  // Z serves a UE now and then
    if (sim.member(o) != nullptr && sim.member(o)->ready()) {
      *ready_in_split = true;
      (void)sim.create_session(o, 0);
    }
  }
  sim.heal();
  for (std::uint64_t i = 0; i < 3 * lease && !sim.failed(); ++i) {
    sim.run_steps(1);
    if (sim.member(o) != nullptr && sim.member(o)->ready() && i % 4 == 0) (void)sim.create_session(o, 0);
  }
}

TEST(Counterexample, RebuildBeforeFenced) {
  const SimParams p = params(3);
  Rules broken;
  broken.rebuild_fence_quorum = false;
  Simulator bad(p, broken);
  bool ready_in_split = false;
  rebuild_before_fenced(bad, p.lease, &ready_in_split);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(p);
  ready_in_split = false;
  rebuild_before_fenced(good, p.lease, &ready_in_split);
  EXPECT_FALSE(good.failed()) << good.failure();
  EXPECT_FALSE(ready_in_split) << "ready before P2 could fence Z";
  const std::uint32_t o = cast(good, 3).owner;
  ASSERT_NE(good.member(o), nullptr);
  EXPECT_TRUE(good.member(o)->ready()) << good.member(o)->not_ready_reason();
  EXPECT_EQ(good.member(o)->counters().rebuilds, 1U);
}

}  // namespace
}  // namespace uepool::sim

namespace uepool::sim {
namespace {

// 7. A block taken before its previous owner's handover
// (Rules::take_after_handover; 5 members: p = 4, A = 2, R = 3). Owner O
// leaves in epoch 2, which only O's configuration has. O's epoch mark
// reaches only N (its frames to S, X and Y are lost); N learns epoch 2 from
// it, takes the blocks it gains from O at once (the rule off: the mark is
// not acknowledged by A peers, so no Handover), and allocates there with
// windows acknowledged by O and S (S learns epoch 2 from N's stream), in
// blocks where O had no window open (in one where it had, O's recovery
// quarantines the open window's units, which covers N's). X and
// Y hear neither N nor S: they stay in epoch 1. O crashes, and its
// configuration file never had epoch 2 (a live change not written down): it
// restarts in epoch 1. Its recovery reads S, X and Y (N is cut off from it,
// and S's channel to it stalls, so S's bulk copy, which would teach it
// epoch 2, does not arrive): none holds O's mark. O' owns its old blocks
// again, windows there acknowledged by X and Y, and hands out units N's
// sessions hold. With the rule on, N takes nothing before O's Handover,
// which never comes while A peers do not hold the mark.
struct HandoverScript {
  std::uint32_t o = 0, n = 0, s = 0, x = 0, y = 0;
  std::uint64_t taken = 0;         // blocks N took from O
  int n_sessions_in_o_blocks = 0;  // N's sessions in blocks O owned in epoch 1
};

HandoverScript take_before_handover(Simulator& sim) {
  HandoverScript h;
  const Cast c = cast(sim, 5);
  h.o = c.owner;
  std::vector<std::uint32_t> w(5, 1);
  w[h.o - 1] = 0;
  // N: the peer that gains the most of O's blocks.
  std::vector<set::MemberSpec> specs;
  for (std::uint32_t i = 1; i <= 5; ++i) specs.push_back({i, w[i - 1]});
  const set::Plan one = sim.plan();
  const set::Plan two = one.reweighted(2, specs).value();
  std::uint64_t best = 0;
  for (std::uint32_t m : c.peers) {
    std::uint64_t gained = 0;
    for (std::uint64_t u = 0; u < one.units(0); u += one.block_units(0))
      gained += one.owner(0, u) == h.o && two.owner(0, u) == m ? 1 : 0;
    if (gained > best) {
      best = gained;
      h.n = m;
    }
  }
  std::vector<std::uint32_t> rest;
  for (std::uint32_t m : c.peers)
    if (m != h.n) rest.push_back(m);
  h.s = rest[0];
  h.x = rest[1];
  h.y = rest[2];
  sim.run_steps(50);
  for (std::uint32_t m : {h.s, h.x, h.y}) sim.block_one_way(h.o, m);
  for (std::uint32_t from : {h.n, h.s})
    for (std::uint32_t to : {h.x, h.y}) sim.block_one_way(from, to);
  EXPECT_TRUE(sim.new_epoch(w, 1));
  for (std::uint32_t m : c.peers) sim.withhold_epochs(m);
  for (int i = 0; i < 400 && !sim.failed(); ++i) sim.run_steps(1);
  h.taken = sim.member(h.n)->counters().blocks_moved;
  for (int i = 0; i < 300 && !sim.failed() && h.n_sessions_in_o_blocks < 150; ++i) {
    auto session = allocate(sim, h.n, 20);
    if (!session) break;
    if (one.owner(0, sim.lease_of(*session)->unit) == h.o) ++h.n_sessions_in_o_blocks;
  }
  sim.crash(h.o);
  sim.forget_epochs(h.o, 1);
  sim.unblock(h.o, h.x);
  sim.unblock(h.o, h.y);
  sim.unblock(h.o, h.s);
  sim.block(h.o, h.n);
  sim.block_data_one_way(h.s, h.o);
  sim.restart(h.o);
  run_until_ready(sim, h.o, 2'000);
  EXPECT_TRUE(sim.failed() || sim.member(h.o)->ready()) << sim.member(h.o)->not_ready_reason();
  EXPECT_EQ(sim.failed() ? 1u : sim.member(h.o)->epoch(), 1u)
      << "O' learned epoch 2: the script no longer reaches the case";
  try_to_conflict(sim, h.o, 400);
  return h;
}

TEST(Counterexample, TakeBeforeHandover) {
  Rules broken;
  broken.take_after_handover = false;
  Simulator bad(params(5), broken);
  const HandoverScript b = take_before_handover(bad);
  EXPECT_GT(b.taken, 0u) << "N took nothing: the script no longer reaches the case";
  EXPECT_GT(b.n_sessions_in_o_blocks, 0);
  EXPECT_TRUE(bad.failed()) << "the broken rule was not caught";
  std::printf("caught: %s\n", bad.failure().c_str());

  Simulator good(params(5));
  const HandoverScript g = take_before_handover(good);
  EXPECT_EQ(g.taken, 0u) << "taken before the handover";
  EXPECT_EQ(g.n_sessions_in_o_blocks, 0);
  EXPECT_FALSE(good.failed()) << good.failure();
}

}  // namespace
}  // namespace uepool::sim
