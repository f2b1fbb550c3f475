// uepool/sim/simulator.hpp — a deterministic simulator that tries to break the set protocol.
//
// Overview
//   One thread, one seeded PRNG (the project's own integer code: no std::
//   distributions), simulated time. Every seed derives its own parameters —
//   members, pools, windows, leases, hold-down, fault rates — and prints them.
//   Ground truth is a session store (the set's UDSF): sessions are created
//   (dynamic or static, single or dual-stack), moved between members,
//   released by whichever member holds them; a crashed member loses all
//   state and its sessions are taken over later, or end.
//
//     SimParams p = SimParams::derive(42, Mode::kSafety, 10'000);
//     Simulator sim(p);
//     SimResult r = sim.run();           // r.ok, r.failure, r.trace_hash
//
//   Checks after every step, incrementally:
//     * no unit is held by two sessions;
//     * a member hands out a unit only inside a window that A of its peers
//       acknowledged (applied to a complete replica), before the lease ends;
//     * no unit is handed out during its hold-down.
//   Liveness mode (bounded faults, then a quiet phase and a final audit of
//   every member) also checks at the end, strictly: every member is ready,
//   and every unit is held by exactly one session or free at its owner
//   (zero leaked), whatever the faults were.
//
//   The scripted API (create_session, end_session, crash, restart, block,
//   run_steps) drives the same machinery without random activity: the
//   protocol-model counterexamples are written with it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "uepool/set/member.hpp"
#include "uepool/transport/pump.hpp"

namespace uepool::sim {

// Rng — xoshiro256** seeded by splitmix64; integer-only helpers.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next() noexcept;
  // below — uniform in [0, n), by rejection (exact, no modulo bias). Requires n > 0.
  std::uint64_t below(std::uint64_t n) noexcept;
  // between — uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + below(hi - lo + 1); }
  // chance — true with probability ppm / 1,000,000.
  bool chance(std::uint64_t ppm) noexcept { return below(1'000'000) < ppm; }

 private:
  std::uint64_t s_[4];
};

enum class Mode : std::uint8_t { kSafety, kLiveness };

struct SimPool {
  bool ipv6 = false;
  unsigned bits = 8;  // 2^bits units
  std::uint64_t block_units = 64;
};

struct SimParams {
  std::uint64_t seed = 0;
  Mode mode = Mode::kSafety;
  std::uint64_t steps = 10'000;
  std::uint32_t members = 3;
  std::vector<SimPool> pools;
  std::uint64_t window_units = 64;
  // dynamic_per_64 — when not 0, only the first this many units of every
  // 64 (a window of the smallest size) can be allocated, the rest excluded
  // (like a network address): the exhaustive mode's stand-in for windows of
  // 1-2 units, so that units are reused within a few decisions.
  std::uint64_t dynamic_per_64 = 0;
  // check_windows — false: the checker does not check that a unit is handed
  // out inside a window A peers acknowledged (only conflicts, hold-downs and
  // wrong frees stop the run), to see where a broken window rule leads.
  bool check_windows = true;
  std::uint64_t lease = 2'000;
  std::uint64_t hold_down = 0;
  std::uint32_t windows_ahead = 2;
  std::size_t channel_capacity = 4096;
  std::uint64_t retransmit = 30;
  std::uint64_t heartbeat = 0;        // 0: retransmit / 2 + 1
  std::uint64_t stream_interval = 0;  // MemberOptions::stream_interval (0: every tick)
  std::size_t release_ring = 4096;    // MemberOptions::release_ring
  std::uint64_t audit_interval = 0;   // MemberOptions::audit_interval (0: only the final audit in liveness mode)
  std::uint64_t store_lag = 0;        // a new session is stored 0..store_lag steps after allocate (= audit_grace)
  // faults (per step; ppm = per million)
  std::uint64_t loss_ppm = 0;
  std::uint64_t dup_ppm = 0;
  std::uint64_t delay_max = 3;         // delivery after 1..delay_max steps (reordering)
  std::uint64_t partition_ppm = 0;     // a new partition between two members
  std::uint64_t partition_len = 500;   // its longest duration
  std::uint64_t crash_ppm = 0;         // per live member
  std::uint64_t zombie_ppm = 0;        // per live member: replaced by a new incarnation while it runs on
  std::uint64_t disk_loss_ppm = 0;     // per crash: the member's saved generation is lost too
  std::uint64_t restart_max = 1'000;   // a crashed member restarts after 1..restart_max steps
  std::uint64_t takeover_max = 2'000;  // an orphaned session is taken over (or ends) after 1..takeover_max
  // The embedding releases an ended session's dynamic units again, at a
  // random member 1..rerelease_max steps later: a duplicate release, or the
  // SMF that took the session over repeating a release whose first SMF
  // crashed before storing it. Per ended session (ppm).
  std::uint64_t rerelease_ppm = 0;
  std::uint64_t rerelease_max = 1;
  std::uint64_t set_restart_ppm = 0;  // per step: every member crashes at once (a power loss, a redeploy)
  // Re-division: `standby` of the members (the highest ids) start with
  // weight 0; per step, a new membership epoch (a join, a leave or a weight
  // change) with probability epoch_ppm, reaching each member 1..epoch_spread
  // steps later (a member down then gets it when it restarts).
  std::uint32_t standby = 0;
  std::uint64_t epoch_ppm = 0;
  std::uint64_t epoch_spread = 1;
  // retire_ppm — per step: a member is gone for good (it crashes and never
  // comes back, its zombie too), and a new epoch retires it (weight 0,
  // MemberSpec::retired), reaching each member 1..epoch_spread steps later.
  // Only while at least two members that are not retired stay. Drawn from
  // a random stream of its own, so that a seed without a retirement runs as
  // it did before retirements existed. A set of p peers per member keeps
  // A = ceil(p / 2) of them running: Simulator::retire.
  std::uint64_t retire_ppm = 0;
  // repeat_window — the members' release_repeat_window: a repeated release
  // is sent at most rerelease_max after the first; on the way it may wait out
  // partitions (overlapping ones too) and retransmissions. An embedding
  // that repeats none needs no window.
  [[nodiscard]] std::uint64_t repeat_window() const noexcept {
    return rerelease_ppm == 0 ? 0 : rerelease_max + 4 * partition_len + 200 * retransmit + 1'000;
  }
  // session activity (per step)
  std::uint64_t create_ppm = 300'000;
  std::uint64_t end_ppm = 250'000;
  std::uint64_t move_ppm = 50'000;

  // derive — everything from the seed (swarm testing: each seed a different mix).
  static SimParams derive(std::uint64_t seed, Mode mode, std::uint64_t steps);
  // quiet — no random faults and no random sessions (for scripted scenarios).
  static SimParams quiet(std::uint32_t members, std::vector<SimPool> pools);
  [[nodiscard]] std::string describe() const;
};

struct SimStats {
  std::uint64_t allocations = 0, releases = 0, claims = 0, moves = 0, crashes = 0, restarts = 0, takeovers = 0;
  std::uint64_t zombies = 0;
  std::uint64_t frames_sent = 0, frames_delivered = 0, frames_lost = 0;
  std::uint64_t not_ready = 0, none_free = 0;
  std::uint64_t leaked = 0;
  std::uint64_t audit_freed = 0, rebuilds = 0;  // summed over the members alive at the end
  std::uint64_t rereleases = 0;                 // releases the embedding repeated (SimParams::rerelease_ppm)
  std::uint64_t set_restarts = 0;               // whole-set restarts (SimParams::set_restart_ppm)
  std::uint64_t epochs = 0;                     // membership epochs after the first (SimParams::epoch_ppm)
  std::uint64_t retired = 0;                    // members retired (SimParams::retire_ppm)
  std::uint64_t blocks_moved = 0;               // summed over the members alive at the end
  std::uint64_t blocks_taken_retired = 0;       // ... of them, from a retired member (by the session store)
};

struct SimResult {
  bool ok = true;
  std::string failure;  // the first invariant that failed, and where
  std::uint64_t trace_hash = 0;
  std::uint64_t steps_run = 0;
  SimStats stats;
  std::vector<std::string> notes;      // e.g. a member that stays not ready, and why (no failure)
  std::vector<std::string> watch_log;  // every event of the watched unit, in order (see watch)
};

class Explorer;

class Simulator : private set::Observer, private set::SessionStore {
 public:
  using SessionId = std::uint64_t;

  explicit Simulator(const SimParams& params, const set::detail::Rules& rules = {});
  ~Simulator() override;

  // run — the random driver: params.steps steps (then the quiet phase and
  // final checks in liveness mode). Stops at the first failure.
  SimResult run();

  // --- scripted API ---
  void run_steps(std::uint64_t n);
  std::optional<SessionId> create_session(std::uint32_t member, std::uint32_t pool);
  // end_session — released at `at_member`: its current incarnation, or its
  // zombie when the zombie serves the session (nothing if neither runs).
  void end_session(SessionId id, std::uint32_t at_member);
  // release_again — the embedding releases `lease` (of an ended session) once more, at `at_member`.
  void release_again(const set::Lease& lease, std::uint32_t at_member);
  void crash(std::uint32_t member);
  // split — a new incarnation starts while the old one runs on (a zombie,
  // e.g. behind a partition that hid it from whoever restarted it); bury — it stops.
  // partitioned: the zombie hears nothing and nothing it sends arrives
  // (otherwise it hears every frame addressed to its member, and stops as
  // soon as a peer addresses the newer incarnation).
  void split(std::uint32_t member, bool partitioned = false);
  void bury(std::uint32_t member);
  // reach_zombie — a cut-off zombie is in reach again (it hears and is heard),
  // and lives on for at least two more leases.
  void reach_zombie(std::uint32_t member);
  // zombie_side — a split brain: the zombie and `peer` on one side of a
  // partition, the new incarnation and every other member on the other (the
  // zombie hears and reaches only `peer`, the new incarnation every member
  // but `peer`; `peer` is blocked from the others until heal). The zombie
  // lives on for at least two more leases.
  void zombie_side(std::uint32_t member, std::uint32_t peer);
  // zombie_session — the zombie serves a new UE, inside a window it holds.
  std::optional<SessionId> zombie_session(std::uint32_t member, std::uint32_t pool);
  void restart(std::uint32_t member);
  // lose_disk — the member's saved generation is gone too (a wiped disk).
  void lose_disk(std::uint32_t member);
  void block(std::uint32_t a, std::uint32_t b);              // both directions, until unblocked
  void block_one_way(std::uint32_t from, std::uint32_t to);  // frames from `from` to `to` only, until unblocked
  // block_data_one_way — only Data frames (the channel's records, bulk
  // copies and acknowledgements) from `from` to `to` are lost, until
  // unblocked: queries, answers and Fenced pass (a stalled channel beside a
  // request that gets through, e.g. a bulk copy's lost fragments).
  void block_data_one_way(std::uint32_t from, std::uint32_t to);
  void unblock(std::uint32_t a, std::uint32_t b);
  void isolate(std::uint32_t member);  // block it from every other member
  void heal();                         // remove every block
  // new_epoch — the next membership epoch, with these weights (one per
  // member, in id order), reaching each member `delay` steps from now (a
  // member down then gets it when it restarts). false: no member has weight.
  bool new_epoch(const std::vector<std::uint32_t>& weights, std::uint64_t delay = 1);
  // give_epochs — member `id` gets every epoch made so far now (if up).
  void give_epochs(std::uint32_t id);
  // withhold_epochs — member `id`'s configuration gets no epoch made so far
  // that it has not had yet, until give_epochs (a configuration push that
  // lags there; the member may still learn the epochs from its peers).
  void withhold_epochs(std::uint32_t id);
  // forget_epochs — member `id`'s configuration has only the epochs up to
  // `keep` (a live membership change that was never written to its
  // configuration file): it restarts with that, and the later epochs reach
  // it again only by give_epochs (or from its peers).
  void forget_epochs(std::uint32_t id, std::uint64_t keep);
  // retire — member `id` is gone for good (crashed, its zombie buried, never
  // restarted), and the next epoch retires it (weight 0; a member that is
  // not retired gets weight 1 if none would have one), reaching each member
  // `delay` steps from now. false: fewer than two members would be left, or
  // fewer than A peers that run for each of them.
  bool retire(std::uint32_t id, std::uint64_t delay = 1);
  [[nodiscard]] bool retired(std::uint32_t id) const noexcept { return retired_.at(id - 1); }
  [[nodiscard]] bool failed() const noexcept { return !result_.ok; }
  [[nodiscard]] const std::string& failure() const noexcept { return result_.failure; }
  [[nodiscard]] set::Member* member(std::uint32_t id);  // null while crashed
  // plan — the newest membership epoch's plan.
  [[nodiscard]] const set::Plan& plan() const noexcept { return *plans_.back(); }
  [[nodiscard]] std::uint64_t now() const noexcept { return now_; }
  [[nodiscard]] std::optional<set::Lease> lease_of(SessionId id, std::size_t k = 0) const;
  [[nodiscard]] const SimResult& result() const noexcept { return result_; }
  // liveness_check — the end-of-run checks (quiet set): readiness and leaks.
  void liveness_check();
  // end_problem — what liveness_check would fail on ("" if nothing); the
  // units leaked into *leaked.
  std::string end_problem(std::uint64_t* leaked = nullptr);
  // watch — record every event of one unit in SimResult::watch_log: who
  // holds it, releases, crashes (the library prints nothing; uepool sim does).
  void watch(std::uint32_t pool, std::uint64_t unit) {
    watch_ = true;
    watch_pool_ = pool;
    watch_unit_ = unit;
  }

 private:
  friend class Explorer;  // explore.cpp: drives the scripted API and reads the state to hash it
  struct Node;
  struct Endpoint;
  struct Session;
  struct WindowFacts;
  struct InFlight;

  void step(bool random);
  void random_activity();
  void random_faults();
  void deliver();
  void send(set::Frame f);
  // send_from — an endpoint's frame onto the network, unless a split brain
  // or a cut-off zombie keeps it on its side (false then).
  bool send_from(std::uint32_t member, bool zombie, const set::Frame& f);
  bool blocked(std::uint32_t a, std::uint32_t b) const;
  void start_member(std::uint32_t id, bool fresh);
  bool check_allocation(std::uint32_t member, const set::Lease& lease, const set::Member* who = nullptr);
  void hold(SessionId sid, const set::Lease& lease);
  std::unique_ptr<Session> new_session();
  void end_session_at(Session& s, std::uint32_t at_member);
  void fail(const std::string& what);
  void watch_event(const char* format, ...) __attribute__((format(printf, 2, 3)));
  // TraceEvent — what a trace entry records (its number goes into the hash: never renumber).
  enum class TraceEvent : std::uint64_t {
    kStart = 1,            // member, lives
    kDeliver = 2,          // from * 8 + to, kind << 32 | records, channel seq
    kAllocate = 3,         // member, pool, unit (or 10^9 + status)
    kRelease = 4,          // member, pool, unit
    kCrash = 5,            // member
    kAllocateDual = 6,     // member, unit a, unit b
    kClaim = 7,            // member, pool, unit
    kMove = 8,             // session, member
    kPartition = 9,        // member a, member b
    kTakeover = 10,        // session, member
    kZombie = 11,          // member
    kBury = 12,            // member
    kZombieAllocate = 13,  // member, pool, unit
    kRerelease = 14,       // member, pool, unit
    kSetRestart = 15,      // -
    kEpoch = 16,           // epoch, member (0: made), -
  };
  void trace(TraceEvent e, std::uint64_t b = 0, std::uint64_t c = 0, std::uint64_t d = 0);
  std::uint32_t random_live_member();

  // set::Observer
  void window_applied(std::uint32_t peer, std::uint32_t owner, const set::Incarnation& owner_inc,
                      const set::OpenWindow& w) override;
  void window_reserved(std::uint32_t owner, const set::Incarnation& inc, const set::OpenWindow& w,
                       std::uint64_t lease_end) override;
  void unit_freed(const set::Member& owner, std::uint32_t pool, std::uint64_t unit) override;
  // set::SessionStore: every stored session's lease of `owner`'s units.
  bool read_held(std::uint32_t owner, const set::Plan& plan, std::vector<set::Lease>& out) override;

  SimParams params_;
  set::detail::Rules rules_;
  Rng rng_;
  std::shared_ptr<const set::Plan> plan_;                // the first epoch's
  std::vector<std::shared_ptr<const set::Plan>> plans_;  // every epoch, in order (plans_[e - 1])
  std::vector<std::uint32_t> weights_;                   // the newest epoch's, by member id - 1
  std::vector<bool> retired_;                            // by member id - 1 (SimParams::retire_ppm)
  Rng retire_rng_;                                       // the retirements' own random stream
  void random_epoch();
  void deliver_epochs();
  std::vector<core::PoolConfig> pool_configs_;
  std::vector<std::unique_ptr<Node>> nodes_;  // index = member id - 1
  std::uint64_t now_ = 0;
  std::uint64_t next_frame_ = 0;
  std::vector<set::Frame> pump_in_;  // scratch of the pumps
  transport::PumpCounters pumped_;
  std::multimap<std::pair<std::uint64_t, std::uint64_t>, set::Frame> network_;  // (deliver at, order) -> frame
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> blocks_;     // (a < b) -> until
  std::set<std::pair<std::uint32_t, std::uint32_t>> one_way_;                   // (from, to) blocked
  std::set<std::pair<std::uint32_t, std::uint32_t>> data_one_way_;              // (from, to): Data frames blocked
  std::map<SessionId, std::unique_ptr<Session>> sessions_;
  std::vector<SessionId> session_order_;  // for random picks
  struct LateRelease {
    std::uint64_t at = 0;
    set::Lease lease;
  };
  std::vector<LateRelease> late_;  // repeated releases the embedding will send (rerelease_ppm)
  SessionId next_session_ = 1;
  std::vector<std::vector<SessionId>> holder_;           // [pool][unit] -> session (0 = none)
  std::vector<std::vector<std::uint64_t>> released_at_;  // [pool][unit] -> last release time + 1 (0 = never)
  std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t, std::uint64_t>, std::unique_ptr<WindowFacts>>
      windows_;  // (owner, generation, nonce, packed tag)
  [[nodiscard]] bool watched(const set::Lease& l) const noexcept {
    return watch_ && l.pool == watch_pool_ && l.unit == watch_unit_;
  }
  bool watch_ = false;
  std::uint32_t watch_pool_ = 0;
  std::uint64_t watch_unit_ = 0;
  bool faults_on_ = true;
  bool any_fault_ = false;
  SimResult result_;
};

// ---------------------------------------------------------------- exhaustive mode
//
// explore — `uepool sim --exhaustive`: a depth-first search over every
// schedule of a small configuration, with state hashing.
//
// A schedule is a sequence of `depth` decisions. Each decision is one event
// enabled in the state it is taken in, then one step: a step with nothing
// new, a settle (30 steps with nothing new), a new session at a live member
// (retried each step while the member refuses, for at most four settles, as an
// SMF retries) or at its zombie, a session ended at its controller or at
// another member (a moved session), a repeat of an ended session's release,
// a crash, a zombie (a new incarnation while the old one runs on), a
// restart, a join or a leave, or every frame one member sends in that step
// lost. After the last decision the faults heal, every member restarts, and
// the set must end strictly live: every member ready and settled at the
// newest epoch, and after the audits nothing leaked. The simulator's checks
// run at every step, as in a random run.
//
// The configuration is small but the member's is not: a window is at least
// 64 units, so one pool of 256-unit blocks (four windows each) in which only
// the first 2 units of every 64 are allocatable (SimParams::dynamic_per_64):
// units are reused, and windows turn over, within a few decisions, as with
// the 1-2-unit windows of the model check. Leases are 20 steps, audits
// every 10, the hold-down 100 (it outlives a window's quarantine).
// Frames arrive one step after they are sent (no reordering; the step and
// settle decisions and the losses make the interleavings), and the values
// the simulator still draws (nonces, zombie lifetimes) come from a fixed
// seed: a schedule replays exactly.
//
// The search replays each schedule from the start (members cannot be
// copied). After every decision it hashes the whole state: the simulator's
// (time, sessions, frames in flight, faults, the checker's window facts)
// and each member's observable state (phase, incarnation, stream sequence,
// epoch and blocks, windows, every unit's use, hold and quarantine, every
// peer's replica facts, and all counters). A state already reached with at
// least as many decisions left is not explored again. Two states the hash
// cannot tell apart agree on all of that; what it does not cover (retransmit
// timers, replica bitmaps) is summarised by those sequences and counters. So
// the search is exhaustive up to that abstraction and to these bounds.
struct ExploreParams {
  std::uint32_t members = 3;        // 2 or 3; the highest is a standby (weight 0) when joins > 0
  std::uint32_t blocks = 2;         // one IPv4 pool of 1 or 2 blocks of 256 units (windows of 64)
  std::uint32_t depth = 3;          // decisions per schedule
  std::uint32_t crashes = 2;        // at most, per schedule (a zombie counts as one)
  std::uint32_t epochs = 1;         // joins or leaves, at most
  std::uint32_t losses = 1;         // gaps with one direction's frames lost, at most
  std::uint32_t sessions = 2;       // sessions created, at most
  std::uint32_t rereleases = 1;     // repeated releases, at most
  std::uint32_t retires = 0;        // members gone for good and retired, at most (3 members needed)
  bool zombies = true;              // a crash may leave a zombie
  bool check_windows = true;        // SimParams::check_windows
  std::uint64_t max_schedules = 0;  // 0: no cap (the search stops there, incomplete)
};

struct ExploreResult {
  bool ok = true;
  bool complete = true;       // false: max_schedules reached first
  bool bad_schedule = false;  // replay_schedule: a decision number beyond what was enabled (failure says which)
  std::string failure;
  std::vector<std::uint32_t> choices;  // the failing schedule: decision indices, to replay
  std::vector<std::string> schedule;   // ... and what each decision was
  std::uint64_t schedules = 0;         // schedules run to their end (or to their failure)
  std::uint64_t states = 0;            // distinct states after a decision
  std::uint64_t pruned = 0;            // schedules cut short at a state seen before
  std::uint64_t steps = 0;             // simulated steps, all schedules
  std::uint64_t longest = 0;           // the most steps of one schedule, its final checks included
};

// explore — the whole search, stopping at the first violation.
ExploreResult explore(const ExploreParams& p, const set::detail::Rules& rules = {});
// replay_schedule — one schedule by its decision indices (a failure's
// `choices`); `watch` as Simulator::watch (pool 0) when set.
ExploreResult replay_schedule(const ExploreParams& p, const std::vector<std::uint32_t>& choices,
                              const set::detail::Rules& rules = {}, std::optional<std::uint64_t> watch = {},
                              std::vector<std::string>* watch_log = nullptr);
// describe — the configuration, one line.
std::string describe(const ExploreParams& p);

}  // namespace uepool::sim
