// Member: the set protocol's state machine. See uepool/set/member.hpp and DESIGN.md section 2.
//
// Where the hot path meets the message thread (the only shared state):
//
// 1. Window slots. A slot's `state` word is (serial << 3) | phase. Phases:
//      Empty -> Pending  (message: reserved and streamed, waiting for A acks; invisible to workers)
//      Pending -> Ready  (message: A peers acknowledged it; store-release publishes the fields)
//      Ready -> Active   (a worker, by CAS-acquire: it then copies the fields and uses only its copy)
//      Active -> Exhausted (the worker found it full)
//      any open -> Closing (message, CAS seq_cst) -> Empty with serial + 1 (store-release)
//    A worker holds a window as the exact state word it installed; any change of
//    the word (a close, a reuse with a new serial) means the window is no longer its own.
//
// 2. The close protocol (no allocation escapes the stream). The message thread
//    closes a window by CAS(state -> Closing, seq_cst), then reads every unit
//    of the window with seq_cst loads (Pool::test) and streams what it has not
//    streamed yet, then streams Close. A worker allocates with a seq_cst RMW
//    on the bitmap word (core's allocation RMWs and leaf installs are seq_cst;
//    on x86 the same lock-prefixed instruction as acq_rel) and then loads the
//    state seq_cst. All four are in the single total order S:
//      * if the worker's load precedes the CAS in S, the worker's RMW precedes
//        the message thread's load of that word, which then sees the bit: the
//        allocation is streamed before Close;
//      * otherwise the worker's load sees Closing (or later), and the worker
//        gives the unit back before using it (counted as undone).
//    Either way no unit is handed out in a window whose Close was streamed
//    without it. A unit that was streamed and then given back stays "in use"
//    in the replicas: a leak in replicas only, never a conflict.
//
// 3. Release rings. Each Worker has a single-producer (that worker) single-
//    consumer (the message thread) SpscRing (base/spsc_ring.hpp states its
//    orders). A full ring drops the release and counts it (a leak, never a conflict).
//
// 4. The clock. `now_` is written by the message thread and read relaxed by
//    workers: a worker may see a slightly older time and allocate at the very
//    end of a lease; the close protocol above still streams that allocation.
#include "uepool/set/member.hpp"

#include <algorithm>
#include <array>
#include <bit>

#include "uepool/base/spsc_ring.hpp"

namespace uepool::set {

namespace {
constexpr std::uint64_t kEmpty = 0, kPending = 1, kReady = 2, kActive = 3, kExhausted = 4, kClosing = 5;
constexpr std::size_t kSlots = 64;  // window slots per pool: active windows (one per worker) plus those reserved ahead
constexpr std::size_t kPendingOwnMax = 1 << 16;
constexpr std::uint64_t phase_of(std::uint64_t s) {
  return s & 7;
}
constexpr std::uint64_t with_phase(std::uint64_t s, std::uint64_t ph) {
  return (s & ~std::uint64_t{7}) | ph;
}
constexpr std::uint64_t pack_tag(LeaseTag t) {
  return (std::uint64_t{t.generation} << 32) | t.window;
}
constexpr LeaseTag unpack_tag(std::uint64_t v) {
  return LeaseTag{static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
}
bool is_stream(RecordKind k) {
  return k != RecordKind::kRelease && k != RecordKind::kClaim;
}
}  // namespace

const char* member_status_name(MemberStatus s) noexcept {
  switch (s) {
    case MemberStatus::kOk: return "ok";
    case MemberStatus::kNoneFree: return "none free";
    case MemberStatus::kNotReady: return "not ready";
    case MemberStatus::kNoSuchPool: return "no such pool";
    case MemberStatus::kNotStatic: return "not a static unit";
    case MemberStatus::kOutOfRange: return "unit beyond the pool";
  }
  return "?";
}

struct Member::WindowSlot {
  std::atomic<std::uint64_t> state{0};
  // Written by the message thread before the Ready store-release; read by a
  // worker after its CAS-acquire. Relaxed: the state word orders them.
  std::atomic<std::uint64_t> begin{0}, end{0}, lease_end{0}, tag{0};
  // Message thread only.
  std::uint64_t stream_seq = 0;
};

struct Member::RingItem {
  std::uint8_t op = 0;  // 0 release, 1 claim
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  LeaseTag tag;
  std::uint64_t claim = 0;
};

struct Member::PoolState {
  std::unique_ptr<core::Pool> pool;
  std::vector<core::UnitRange> owned;      // this member's blocks (plan)
  std::vector<std::uint64_t> chunk_start;  // chunk index where each owned range starts
  std::uint64_t chunks = 0;
  std::uint64_t window_units = 64;
  std::uint64_t hold_down = 0;
  std::array<WindowSlot, kSlots> slots;
  std::atomic<bool> exhausted{false};  // relaxed: a hint for "none free" vs "not ready"
  std::atomic<bool> starved{false};    // relaxed: a worker found no acknowledged window (a hint)
  std::uint32_t ahead = 0;             // message thread: windows kept waiting ahead now
  // Message thread only.
  // What the peers were told, word by word: dynamic units in use (nonzero
  // words only). Allocations reach it from window captures; releases from
  // dirty words (hot path) and own releases (message thread). With a
  // hold-down every release goes through the message thread (the member
  // holds units down itself), so expiries reach it there too. A periodic
  // sweep re-reads mirrored words.
  std::map<std::uint64_t, std::uint64_t> mirror;
  std::map<std::uint64_t, std::uint64_t> held_words;  // word -> units freed and waiting out their hold-down
  ::Roaring statics;                                  // static units streamed as claimed
  ::Roaring quarantined;                              // in use since recovery because they may be
  std::uint64_t sweep = 0;                            // next mirrored word the sweep re-reads

  [[nodiscard]] bool held(std::uint64_t u) const {
    auto it = held_words.find(u >> 6);
    return it != held_words.end() && ((it->second >> (u & 63)) & 1) != 0;
  }
  void set_held(std::uint64_t u, bool on) {
    std::uint64_t& w = held_words[u >> 6];
    w = on ? (w | (std::uint64_t{1} << (u & 63))) : (w & ~(std::uint64_t{1} << (u & 63)));
    if (w == 0) held_words.erase(u >> 6);
  }
  std::map<std::uint64_t, std::uint64_t> claimed_by;    // static unit -> claim id (0: unknown, after recovery)
  std::set<std::uint64_t> overtaken;                    // claims whose release arrived first (bounded)
  std::multimap<std::uint64_t, std::uint64_t> waiting;  // static unit -> claims that found it claimed (bounded)
  std::uint64_t cursor = 0;                             // next chunk to look at
  bool scan_needed = true;                              // a unit was freed since a full lap found nothing

  core::UnitRange chunk(std::uint64_t k) const {
    const auto it = std::upper_bound(chunk_start.begin(), chunk_start.end(), k) - 1;
    const std::size_t r = static_cast<std::size_t>(it - chunk_start.begin());
    const std::uint64_t b = owned[r].begin + (k - *it) * window_units;
    return {b, std::min(b + window_units, owned[r].end)};
  }
};

struct Member::Replica {
  bool complete = false;
  Incarnation of;
  std::uint64_t seq = 0;
  std::vector<std::map<std::uint64_t, std::uint64_t>> words;  // per pool: word -> dynamic units in use
  std::vector<::Roaring> statics;                             // per pool: static units claimed
  struct Win {
    OpenWindow w;
    std::uint64_t until;
  };
  std::vector<Win> windows;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> held;  // (pool, unit) -> until
};

struct Member::Peer {
  std::uint32_t id = 0;
  Incarnation inc;  // the highest seen (fencing)
  Channel ch;
  bool needs_seed = true;
  ReplicaReport report;  // its replica of us, as it last said
  bool report_valid = false;
  Replica replica;  // our replica of its usage
  std::vector<Record> outbox;
  std::uint64_t last_sent = 0;
  bool greeted = false;
  bool owe = false;
  bool gen_answered = false, gen_complete = false;
  std::uint32_t gen_max = 0;
  bool recover_answered = false, recover_complete = false;
  std::shared_ptr<const UsageSnapshot> recover_snapshot;
  std::uint64_t last_request = 0;
  std::uint64_t last_fenced_notice = 0;
};

class Member::Worker {
 public:
  Worker(Member& m, std::size_t ring, std::uint64_t claim_base)
      : claim_next_(claim_base | 1), ring_(ring), dirty_(ring) {
    for (auto& ps : m.pools_) pool_workers_.push_back(std::make_unique<core::Pool::Worker>(*ps->pool));
    current_.resize(m.pools_.size());
  }

 private:
  friend class Member;
  struct Current {
    WindowSlot* slot = nullptr;
    std::uint64_t word = 0;
    core::UnitRange range;
    LeaseTag tag;
    std::uint64_t lease_end = 0;
  };
  bool push(const RingItem& item) noexcept {
    if (ring_.try_push(item)) return true;
    ring_full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  std::vector<std::unique_ptr<core::Pool::Worker>> pool_workers_;
  std::vector<Current> current_;
  std::uint32_t rotor_ = 0;
  std::uint64_t claim_next_;  // claim ids: a random 64-bit base per worker, counting up
  // mark_dirty — word `word` of `pool` changed by a direct release: the
  // message thread re-reads it. Skipped while the same word is still queued
  // (not yet read: its position is at or after the consumer's head).
  void mark_dirty(std::uint32_t pool, std::uint64_t word) noexcept {
    const std::uint64_t key = (std::uint64_t{pool} << 56) | word;
    const std::uint64_t h = dirty_.consumed();
    const std::uint64_t t = dirty_.published();
    if (key == last_dirty_ && last_dirty_pos_ >= h && t > h) return;
    if (!dirty_.try_push(key)) {
      dirty_overflow_.store(true, std::memory_order_relaxed);  // the message thread sweeps everything
      return;
    }
    last_dirty_ = key;
    last_dirty_pos_ = t;
  }

  SpscRing<RingItem> ring_;        // producer: this worker; consumer: the message thread
  SpscRing<std::uint64_t> dirty_;  // (pool << 56) | word; the same two threads
  std::uint64_t last_dirty_ = UINT64_MAX;
  std::uint64_t last_dirty_pos_ = 0;
  std::atomic<bool> dirty_overflow_{false};
  std::atomic<std::uint64_t> ring_full_{0};  // statistics (relaxed)
  std::atomic<std::uint64_t> undone_{0};     // statistics (relaxed)
  std::atomic<std::uint64_t> refused_{0};    // releases naming no unit of any pool (relaxed)
  std::atomic<std::uint64_t> double_{0};     // direct releases of a unit not in use (relaxed)
};

// ---------------------------------------------------------------- creation

Member::Member(const MemberOptions& options) : id_(options.id), options_(options), plan_(options.plan) {}
Member::~Member() = default;

Result<std::unique_ptr<Member>> Member::create(const MemberOptions& options) {
  if (!options.plan) return Status(StatusCode::kInvalidArgument, "member has no plan");
  const Plan& plan = *options.plan;
  if (!plan.has_member(options.id))
    return Status(StatusCode::kNotFound, "member id is not in the plan").with_number(options.id, "member");
  if (options.pools.size() != plan.pool_count())
    return Status(StatusCode::kInvalidArgument, "pool count differs from the plan")
        .with_number(options.pools.size(), "pools");
  if (!std::has_single_bit(options.window_units) || options.window_units < 64)
    return Status(StatusCode::kInvalidArgument, "window size is not a power of two of at least 64 units")
        .with_number(options.window_units, "units");
  if (options.lease == 0) return Status(StatusCode::kInvalidArgument, "lease is zero");
  if (options.windows_ahead == 0 || options.windows_ahead > kSlots / 2)
    return Status(StatusCode::kOutOfRange, "windows_ahead must be 1..32").with_number(options.windows_ahead);
  const std::uint32_t p = static_cast<std::uint32_t>(plan.members().size() - 1);
  std::uint32_t a = options.ack_quorum != 0 ? options.ack_quorum : (p + 1) / 2;
  std::uint32_t r = options.answer_quorum != 0 ? options.answer_quorum : p - a + 1;
  if (p == 0) a = r = 0;
  if (p > 0 && (a > p || r > p || a + r <= p || 2 * r <= p))
    return Status(StatusCode::kInvalidArgument, "quorums must satisfy A + R > p and 2R > p, A <= p, R <= p")
        .with_number(p, "peers");

  std::unique_ptr<Member> m(new Member(options));
  m->ack_quorum_ = a;
  m->answer_quorum_ = r;
  for (std::size_t i = 0; i < options.pools.size(); ++i) {
    core::PoolConfig cfg = options.pools[i];
    const std::uint64_t hold = cfg.hold_down;
    cfg.hold_down = 0;  // the member holds units down itself (the hold-down is replicated)
    auto pool = core::Pool::create(cfg);
    if (!pool.ok()) return pool.status();
    if (pool.value()->size() != plan.units(i))
      return Status(StatusCode::kInvalidArgument, "pool size differs from the plan").with_number(i, "pool");
    auto ps = std::make_unique<PoolState>();
    ps->pool = std::move(pool.value());
    ps->hold_down = hold;
    ps->window_units = std::min(options.window_units, plan.block_units(i));
    ps->owned = plan.ranges_of(i, options.id);
    for (const auto& rg : ps->owned) {
      ps->chunk_start.push_back(ps->chunks);
      ps->chunks += (rg.size() + ps->window_units - 1) / ps->window_units;
    }
    m->pools_.push_back(std::move(ps));
  }
  for (const MemberSpec& spec : plan.members()) {
    if (spec.id == options.id) continue;
    auto peer = std::make_unique<Peer>();
    peer->id = spec.id;
    peer->ch = Channel(options.channel_capacity);
    m->peers_.emplace(spec.id, std::move(peer));
  }
  for (auto& ps : m->pools_) m->msg_workers_.push_back(std::make_unique<core::Pool::Worker>(*ps->pool));
  m->self_index_ = plan.member_index(options.id);
  for (std::size_t i = 0; i < m->pools_.size(); ++i) {
    PoolState& ps = *m->pools_[i];
    m->hot_.push_back(
        HotPool{ps.pool.get(), plan.owner_table(i), plan.run_shift(i), ps.pool->size(), ps.hold_down == 0});
  }
  if (options.fresh) {
    m->inc_ = Incarnation{1, options.nonce};
    m->phase_ = MemberPhase::kReady;
    m->ready_.store(true, std::memory_order_release);
  } else {
    m->inc_ = Incarnation{0, options.nonce};
  }
  return m;
}

Member::Worker* Member::create_worker() {
  if (workers_.size() >= options_.max_workers) return nullptr;
  const std::uint64_t base =
      detail::mix64(options_.nonce ^ detail::mix64((std::uint64_t{id_} << 32) | workers_.size()));
  workers_.push_back(std::make_unique<Worker>(*this, options_.release_ring, base));
  return workers_.back().get();
}

Status Member::set_membership(const std::shared_ptr<const Plan>& plan) {
  if (!plan) return Status(StatusCode::kInvalidArgument, "no plan");
  if (plan.get() == plan_.get() || plan->epoch() == plan_->epoch()) return Status::ok_status();
  return Status(StatusCode::kFailedPrecondition, "re-division to a new epoch is not built yet")
      .with_number(plan->epoch(), "epoch");
}

// ---------------------------------------------------------------- hot path

MemberAllocation Member::allocate(Worker& w, std::uint32_t pool) noexcept {
  if (pool >= hot_.size()) return {MemberStatus::kNoSuchPool, {}};
  core::Pool& core_pool = *hot_[pool].pool;
  PoolState& ps = *pools_[pool];
  Worker::Current& cur = w.current_[pool];
  core::Pool::Worker& pw = *w.pool_workers_[pool];
  const std::uint64_t now = now_.load(std::memory_order_relaxed);
  for (std::size_t attempt = 0; attempt <= kSlots; ++attempt) {
    if (cur.slot != nullptr) {
      if (now < cur.lease_end) {
        const core::Allocation a = core_pool.allocate_unit_in(pw, cur.range, now);
        UEPOOL_DCHECK(!a.ok() || (a.unit >= cur.range.begin && a.unit < cur.range.end),
                      "a unit handed out outside its window");
        if (a.ok()) {
          // seq_cst: pairs with the close CAS (see the top of this file).
          if (cur.slot->state.load(std::memory_order_seq_cst) == cur.word)
            return {MemberStatus::kOk, {pool, a.unit, cur.tag}};
          (void)core_pool.release(pw, a.unit, 0);  // the window is closing: give it back unused
          w.undone_.fetch_add(1, std::memory_order_relaxed);
        } else {
          std::uint64_t expect = cur.word;  // full: let the message thread close it
          cur.slot->state.compare_exchange_strong(expect, with_phase(cur.word, kExhausted), std::memory_order_acq_rel,
                                                  std::memory_order_relaxed);
        }
      }
      cur.slot = nullptr;
    }
    bool found = false;
    for (std::size_t k = 0; k < kSlots && !found; ++k) {
      WindowSlot& s = ps.slots[(w.rotor_ + k) % kSlots];
      std::uint64_t st = s.state.load(std::memory_order_acquire);
      if (phase_of(st) != kReady) continue;
      if (!s.state.compare_exchange_strong(st, with_phase(st, kActive), std::memory_order_acquire,
                                           std::memory_order_relaxed))
        continue;
      cur.slot = &s;
      cur.word = with_phase(st, kActive);
      cur.range = {s.begin.load(std::memory_order_relaxed), s.end.load(std::memory_order_relaxed)};
      cur.tag = unpack_tag(s.tag.load(std::memory_order_relaxed));
      cur.lease_end = s.lease_end.load(std::memory_order_relaxed);
      w.rotor_ = static_cast<std::uint32_t>((w.rotor_ + k + 1) % kSlots);
      found = true;
    }
    if (!found) {
      if (ps.exhausted.load(std::memory_order_relaxed)) return {MemberStatus::kNoneFree, {}};
      if (!ps.starved.load(std::memory_order_relaxed)) ps.starved.store(true, std::memory_order_relaxed);
      return {MemberStatus::kNotReady, {}};
    }
  }
  return {MemberStatus::kNotReady, {}};
}

std::pair<MemberAllocation, MemberAllocation> Member::allocate_dual(Worker& w, std::uint32_t pool_a,
                                                                    std::uint32_t pool_b) noexcept {
  MemberAllocation a = allocate(w, pool_a);
  if (!a.ok()) return {a, MemberAllocation{a.status, {}}};
  MemberAllocation b = allocate(w, pool_b);
  if (!b.ok()) {
    release(w, a.lease);  // all or nothing
    return {MemberAllocation{b.status, {}}, b};
  }
  return {a, b};
}

void Member::release(Worker& w, const Lease& lease) noexcept {
  if (lease.pool >= hot_.size() || lease.unit >= hot_[lease.pool].units) {
    w.refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const HotPool& hp = hot_[lease.pool];
  // Our own dynamic unit, no hold-down, state rebuilt: free it here and let
  // the message thread re-read its word. Everything else (another owner's
  // unit, a static unit, a hold-down, a member still recovering) goes
  // through the ring to the message thread.
  if (hp.direct_release && hp.run_owner[lease.unit >> hp.run_shift] == self_index_ &&
      ready_.load(std::memory_order_acquire) && !hp.pool->is_static(lease.unit)) {
    if (hp.pool->release(*w.pool_workers_[lease.pool], lease.unit, 0) != core::UnitStatus::kOk) {
      w.double_.fetch_add(1, std::memory_order_relaxed);  // reported; nothing changed
      return;
    }
    w.mark_dirty(lease.pool, lease.unit >> 6);
    return;
  }
  (void)w.push(RingItem{0, lease.pool, lease.unit, lease.tag, lease.claim});
}

MemberStatus Member::claim(Worker& w, std::uint32_t pool, std::uint64_t unit, Lease* lease) noexcept {
  if (pool >= pools_.size()) return MemberStatus::kNoSuchPool;
  if (unit >= pools_[pool]->pool->size()) return MemberStatus::kOutOfRange;
  if (!pools_[pool]->pool->is_static(unit)) return MemberStatus::kNotStatic;
  const std::uint64_t claim_id = w.claim_next_ += 2;  // odd base + 2k: unique per worker, never 0 ("unknown")
  (void)w.push(RingItem{1, pool, unit, {}, claim_id});
  if (lease != nullptr) *lease = Lease{pool, unit, LeaseTag{0, 0}, claim_id};
  return MemberStatus::kOk;
}

// ---------------------------------------------------------------- message side

Member::Peer* Member::peer(std::uint32_t id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

void Member::adopt(Peer& p, const Incarnation& inc) {
  // A new incarnation of the peer: what was queued for the old one is gone
  // with it (releases are never re-sent to a later incarnation).
  auto count_releases = [&](const std::vector<Record>& rs) {
    for (const Record& r : rs) {
      if (r.kind == RecordKind::kRelease) ++counters_.releases_dropped_gone;
      if (r.kind == RecordKind::kClaim) ++counters_.claims_dropped;
    }
  };
  p.ch.for_each_unacked(count_releases);
  count_releases(p.outbox);
  p.outbox.clear();
  p.ch.reset();
  p.inc = inc;
  p.needs_seed = true;
  p.report_valid = false;
  p.report = {};
  p.recover_answered = false;
  p.recover_snapshot.reset();
}

bool Member::accept_incarnation(Peer& p, const Incarnation& inc) {
  if (inc.generation > p.inc.generation) {
    adopt(p, inc);
    return true;
  }
  if (inc.generation == p.inc.generation) {
    if (inc.nonce == p.inc.nonce) return true;
    ++counters_.incarnation_alarms;  // two incarnations of one generation: the first seen wins
    return false;
  }
  ++counters_.fenced_frames;
  return !options_.rules.fence_old_incarnations;  // switched off (tests only): heard like the current one
}

Frame Member::frame_to(const Peer& p, FrameKind kind) const {
  Frame f;
  f.kind = kind;
  f.from = id_;
  f.to = p.id;
  f.from_inc = inc_;
  f.to_inc = p.inc;
  f.ack = p.ch.cumulative_ack();
  f.replica = report_for(p);
  return f;
}

ReplicaReport Member::report_for(const Peer& p) const {
  ReplicaReport r;
  r.complete = (p.replica.complete && p.replica.of == p.inc) || !options_.rules.complete_replica_votes;
  r.seq = p.replica.seq;
  return r;
}

std::uint64_t Member::emit_stream(Record r) {
  r.stream_seq = ++stream_seq_;
  for (auto& [pid, p] : peers_)
    if (p->inc.generation != 0 && !p->needs_seed) p->outbox.push_back(r);
  return r.stream_seq;
}

void Member::on_frame(const Frame& f, std::uint64_t now) {
  if (now > now_local_) {
    now_local_ = now;
    now_.store(now_local_, std::memory_order_relaxed);  // only when it moves: workers read this line
  }
  Peer* pp = f.to == id_ ? peer(f.from) : nullptr;
  if (pp == nullptr) {
    ++counters_.refused_records;
    return;
  }
  Peer& p = *pp;
  if (phase_ == MemberPhase::kSuperseded) return;
  if (inc_.generation != 0 && f.to_inc.generation > inc_.generation) {
    // A peer knows a newer incarnation of this member: this one is a zombie
    // (it was replaced while it ran on, say behind a partition). It must not
    // allocate, seed, ack or answer any more.
    supersede();
    return;
  }
  if (f.kind == FrameKind::kGenQuery) {
    Frame a = frame_to(p, FrameKind::kGenAnswer);
    a.to_inc = f.from_inc;
    a.max_generation = p.inc.generation;
    a.complete = p.replica.complete || !options_.rules.complete_replica_votes;
    a.replica = {};
    outgoing_.push_back(std::move(a));
    return;
  }
  if (f.kind == FrameKind::kGenAnswer) {
    // The answerer may itself be restarting (no generation yet): it answers all the same.
    if (f.from_inc.generation != 0 && !accept_incarnation(p, f.from_inc)) return;
    if (phase_ == MemberPhase::kQueryingGeneration && f.to_inc == inc_) {
      p.gen_answered = true;
      p.gen_max = f.max_generation;
      p.gen_complete = f.complete;
    }
    return;
  }
  if (f.from_inc.generation == 0) return;  // only queries and answers come from a member without a generation
  if (!accept_incarnation(p, f.from_inc)) {
    if (f.kind != FrameKind::kFenced && options_.rules.fence_old_incarnations &&
        (p.last_fenced_notice == 0 || now_local_ >= p.last_fenced_notice + options_.retransmit)) {
      // Tell it: a restarting member that chose too low a generation (some
      // peer it did not hear remembered a higher one) starts over; a zombie stops.
      p.last_fenced_notice = now_local_ + 1;
      Frame n = frame_to(p, FrameKind::kFenced);
      n.to_inc = f.from_inc;
      n.max_generation = p.inc.generation;
      n.replica = {};
      outgoing_.push_back(std::move(n));
    }
    return;
  }
  if (f.kind == FrameKind::kFenced) {
    if (!(f.to_inc == inc_) || f.max_generation < inc_.generation) return;
    if (phase_ == MemberPhase::kRecovering) {
      // Start over with a higher generation; answers collected so far are void.
      generation_floor_ = std::max(generation_floor_, f.max_generation + 1);
      phase_ = MemberPhase::kQueryingGeneration;
      inc_ = Incarnation{0, options_.nonce};
      queried_once_ = false;
      for (auto& [pid, q] : peers_) {
        q->gen_answered = q->gen_complete = false;
        q->recover_answered = q->recover_complete = false;
        q->recover_snapshot.reset();
      }
    } else if (phase_ == MemberPhase::kReady) {
      supersede();  // a newer incarnation, or a twin seen first, owns our blocks now
    }
    return;
  }
  if (!(f.to_inc == inc_) || inc_.generation == 0) {
    // Addressed to an older incarnation of us (or sent before the peer knew us).
    for (const Record& r : f.records) {
      if (r.kind == RecordKind::kRelease) ++counters_.releases_to_gone_received;
      if (r.kind == RecordKind::kClaim) ++counters_.claims_dropped;
    }
    return;
  }
  switch (f.kind) {
    case FrameKind::kRecoverRequest: {
      Frame a = frame_to(p, FrameKind::kRecoverAnswer);
      a.complete = p.replica.complete || !options_.rules.complete_replica_votes;
      if (a.complete) a.snapshot = replica_snapshot(p.replica);
      outgoing_.push_back(std::move(a));
      return;
    }
    case FrameKind::kRecoverAnswer:
      if (phase_ == MemberPhase::kRecovering && !(p.recover_answered && p.recover_complete)) {
        p.recover_answered = true;
        p.recover_complete = f.complete && f.snapshot != nullptr;
        p.recover_snapshot = f.snapshot;
      }
      return;
    case FrameKind::kData: {
      p.ch.on_ack(f.ack);
      p.report = f.replica;
      p.report_valid = true;
      if (!f.replica.complete && phase_ == MemberPhase::kReady && !p.needs_seed && p.ch.unacked_batches() == 0)
        p.needs_seed = true;                                 // it lost or never got our bulk copy
      if (phase_ == MemberPhase::kReady) promote_windows();  // an acknowledgement opens windows at once
      if (f.seq != 0) {
        (void)p.ch.receive(f.seq, f.records, [&](const std::vector<Record>& records) { apply_records(p, records); });
        p.owe = true;
      }
      return;
    }
    default: return;
  }
}

void Member::apply_records(Peer& p, const std::vector<Record>& records) {
  for (const Record& r : records) {
    if (is_stream(r.kind)) {
      apply_stream_record(p, r);
      continue;
    }
    if (r.pool >= pools_.size() || r.unit >= pools_[r.pool]->pool->size() || plan_->owner(r.pool, r.unit) != id_) {
      ++counters_.refused_records;  // not ours in this epoch: counted and ignored
      continue;
    }
    RingItem item{static_cast<std::uint8_t>(r.kind == RecordKind::kClaim ? 1 : 0), r.pool, r.unit, r.tag, r.claim};
    route_release(item);
  }
}

void Member::apply_stream_record(Peer& p, const Record& r) {
  Replica& rp = p.replica;
  if (r.kind == RecordKind::kSeed) {
    const UsageSnapshot* s = r.seed.get();
    bool valid = s != nullptr && s->in_use.size() == pools_.size();
    for (std::size_t i = 0; valid && i < s->in_use.size(); ++i)
      for (std::uint32_t u : s->in_use[i])
        if (u >= pools_[i]->pool->size() || plan_->owner(i, u) != p.id) {
          valid = false;
          break;
        }
    if (!valid) {
      ++counters_.refused_records;
      rp.complete = false;
      return;
    }
    rp.complete = true;
    rp.of = p.inc;
    rp.seq = r.stream_seq;
    rp.words.assign(pools_.size(), {});
    rp.statics.assign(pools_.size(), ::Roaring());
    for (std::size_t i = 0; i < s->in_use.size(); ++i) {
      for (std::uint32_t u : s->in_use[i]) {
        if (pools_[i]->pool->is_static(u)) {
          rp.statics[i].add(u);
        } else {
          rp.words[i][u >> 6] |= std::uint64_t{1} << (u & 63);
        }
      }
    }
    rp.windows.clear();
    rp.held.clear();
    for (const OpenWindow& w : s->windows) {
      rp.windows.push_back({w, now_local_ + w.lease_left});
      if (options_.observer != nullptr) options_.observer->window_applied(id_, p.id, p.inc, w);
    }
    for (const HeldUnit& h : s->held) rp.held[{h.pool, h.unit}] = now_local_ + h.remaining;
    return;
  }
  if (!options_.rules.complete_replica_votes && !(rp.complete && rp.of == p.inc)) {
    // Rule switched off (tests only): a peer without a bulk copy follows the stream as if it had one.
    rp.complete = true;
    rp.of = p.inc;
    rp.words.assign(pools_.size(), {});
    rp.statics.assign(pools_.size(), ::Roaring());
    rp.seq = r.stream_seq - 1;
  }
  if (!rp.complete || !(rp.of == p.inc)) return;  // waiting for a bulk copy
  if (r.stream_seq != rp.seq + 1) {
    ++counters_.refused_records;  // a gap: the replica can no longer be trusted
    rp.complete = false;
    return;
  }
  const bool pool_ok = r.pool < pools_.size();
  const std::uint64_t units = pool_ok ? pools_[r.pool]->pool->size() : 0;
  const bool words_ok = r.kind != RecordKind::kWords || r.unit < (std::uint64_t{1} << 57);
  const std::uint64_t first = r.kind == RecordKind::kWords && words_ok ? r.unit << 6 : r.unit;
  bool ok = pool_ok && words_ok && first < units;
  if (ok && r.kind == RecordKind::kWindow)
    ok = r.end > r.unit && r.end <= units && r.end - r.unit <= plan_->block_units(r.pool) &&
         plan_->owner(r.pool, r.end - 1) == p.id;
  if (ok) ok = plan_->owner(r.pool, first) == p.id;  // a word lies in one block (blocks are >= 64 units)
  if (!ok) {
    ++counters_.refused_records;  // a record for a block its sender does not own: refused
    rp.complete = false;
    return;
  }
  rp.seq = r.stream_seq;
  const std::uint64_t hold = pools_[r.pool]->hold_down;
  switch (r.kind) {
    case RecordKind::kWindow: {
      OpenWindow w{r.pool, r.unit, r.end, r.tag, r.lease};
      rp.windows.push_back({w, now_local_ + r.lease});
      if (options_.observer != nullptr) options_.observer->window_applied(id_, p.id, p.inc, w);
      break;
    }
    case RecordKind::kWords: {
      auto& words = rp.words[r.pool];
      auto it = words.find(r.unit);
      const std::uint64_t old = it == words.end() ? 0 : it->second;
      // Units that went from in use to free without a Free record (a unit
      // given back in a close race): held down from now, to be safe.
      for (std::uint64_t freed = old & ~r.bits; hold > 0 && freed != 0; freed &= freed - 1)
        rp.held.try_emplace({r.pool, (r.unit << 6) | static_cast<std::uint64_t>(std::countr_zero(freed))},
                            now_local_ + hold);
      for (std::uint64_t taken = rp.held.empty() ? 0 : r.bits & ~old; taken != 0; taken &= taken - 1)
        rp.held.erase({r.pool, (r.unit << 6) | static_cast<std::uint64_t>(std::countr_zero(taken))});
      if (r.bits == 0) {
        if (it != words.end()) words.erase(it);
      } else {
        words[r.unit] = r.bits;
      }
      break;
    }
    case RecordKind::kAlloc:
      if (pools_[r.pool]->pool->is_static(r.unit)) rp.statics[r.pool].add(static_cast<std::uint32_t>(r.unit));
      break;
    case RecordKind::kFree:
      if (pools_[r.pool]->pool->is_static(r.unit)) {
        rp.statics[r.pool].remove(static_cast<std::uint32_t>(r.unit));
      } else {
        auto it = rp.words[r.pool].find(r.unit >> 6);
        if (it != rp.words[r.pool].end()) {
          it->second &= ~(std::uint64_t{1} << (r.unit & 63));
          if (it->second == 0) rp.words[r.pool].erase(it);
        }
        rp.held[{r.pool, r.unit}] = now_local_ + hold;
      }
      break;
    case RecordKind::kClose:
      std::erase_if(rp.windows, [&](const Replica::Win& w) { return w.w.tag == r.tag && w.w.pool == r.pool; });
      break;
    default: break;
  }
}

void Member::route_release(const RingItem& item) {
  const std::uint32_t owner = plan_->owner(item.pool, item.unit);
  if (owner == id_) {
    if (phase_ != MemberPhase::kReady) {
      if (pending_own_.size() < kPendingOwnMax) {
        pending_own_.push_back(item);
      } else {
        ++(item.op == 0 ? counters_.releases_dropped_full : counters_.claims_dropped);
      }
      return;
    }
    if (item.op == 0) {
      apply_own_release(item.pool, item.unit, item.tag, item.claim);
    } else {
      apply_own_claim(item.pool, item.unit, item.claim);
    }
    return;
  }
  Peer* p = peer(owner);
  if (p == nullptr || p->inc.generation == 0) {
    ++(item.op == 0 ? counters_.releases_dropped_gone : counters_.claims_dropped);  // no incarnation known
    return;
  }
  Record r;
  r.kind = item.op == 0 ? RecordKind::kRelease : RecordKind::kClaim;
  r.pool = item.pool;
  r.unit = item.unit;
  r.tag = item.tag;
  r.claim = item.claim;
  p->outbox.push_back(r);
}

void Member::apply_own_release(std::uint32_t pool, std::uint64_t unit, const LeaseTag& tag, std::uint64_t claim) {
  PoolState& ps = *pools_[pool];
  if (tag.generation > inc_.generation) {
    ++counters_.stale_releases;  // names an allocation no incarnation of ours made
    return;
  }
  const std::uint32_t u = static_cast<std::uint32_t>(unit);
  if (claim != 0 && ps.pool->is_static(unit)) {
    // A static claim and its release travel different paths (the session may
    // have moved): the release can arrive first. Then the claim is void.
    auto it = ps.claimed_by.find(unit);
    const bool ours = it != ps.claimed_by.end() && (it->second == claim || it->second == 0);
    if (!ours) {
      auto [b, e] = ps.waiting.equal_range(unit);
      for (auto w = b; w != e; ++w) {
        if (w->second == claim) {
          ps.waiting.erase(w);  // it never held the unit: nothing to free
          return;
        }
      }
      if (ps.overtaken.size() >= kPendingOwnMax) ps.overtaken.erase(ps.overtaken.begin());
      ps.overtaken.insert(claim);
      ++counters_.claims_overtaken;
      return;
    }
    auto next = ps.waiting.find(unit);
    if (next != ps.waiting.end()) {
      it->second = next->second;  // the claim that waited (its session's release of the old one was late)
      ps.waiting.erase(next);
      return;
    }
    ps.claimed_by.erase(it);
  }
  if (ps.pool->is_static(unit)) {
    if (ps.pool->release(*msg_workers_[pool], unit, 0) != core::UnitStatus::kOk) {
      ++counters_.double_releases;
      return;
    }
    ps.statics.remove(u);
    Record fr;
    fr.kind = RecordKind::kFree;
    fr.pool = pool;
    fr.unit = unit;
    emit_stream(fr);
    return;
  }
  if (ps.held(unit) || !ps.pool->test(unit)) {
    ++counters_.double_releases;
    return;
  }
  ps.quarantined.remove(u);
  if (ps.hold_down > 0) {
    // Held down: the bit stays set until it ends; the peers hear of the free
    // now and time the hold-down from its receipt.
    diff_word(pool, unit >> 6);  // an allocation not captured yet goes first
    ps.set_held(unit, true);
    hold_[{now_local_ + ps.hold_down, pool, unit}] = true;
    auto it = ps.mirror.find(unit >> 6);
    if (it != ps.mirror.end()) {
      it->second &= ~(std::uint64_t{1} << (unit & 63));
      if (it->second == 0) ps.mirror.erase(it);
    }
    Record fr;
    fr.kind = RecordKind::kFree;
    fr.pool = pool;
    fr.unit = unit;
    emit_stream(fr);
  } else {
    (void)ps.pool->release(*msg_workers_[pool], unit, 0);
    diff_word(pool, unit >> 6);
  }
  ps.scan_needed = true;
}

void Member::apply_own_claim(std::uint32_t pool, std::uint64_t unit, std::uint64_t claim) {
  PoolState& ps = *pools_[pool];
  if (!ps.pool->is_static(unit)) {
    ++counters_.refused_records;
    return;
  }
  if (ps.overtaken.erase(claim) != 0) return;  // its release came first: the session has ended
  const core::UnitStatus st = ps.pool->claim(*msg_workers_[pool], unit);
  if (st == core::UnitStatus::kInUse) {
    // Reported: claimed twice. Either two sessions were given this static unit
    // (UDM), or the first session's release is still on its way; the claim
    // waits and takes the unit over when that release arrives.
    ++counters_.duplicate_claims;
    if (ps.waiting.size() < kPendingOwnMax) ps.waiting.emplace(unit, claim);
    return;
  }
  if (st != core::UnitStatus::kOk) {
    ++counters_.refused_records;
    return;
  }
  ps.claimed_by[unit] = claim;
  ps.statics.add(static_cast<std::uint32_t>(unit));
  Record a;
  a.kind = RecordKind::kAlloc;
  a.pool = pool;
  a.unit = unit;
  emit_stream(a);
}

void Member::drain_rings(bool dirty_too) {
  for (auto& w : workers_) {
    w->ring_.drain([&](const RingItem& item) { route_release(item); });
    if (!dirty_too) continue;
    w->dirty_.drain([&](std::uint64_t key) {
      diff_word(static_cast<std::uint32_t>(key >> 56), key & ((std::uint64_t{1} << 56) - 1));
    });
    if (w->dirty_overflow_.exchange(false, std::memory_order_relaxed)) {
      ++counters_.dirty_overflows;
      for (std::uint32_t i = 0; i < pools_.size(); ++i) {
        std::vector<std::uint64_t> words;
        for (const auto& [word, bits] : pools_[i]->mirror) words.push_back(word);
        for (std::uint64_t word : words) diff_word(i, word);
      }
    }
  }
}

void Member::diff_word(std::uint32_t pool, std::uint64_t word) {
  PoolState& ps = *pools_[pool];
  std::uint64_t v = ps.pool->dynamic_word(word);  // seq_cst loads: see the close protocol at the top
  auto h = ps.held_words.find(word);
  if (h != ps.held_words.end()) v &= ~h->second;  // held down: the peers heard of the free already
  auto it = ps.mirror.find(word);
  const std::uint64_t old = it == ps.mirror.end() ? 0 : it->second;
  if (v == old) return;
  if (v == 0) {
    ps.mirror.erase(it);
  } else if (it == ps.mirror.end()) {
    ps.mirror.emplace(word, v);
  } else {
    it->second = v;
  }
  Record r;
  r.kind = RecordKind::kWords;
  r.pool = pool;
  r.unit = word;
  r.bits = v;
  emit_stream(r);
}

void Member::capture_window(std::uint32_t pool, WindowSlot& s) {
  const std::uint64_t b = s.begin.load(std::memory_order_relaxed);
  const std::uint64_t e = s.end.load(std::memory_order_relaxed);
  for (std::uint64_t w = b >> 6; w < (e + 63) >> 6; ++w) diff_word(pool, w);
}

void Member::sweep_words() {
  // Re-read a few mirrored words each tick: catches anything a dirty mark
  // missed (the mirror is what peers were told; the bitmap is the truth).
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    std::vector<std::uint64_t> words;
    for (auto it = ps.mirror.lower_bound(ps.sweep); it != ps.mirror.end() && words.size() < 16; ++it)
      words.push_back(it->first);
    ps.sweep = words.size() < 16 ? 0 : words.back() + 1;
    for (std::uint64_t w : words) diff_word(i, w);
  }
}

void Member::capture_allocations() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (WindowSlot& s : ps.slots) {
      const std::uint64_t ph = phase_of(s.state.load(std::memory_order_acquire));
      if (ph == kActive || ph == kExhausted) capture_window(i, s);
    }
  }
}

void Member::close_windows() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (WindowSlot& s : ps.slots) {
      std::uint64_t st = s.state.load(std::memory_order_acquire);
      const std::uint64_t ph = phase_of(st);
      if (ph == kEmpty) continue;
      const bool expired = now_local_ >= s.lease_end.load(std::memory_order_relaxed);
      if (!(expired || ph == kExhausted)) continue;
      // Workers change the word only Ready -> Active -> Exhausted; retry until Closing sticks.
      while (!s.state.compare_exchange_weak(st, with_phase(st, kClosing), std::memory_order_seq_cst,
                                            std::memory_order_seq_cst)) {
      }
      capture_window(i, s);
      Record c;
      c.kind = RecordKind::kClose;
      c.pool = i;
      c.unit = s.begin.load(std::memory_order_relaxed);
      c.tag = unpack_tag(s.tag.load(std::memory_order_relaxed));
      emit_stream(c);
      ps.scan_needed = true;
      s.state.store(((st >> 3) + 1) << 3 | kEmpty, std::memory_order_release);
    }
  }
}

std::uint32_t Member::acks_for(std::uint64_t stream_seq) const {
  std::uint32_t n = options_.rules.peers_only_quorum ? 0 : 1;
  for (const auto& [pid, p] : peers_)
    if (p->report_valid && p->report.complete && p->report.seq >= stream_seq) ++n;
  return n;
}

void Member::promote_windows() {
  for (auto& psp : pools_) {
    for (WindowSlot& s : psp->slots) {
      const std::uint64_t st = s.state.load(std::memory_order_relaxed);
      if (phase_of(st) != kPending) continue;
      if (acks_for(s.stream_seq) >= ack_quorum_) s.state.store(with_phase(st, kReady), std::memory_order_release);
    }
  }
}

void Member::reserve_windows() {
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    std::uint32_t waiting = 0, ready = 0;
    bool free_slot = false;
    for (WindowSlot& s : ps.slots) {
      const std::uint64_t ph = phase_of(s.state.load(std::memory_order_relaxed));
      if (ph == kPending || ph == kReady) ++waiting;
      if (ph == kReady) ++ready;
      if (ph == kEmpty) free_slot = true;
    }
    // Adapt how many windows wait ahead to the demand: workers that found
    // every acknowledged window taken since the last tick double it (up to
    // half the slots); windows left untouched for a whole tick shrink it back
    // towards windows_ahead. One acknowledgement round trip must cover what
    // the workers allocate meanwhile.
    if (ps.ahead == 0) ps.ahead = options_.windows_ahead;
    if (ps.starved.exchange(false, std::memory_order_relaxed)) {
      ps.ahead = std::min<std::uint32_t>(2 * ps.ahead, kSlots / 2);
    } else if (ready >= ps.ahead && ps.ahead > options_.windows_ahead) {
      --ps.ahead;
    }
    bool found_any = false;
    while (waiting < ps.ahead && free_slot && ps.scan_needed && ps.chunks > 0) {
      // Next chunk (a window-sized piece of an owned block) not open already and with a free dynamic unit.
      bool found = false;
      core::UnitRange range;
      for (std::uint64_t n = 0; n < ps.chunks && !found; ++n) {
        const std::uint64_t k = (ps.cursor + n) % ps.chunks;
        range = ps.chunk(k);
        bool open = false;
        for (WindowSlot& s : ps.slots)
          if (phase_of(s.state.load(std::memory_order_relaxed)) != kEmpty &&
              s.begin.load(std::memory_order_relaxed) == range.begin)
            open = true;
        if (open) continue;
        for (std::uint64_t u = range.begin; u < range.end && !found; ++u)
          found = !ps.pool->test(u) && !ps.pool->is_excluded(u) && !ps.pool->is_static(u);
        if (found) ps.cursor = (k + 1) % ps.chunks;
      }
      if (!found) {
        ps.scan_needed = false;  // a full lap found nothing: look again once something is freed
        break;
      }
      found_any = true;
      WindowSlot* slot = nullptr;
      for (WindowSlot& s : ps.slots)
        if (phase_of(s.state.load(std::memory_order_relaxed)) == kEmpty) {
          slot = &s;
          break;
        }
      const LeaseTag tag{inc_.generation, ++window_counter_};
      const std::uint64_t lease_end = now_local_ + options_.lease;
      slot->begin.store(range.begin, std::memory_order_relaxed);
      slot->end.store(range.end, std::memory_order_relaxed);
      slot->lease_end.store(lease_end, std::memory_order_relaxed);
      slot->tag.store(pack_tag(tag), std::memory_order_relaxed);
      Record r;
      r.kind = RecordKind::kWindow;
      r.pool = i;
      r.unit = range.begin;
      r.end = range.end;
      r.lease = options_.lease;
      r.tag = tag;
      slot->stream_seq = emit_stream(r);
      ++counters_.windows_reserved;
      if (options_.observer != nullptr)
        options_.observer->window_reserved(id_, inc_, OpenWindow{i, range.begin, range.end, tag, options_.lease},
                                           lease_end);
      const std::uint64_t st = slot->state.load(std::memory_order_relaxed);
      slot->state.store(with_phase(st, kPending), std::memory_order_release);
      ++waiting;
      free_slot = false;
      for (WindowSlot& s : ps.slots)
        if (phase_of(s.state.load(std::memory_order_relaxed)) == kEmpty) free_slot = true;
    }
    ps.exhausted.store(!found_any && waiting == 0 && !ps.scan_needed, std::memory_order_relaxed);
  }
}

void Member::expire_hold_downs() {
  while (!hold_.empty() && std::get<0>(hold_.begin()->first) <= now_local_) {
    const auto [until, pool, unit] = hold_.begin()->first;
    hold_.erase(hold_.begin());
    PoolState& ps = *pools_[pool];
    (void)ps.pool->release(*msg_workers_[pool], unit, 0);
    ps.set_held(unit, false);
    diff_word(pool, unit >> 6);  // normally nothing to tell: the free was streamed
    ps.scan_needed = true;
  }
}

std::shared_ptr<const UsageSnapshot> Member::own_snapshot() const {
  auto s = std::make_shared<UsageSnapshot>();
  s->of = inc_;
  s->stream_seq = stream_seq_;
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    ::Roaring in_use = ps.statics;
    for (const auto& [word, bits] : ps.mirror)
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        in_use.add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
    if (!options_.rules.reseed_quarantined_in_use) in_use -= ps.quarantined;
    s->in_use.push_back(std::move(in_use));
    for (const WindowSlot& w : ps.slots) {
      if (phase_of(w.state.load(std::memory_order_relaxed)) == kEmpty) continue;
      const std::uint64_t end = w.lease_end.load(std::memory_order_relaxed);
      s->windows.push_back(OpenWindow{i, w.begin.load(std::memory_order_relaxed), w.end.load(std::memory_order_relaxed),
                                      unpack_tag(w.tag.load(std::memory_order_relaxed)),
                                      end > now_local_ ? end - now_local_ : 0});
    }
  }
  for (const auto& [key, unused] : hold_) {
    const auto [until, pool, unit] = key;
    s->held.push_back({pool, unit, until > now_local_ ? until - now_local_ : 0});
  }
  return s;
}

std::shared_ptr<const UsageSnapshot> Member::replica_snapshot(const Replica& r) const {
  auto s = std::make_shared<UsageSnapshot>();
  s->of = r.of;
  s->stream_seq = r.seq;
  s->in_use.assign(pools_.size(), ::Roaring());
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    if (i < r.statics.size()) s->in_use[i] = r.statics[i];
    if (i >= r.words.size()) continue;
    for (const auto& [word, bits] : r.words[i])
      for (std::uint64_t b = bits; b != 0; b &= b - 1)
        s->in_use[i].add(static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(b))));
  }
  for (const auto& w : r.windows) {
    OpenWindow ow = w.w;
    ow.lease_left = w.until > now_local_ ? w.until - now_local_ : 0;
    s->windows.push_back(ow);
  }
  for (const auto& [key, until] : r.held)
    if (until > now_local_) s->held.push_back({key.first, key.second, until - now_local_});
  return s;
}

void Member::query_generation() {
  const std::uint32_t need =
      options_.rules.peers_only_quorum ? answer_quorum_ : (answer_quorum_ > 0 ? answer_quorum_ - 1 : 0);
  std::uint32_t complete = 0;
  std::uint32_t max_gen = 0;
  for (auto& [pid, p] : peers_) {
    if (!p->gen_answered) continue;
    max_gen = std::max(max_gen, p->gen_max);
    if (p->gen_complete) ++complete;
  }
  if (!peers_.empty() && complete >= need) {
    inc_ = Incarnation{std::max(max_gen + 1, generation_floor_), options_.nonce};
    phase_ = MemberPhase::kRecovering;
    for (auto& [pid, p] : peers_) p->last_request = 0;
    request_recovery();
    return;
  }
  if (queried_once_ && now_local_ < last_query_ + options_.retransmit) return;
  queried_once_ = true;
  last_query_ = now_local_;
  for (auto& [pid, p] : peers_) {
    // Ask again whoever has not answered, or answered without a complete
    // replica: it may hold one by now (it was itself recovering, say).
    if (p->gen_answered && p->gen_complete) continue;
    Frame f;
    f.kind = FrameKind::kGenQuery;
    f.from = id_;
    f.to = pid;
    f.from_inc = inc_;
    outgoing_.push_back(std::move(f));
  }
}

void Member::request_recovery() {
  const std::uint32_t need =
      options_.rules.peers_only_quorum ? answer_quorum_ : (answer_quorum_ > 0 ? answer_quorum_ - 1 : 0);
  std::uint32_t complete = 0;
  for (auto& [pid, p] : peers_)
    if (p->recover_answered && p->recover_complete) ++complete;
  if (complete >= need) {
    finish_recovery();
    return;
  }
  for (auto& [pid, p] : peers_) {
    if ((p->recover_answered && p->recover_complete) || p->inc.generation == 0) continue;
    if (p->last_request != 0 && now_local_ < p->last_request + options_.retransmit) continue;
    p->last_request = now_local_ + (now_local_ == 0 ? 1 : 0);
    outgoing_.push_back(frame_to(*p, FrameKind::kRecoverRequest));
  }
}

void Member::finish_recovery() {
  // The most recent replica, by (generation, stream sequence); ties: the lowest peer id (map order).
  const UsageSnapshot* best = nullptr;
  for (auto& [pid, p] : peers_) {
    if (!p->recover_answered || !p->recover_complete) continue;
    const UsageSnapshot* s = p->recover_snapshot.get();
    if (best == nullptr ||
        std::pair(s->of.generation, s->stream_seq) > std::pair(best->of.generation, best->stream_seq))
      best = s;
  }
  UsageSnapshot empty;
  empty.in_use.assign(pools_.size(), ::Roaring());
  if (best == nullptr) best = &empty;  // only when the owner counted itself (a rule switched off)
  std::vector<std::set<std::uint64_t>> touched(pools_.size());  // words to mirror
  for (std::uint32_t i = 0; i < pools_.size() && i < best->in_use.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint32_t u : best->in_use[i]) {
      if (u >= ps.pool->size() || plan_->owner(i, u) != id_ || ps.pool->is_excluded(u)) continue;
      (void)ps.pool->claim(*msg_workers_[i], u);
      if (ps.pool->is_static(u)) {
        ps.statics.add(u);
        ps.claimed_by[u] = 0;  // claim id unknown: any release of it ends it
      } else {
        touched[i].insert(u >> 6);
      }
    }
  }
  if (options_.rules.quarantine_open_windows) {
    for (const OpenWindow& w : best->windows) {
      if (w.pool >= pools_.size()) continue;
      PoolState& ps = *pools_[w.pool];
      for (std::uint64_t u = w.begin; u < w.end && u < ps.pool->size(); ++u) {
        if (ps.pool->test(u) || plan_->owner(w.pool, u) != id_ || ps.pool->is_excluded(u) || ps.pool->is_static(u))
          continue;
        (void)ps.pool->claim(*msg_workers_[w.pool], u);  // maybe in use: quarantined until an audit
        ps.quarantined.add(static_cast<std::uint32_t>(u));
        touched[w.pool].insert(u >> 6);
        ++counters_.quarantined;
      }
    }
  }
  if (options_.rules.restore_hold_down) {
    for (const HeldUnit& h : best->held) {
      if (h.pool >= pools_.size()) continue;
      PoolState& ps = *pools_[h.pool];
      if (h.unit >= ps.pool->size() || ps.pool->test(h.unit) || plan_->owner(h.pool, h.unit) != id_ ||
          ps.pool->is_excluded(h.unit) || ps.pool->is_static(h.unit))
        continue;
      (void)ps.pool->claim(*msg_workers_[h.pool], h.unit);  // not allocatable until its hold-down ends
      ps.set_held(h.unit, true);
      hold_[{now_local_ + h.remaining, h.pool, h.unit}] = true;
    }
  }
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    PoolState& ps = *pools_[i];
    for (std::uint64_t word : touched[i]) {
      std::uint64_t v = ps.pool->dynamic_word(word);
      auto h = ps.held_words.find(word);
      if (h != ps.held_words.end()) v &= ~h->second;
      if (v != 0) ps.mirror[word] = v;
    }
  }
  stream_seq_ = 0;
  for (auto& [pid, p] : peers_) {
    p->needs_seed = true;  // the re-seed: our rebuilt state, quarantined units in use
    p->recover_snapshot.reset();
  }
  phase_ = MemberPhase::kReady;
  ready_.store(true, std::memory_order_release);  // the rebuilt bitmap happens-before any direct release
  std::vector<RingItem> pending;
  pending.swap(pending_own_);
  for (const RingItem& item : pending) route_release(item);
}

void Member::flush() {
  for (auto& [pid, pp] : peers_) {
    Peer& p = *pp;
    bool sent = false;
    if (p.inc.generation != 0 && inc_.generation != 0) {
      if (phase_ == MemberPhase::kReady && p.needs_seed && p.ch.unacked_records() <= p.ch.capacity() / 2) {
        std::erase_if(p.outbox, [](const Record& r) { return is_stream(r.kind); });  // the seed covers them
        Record seed;
        seed.kind = RecordKind::kSeed;
        seed.stream_seq = stream_seq_;
        seed.seed = own_snapshot();
        if (p.ch.push({std::move(seed)}) != 0) {
          p.needs_seed = false;
          ++counters_.seeds_sent;
        }
      }
      if (!p.outbox.empty()) {
        if (p.ch.push(p.outbox) == 0) {
          bool stream = false;
          for (const Record& r : p.outbox) {
            if (r.kind == RecordKind::kRelease) ++counters_.releases_dropped_full;
            if (r.kind == RecordKind::kClaim) ++counters_.claims_dropped;
            if (is_stream(r.kind)) stream = true;
          }
          if (stream && !p.needs_seed) {
            p.needs_seed = true;  // stale: a bulk copy later
            ++counters_.stale_peers;
          }
        }
        p.outbox.clear();
      }
      p.ch.due(now_local_, options_.retransmit, [&](std::uint64_t seq, const std::vector<Record>& records) {
        Frame f = frame_to(p, FrameKind::kData);
        f.seq = seq;
        f.records = records;
        outgoing_.push_back(std::move(f));
        sent = true;
      });
    }
    if (sent || p.owe || !p.greeted || now_local_ >= p.last_sent + options_.heartbeat) {
      if (!sent && inc_.generation != 0) {
        outgoing_.push_back(frame_to(p, FrameKind::kData));
        p.greeted = true;  // the first heartbeat goes out at once: peers learn our incarnation
      }
      p.last_sent = now_local_;
      p.owe = false;
    }
  }
}

void Member::supersede() {
  phase_ = MemberPhase::kSuperseded;
  ready_.store(false, std::memory_order_release);
  ++counters_.superseded;
  for (auto& ps : pools_) {
    for (WindowSlot& slot : ps->slots) {
      // Workers change the word only Ready -> Active -> Exhausted; Closing sticks and stops them.
      std::uint64_t st = slot.state.load(std::memory_order_acquire);
      while (phase_of(st) != kEmpty &&
             !slot.state.compare_exchange_weak(st, with_phase(st, kClosing), std::memory_order_seq_cst,
                                               std::memory_order_seq_cst)) {
      }
    }
  }
  outgoing_.clear();
  for (auto& [pid, p] : peers_) {
    p->outbox.clear();
    p->ch.reset();
  }
}

void Member::on_tick(std::uint64_t now) {
  if (phase_ == MemberPhase::kSuperseded) return;
  if (now > now_local_) {
    now_local_ = now;
    now_.store(now_local_, std::memory_order_relaxed);
  }
  if (phase_ == MemberPhase::kQueryingGeneration) query_generation();
  if (phase_ == MemberPhase::kRecovering) request_recovery();
  const bool stream = options_.stream_interval == 0 || now_local_ >= last_stream_ + options_.stream_interval;
  if (stream) last_stream_ = now_local_;
  drain_rings(stream);
  if (phase_ == MemberPhase::kReady) {
    if (stream) {
      capture_allocations();
      sweep_words();
    }
    close_windows();
    expire_hold_downs();
    promote_windows();
    reserve_windows();
  }
  std::uint64_t undone = 0, full = 0, doubles = 0, refused = 0;
  for (auto& w : workers_) {
    undone += w->undone_.load(std::memory_order_relaxed);
    full += w->ring_full_.load(std::memory_order_relaxed);
    doubles += w->double_.load(std::memory_order_relaxed);
    refused += w->refused_.load(std::memory_order_relaxed);
  }
  counters_.refused_records += refused - hot_refused_seen_;  // releases naming no unit of any pool
  hot_refused_seen_ = refused;
  counters_.double_releases += doubles - direct_doubles_seen_;
  direct_doubles_seen_ = doubles;
  counters_.undone_allocations = undone;
  counters_.releases_ring_full = full;
  for (auto& [pid, p] : peers_) std::erase_if(p->replica.held, [&](const auto& kv) { return kv.second <= now_local_; });
  flush();
}

std::vector<Frame> Member::take_outgoing() {
  std::vector<Frame> out;
  out.swap(outgoing_);
  return out;
}

const char* Member::not_ready_reason() const noexcept {
  switch (phase_) {
    case MemberPhase::kQueryingGeneration:
      return peers_.empty() ? "restarted with no peers: rebuild from the session store"
                            : "waiting for R peers with a complete replica of this member to state its generation";
    case MemberPhase::kRecovering: return "waiting for R peers with a complete replica to send it";
    case MemberPhase::kReady: return "";
    case MemberPhase::kSuperseded: return "superseded by a newer incarnation of this member: restart it";
  }
  return "";
}

bool Member::in_use(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && pools_[pool]->pool->test(unit);
}
bool Member::quarantined(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && pools_[pool]->quarantined.contains(static_cast<std::uint32_t>(unit));
}
bool Member::held_down(std::uint32_t pool, std::uint64_t unit) const noexcept {
  return pool < pools_.size() && pools_[pool]->held(unit);
}
bool Member::has_complete_replica(std::uint32_t owner) const noexcept {
  auto it = peers_.find(owner);
  return it != peers_.end() && it->second->replica.complete;
}
MemberView Member::view() const {
  MemberView v;
  v.phase = phase_;
  v.not_ready_reason = not_ready_reason();
  v.incarnation = inc_;
  v.stream_seq = stream_seq_;
  v.ack_quorum = ack_quorum_;
  v.answer_quorum = answer_quorum_;
  v.counters = counters_;
  static constexpr const char* kNames[] = {"empty", "pending", "ready", "active", "exhausted", "closing", "?", "?"};
  for (std::uint32_t i = 0; i < pools_.size(); ++i) {
    const PoolState& ps = *pools_[i];
    MemberView::PoolFacts pf;
    for (const auto& r : ps.owned) {
      pf.owned_units += r.size();
      for (std::uint64_t u = r.begin; u < r.end; ++u) pf.in_use += ps.pool->test(u) ? 1 : 0;
    }
    pf.quarantined = ps.quarantined.cardinality();
    for (const auto& [word, bits] : ps.held_words) pf.held_down += static_cast<std::uint64_t>(std::popcount(bits));
    v.pools.push_back(pf);
    for (const WindowSlot& w : ps.slots) {
      const std::uint64_t ph = phase_of(w.state.load(std::memory_order_acquire));
      if (ph == kEmpty) continue;
      v.windows.push_back({i, w.begin.load(std::memory_order_relaxed), w.end.load(std::memory_order_relaxed),
                           unpack_tag(w.tag.load(std::memory_order_relaxed)),
                           w.lease_end.load(std::memory_order_relaxed), kNames[ph]});
    }
  }
  for (const auto& [pid, p] : peers_) {
    MemberView::PeerFacts f;
    f.id = pid;
    f.incarnation = p->inc;
    f.replica_complete = p->replica.complete;
    f.replica_of = p->replica.of;
    f.replica_seq = p->replica.seq;
    f.replica_open_windows = p->replica.windows.size();
    f.acks_us = p->report_valid && p->report.complete;
    f.acked_seq = p->report.seq;
    f.unacked_records = p->ch.unacked_records();
    f.needs_seed = p->needs_seed;
    v.peers.push_back(f);
  }
  return v;
}

std::size_t Member::open_windows() const noexcept {
  std::size_t n = 0;
  for (const auto& ps : pools_)
    for (const WindowSlot& s : ps->slots)
      if (phase_of(s.state.load(std::memory_order_relaxed)) != kEmpty) ++n;
  return n;
}

}  // namespace uepool::set
