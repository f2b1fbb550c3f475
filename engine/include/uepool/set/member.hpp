// uepool/set/member.hpp — one SMF's side of the set protocol (DESIGN.md section 2).
//
// Overview
//   A Member owns the blocks the Plan gives it, allocates only inside windows
//   a quorum of its peers acknowledged, replicates its own usage to every
//   peer (and keeps a replica of every peer's), and rebuilds itself after a
//   restart from the most recent of `R` complete replicas. No sockets, no
//   threads of its own, no clock: time is the `now` passed in.
//
//     MemberOptions opt;  opt.id = 1; opt.plan = plan; opt.pools = {cfg};
//     opt.fresh = true;   // the set's very first start: nothing in use
//     auto m = Member::create(opt);               // Result<unique_ptr<Member>>
//     Member::Worker* w = m.value()->create_worker();     // one per SMF thread
//     MemberAllocation a = m.value()->allocate(*w, 0);    // kOk / kNoneFree / kNotReady
//     m.value()->release(*w, a.lease);             // at any member, never fails
//     // the message thread, concurrently with the hot path:
//     m.value()->on_frame(frame, now); m.value()->on_tick(now);
//     for (Frame& f : m.value()->take_outgoing()) send(f);
//
// Threading: allocate / release / claim are called from many threads at once,
//   each through its own Worker. on_frame / on_tick / take_outgoing /
//   set_membership / view are called by one thread at a time (the message
//   thread), concurrently with the hot path. The two sides meet only in
//   window slots (an atomic state word each) and in per-worker release rings
//   (single producer, single consumer); see member.cpp for the invariants.
//
// The usage stream: each owner streams, in its own sequence per incarnation,
//   its windows (reserved, closed), the in-use bits of changed 64-unit words
//   (read by the message thread from the bitmap: windows at close and every
//   stream_interval, words its workers released, a slow sweep), frees with a
//   hold-down, and static claims. A release of an own dynamic unit with no
//   hold-down is done on the hot path (the word is marked dirty); every other
//   release and every claim goes through the worker's ring to the message thread.
//
// The audit and the rebuild (member_audit.cpp): with a SessionStore, an
//   owner reconciles its blocks against the held list the embedding reads
//   from its session store (periodically, or audit_now): a unit in use at
//   the audit's start, never freed since, and absent from two reads at least
//   audit_grace later is freed (its allocation ended: later releases of it
//   are stale) and held down for a lease (at least). A restarted
//   member whose replicas are lost (more than p - R peers hold none) takes
//   a new generation, waits until R peers fenced its older incarnations and
//   a lease has passed, and rebuilds from the held list; a whole-set cold
//   start ends with every member ready. With a GenerationStore the
//   generation survives restarts (a rebuild cannot reuse one).
//
// Re-division (member_redivision.cpp; docs/redivision.md has the hazards):
//   the set's members are fixed (a plan's members, by id); an epoch changes
//   their weights. A join gives a standby member (weight 0: a peer that owns
//   nothing) a weight, a leave sets one to 0, so the peers and the quorums
//   never change. Epochs are numbered consecutively and applied in order;
//   set_membership hands the member a newer one (the configuration, or the
//   NRF). A transition from epoch e to e + 1 at a member:
//     1. Fence: once the member's own takes of epoch e are acknowledged by A
//        peers (and its mark of e is), it closes every window in a block it
//        loses (the close protocol streams every allocation there), streams
//        Epoch{e + 1}, switches the hot path's owner table and forwards
//        later releases of lost blocks to their new owner. It keeps the
//        lost blocks' usage, frozen, in its stream's state.
//     2. Handover: once A peers acknowledged that mark (any recovery of this
//        member will see it), it streams Handover{e + 1}.
//     3. Take: a block it gains is taken once its previous owner's Handover
//        (or a later epoch) is in this member's complete replica of it: the
//        block's in-use, held-down and claimed units are marked in use here
//        (a dynamic unit as restored: its release follows the rules for an
//        older incarnation's allocation), streamed, then Take{pool, block}.
//        Releases of it wait until then. Windows there follow in the stream,
//        so they are acknowledged only by replicas holding the taking.
//        Every earlier owner of the block must have handed it over too (a
//        previous owner that rebuilt jumped epochs without taking it), and
//        the units in use in their frozen copies are taken in use as well.
//   A restarted member recovers its epoch, pending takes and frozen blocks
//   from its replica and takes again what its stream did not show taken.
//   A member gone for good is retired by the operator in an epoch
//   (MemberSpec::retired, weight 0; retired for good): its frames are
//   dropped, and a block gained from it is taken from the session store
//   (the units listed there under the epoch it owned the block in) a lease
//   and the store's grace after nobody else could allocate there
//   (take_retired). The quorums stay: a retired peer counts as one without
//   replicas and as one that fences us, so each member needs A peers that
//   run (set_membership refuses a plan that retires more).
//   Known limits: retiring is the operator's word that the member will
//   never run again (stopped, its host fenced); a retired member that does
//   run is fenced by every member that knows the epoch, but one that does
//   not know it yet may still acknowledge its windows. A block that comes back to a member keeps the serials
//   it had there, moved on by one (member_redivision.cpp); a unit restored
//   there and freed since starts again at 0, like a restored unit after a
//   restart: a repeat of a release of that member's allocation made with
//   serial 0 before the block left is refused only if it arrives within the
//   release_repeat_window contract.
//
// Bulk copies are one frame each; the wire layer cuts a frame above 64 KiB
//   into fragments (wire/codec.hpp), up to 16 MiB a message.
//
// Stale releases: every allocation of an own dynamic unit carries the
//   unit's 4-bit allocation serial in its lease (detail/unit_serials.hpp);
//   a release ends the allocation only if the serial is still the unit's
//   (one CAS, on the hot path too), so a duplicate release, a release
//   repeated by the SMF that took the session over, or a late one after an
//   audit ended the allocation is refused and counted (stale_releases),
//   never frees the unit under its next holder. A wrapping serial holds its
//   unit for release_repeat_window. After a restart the serials of older
//   incarnations are gone: a restored unit's release waits for one read of
//   the session store and must then name the lease it lists
//   (Rules::restored_releases_exact); without a session store, any release
//   of an older incarnation's allocation ends a restored unit's.
//
// Known limits:
//   * A repeat of a release that reaches the owner more than
//     release_repeat_window after the owner applied the first, and after the
//     unit's serial wrapped, may be taken for the current allocation's: the
//     window is a contract with the embedding (as TCP's maximum segment
//     lifetime is with the network).
//   * Without a GenerationStore, a member whose every peer lost its memory
//     too (a whole-set restart) may take a generation an earlier incarnation
//     had; a zombie of that incarnation is then a twin (first seen wins).
//     (Its leases stay apart: a lease names the incarnation's nonce too.)
//     The zombie re-seed hazard (an old incarnation bulk-copying older state
//     to a restarted peer, every holder of the newer state gone) is closed
//     only with the GenerationStore: the most recent replica R peers offer
//     is older than the last incarnation saved, so the member rebuilds
//     from the session store instead (Rules::replica_not_older; scripted as
//     counterexample 9 in tests/sim/counterexample_test.cpp, open without the floor).
//   * An audit frees no unit of a word in which a worker freed a unit since
//     the audit started (direct releases report words, not units): in a busy
//     word a leaked unit waits for a later audit. Units a worker cannot
//     release (a full ring) stay leaked until an audit.
//   * A held list that names a unit this member does not own is refused
//     whole (counted, the reason is the not-ready reason while rebuilding).
//   * Without a SessionStore, the unconfirmed units of the windows a member
//     had open when it restarted stay quarantined for good (no audit frees
//     them). windows_ahead grows while workers starve, so those windows can
//     cover every block the member owns: a restarted member then has no
//     unit to hand out. Seen in tests/transport/member_over_zmq_test.cpp
//     before it was given a store. A deployment needs the store.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/core/pool.hpp"
#include "uepool/set/channel.hpp"
#include "uepool/set/messages.hpp"
#include "uepool/set/plan.hpp"

namespace uepool::set {

class PlanBook;  // set/replica.hpp
class Replica;   // set/replica.hpp

// Lease — what the embedding stores with the session and passes to release.
struct Lease {
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  LeaseTag tag;
  std::uint64_t claim = 0;  // static claims: names the claim (its release may overtake it on the way to the owner)
  // serial — which allocation of the unit this is (4 bits; dynamic units):
  // a release naming an ended allocation is refused (detail/unit_serials.hpp).
  std::uint8_t serial = 0;
  // nonce — the owner incarnation's nonce (dynamic units): after a restart
  // that had to reuse a generation (every memory of it lost, the disk too),
  // an older lease of that generation is still told from a current one.
  std::uint64_t nonce = 0;
  friend bool operator==(const Lease&, const Lease&) = default;
};

enum class MemberStatus : std::uint8_t {
  kOk,
  kNoneFree,    // every unit this member owns in the pool is in use
  kNotReady,    // recovering, or no window acknowledged yet (replication stalled)
  kNoSuchPool,  // a pool index beyond the configuration
  kNotStatic,   // claim: the unit is not in a static range
  kOutOfRange,  // claim: the unit is beyond the pool
};
const char* member_status_name(MemberStatus s) noexcept;

struct MemberAllocation {
  MemberStatus status = MemberStatus::kNotReady;
  Lease lease;
  [[nodiscard]] bool ok() const noexcept { return status == MemberStatus::kOk; }
};

// Observer — what the simulator's checker sees (null in production).
class Member;

class Observer {
 public:
  virtual ~Observer() = default;
  // A peer applied `owner`'s window record (it now acknowledges it).
  virtual void window_applied(std::uint32_t peer, std::uint32_t owner, const Incarnation& owner_inc,
                              const OpenWindow& w) = 0;
  // The owner reserved a window; its lease ends at `lease_end` (the owner's clock).
  virtual void window_reserved(std::uint32_t owner, const Incarnation& inc, const OpenWindow& w,
                               std::uint64_t lease_end) = 0;
  // The owner freed one of its units in its bitmap (a release applied, a
  // hold-down ended): from now on it may hand the unit out again. Called on
  // the thread that freed it (a worker, for a direct release). Checkers use
  // it to catch a wrong free the moment it happens.
  virtual void unit_freed(const Member& owner, std::uint32_t pool, std::uint64_t unit) {
    (void)owner, (void)pool, (void)unit;
  }
};

// SessionStore — what the embedding reads from its session store (the set's
// UDSF, the ground truth of which session holds which unit). The audit and
// the rebuild call it on the message thread.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // read_held — append the lease of every stored session's unit that member
  // `owner` owns under `plan` (dynamic and static units). A session whose
  // allocation is not stored yet is absent: the member allows for that with
  // MemberOptions::audit_grace. false: the store cannot be read now (the
  // member tries again later; nothing changes meanwhile).
  virtual bool read_held(std::uint32_t owner, const Plan& plan, std::vector<Lease>& out) = 0;
};

// GenerationStore — the member's highest generation, kept where it survives
// a restart (the node keeps it in a file). A new incarnation takes a
// generation above it and saves that before it uses it.
class GenerationStore {
 public:
  virtual ~GenerationStore() = default;
  // load — the highest generation saved (0: none, e.g. a new or wiped disk).
  virtual std::uint32_t load() = 0;
  // save — false: not saved (the member does not use the generation; it retries).
  virtual bool save(std::uint32_t generation) = 0;
};

namespace detail {
class UnitSerials;  // detail/unit_serials.hpp

// Rules — each protocol rule the model check found necessary, switchable
// only so that tests can show each one matters. Production leaves all on.
struct Rules {
  bool peers_only_quorum = true;              // window acks: the owner never counts itself
  bool peers_only_answers = true;             // recovery and generation query: R answers from peers, never R - 1
  bool complete_replica_votes = true;         // only a complete replica acks or answers
  bool quarantine_open_windows = true;        // unconfirmed units of open windows are quarantined
  bool restore_hold_down = true;              // recovery restores remaining hold-downs
  bool reseed_quarantined_in_use = true;      // the re-seed shows quarantined units in use
  bool fence_old_incarnations = true;         // frames of an older incarnation are dropped
  bool releases_die_with_incarnation = true;  // releases queued for an incarnation are dropped when it is replaced
  bool audit_grace = true;                    // the audit's first read comes audit_grace after its start
  bool audit_skip_freed_words = true;         // the audit never frees a unit freed since it started
  bool stale_release_check = true;            // a release must name the unit's current allocation (its serial)
  bool rebuild_lease_wait = true;             // a rebuild reads the store only after older incarnations' leases ended
  bool rebuild_fence_quorum = true;       // ... counted from when R peers know the new incarnation (fenced older ones)
  bool restored_releases_exact = true;    // after a restart, an older allocation's release waits for a store read
                                          // and must then name the lease it lists for the unit (if it lists one)
  bool replica_not_older = true;          // a replica older than our last saved incarnation is not recovered from
  bool take_after_handover = true;        // a block is taken only after its previous owner's handover mark
  bool retired_take_waits = true;         // a retired member's block is taken from the store only after a lease
                                          // and the store's grace (its last sessions stored)
  bool take_after_earlier_owners = true;  // ... and after every earlier owner of the block handed it over, with
                                          // their frozen copies' units in use too (a rebuilt previous owner)
  bool returning_keeps_own = true;        // a block coming back keeps the units in use in our own frozen copy
};
// rule_names — every switch of Rules, by its field name; switch_off — turn
// one off by name (false: no such rule). For tests and `uepool sim --rule-off`.
const std::vector<const char*>& rule_names();
bool switch_off(Rules& rules, std::string_view name);
}  // namespace detail

struct MemberOptions {
  std::uint32_t id = 0;
  // plan — the newest membership epoch's plan; history — earlier epochs'
  // plans the embedding knows (optional: a member also learns them from its
  // peers' epoch marks). Every plan names the same members.
  std::shared_ptr<const Plan> plan;
  std::vector<std::shared_ptr<const Plan>> history;
  std::vector<core::PoolConfig> pools;  // in the plan's order; hold_down is applied by the member
  bool fresh = false;                   // the set's first start (generation 1, nothing in use)
  std::uint64_t nonce = 0;              // random, from the embedding: tells incarnations apart
  std::uint32_t ack_quorum = 0;         // A; 0 = ceil(p/2)
  std::uint32_t answer_quorum = 0;      // R; 0 = p - A + 1
  std::uint64_t window_units = 64;      // per window (power of two; capped at the block size)
  std::uint64_t lease = 10'000;         // a window's lease, from the reservation
  std::uint32_t windows_ahead = 2;      // windows kept reserved per pool beyond the active ones
  std::uint64_t retransmit = 40;        // channel retransmission timeout
  std::uint64_t heartbeat = 25;         // a frame to every peer at least this often
  // stream_interval — how often the message thread reads the allocation
  // windows and released words to stream them (0 = every tick). Reading a
  // word a worker is writing costs that worker a cache miss, so not too
  // often; unstreamed allocations are safe (their window is open in every
  // replica, and recovery quarantines it), only a crash then leaks more.
  std::uint64_t stream_interval = 0;
  std::size_t channel_capacity = 4096;  // unacknowledged records per peer
  std::size_t release_ring = 4096;      // per worker: releases and claims waiting for the message thread
  std::uint32_t max_workers = 64;
  // The session store (null: no audit, and a member whose replicas are lost
  // stays not ready until an operator restores them).
  SessionStore* store = nullptr;
  // audit_interval — how often an audit starts (0: only when asked, audit_now).
  std::uint64_t audit_interval = 0;
  // audit_grace — the embedding's longest time between allocate returning and
  // the session being stored: a unit allocated this recently may be absent
  // from the store although a session holds it.
  std::uint64_t audit_grace = 0;
  // release_repeat_window — the longest time from an owner applying a
  // release to a repeat of it reaching the owner: the embedding's duplicate,
  // or a release repeated by the SMF that took the session over, with the
  // time it spends on the way. A unit whose 4-bit allocation serial wraps
  // stays in use this long, so that no repeat of an allocation 14 back can
  // be taken for the current one (detail/unit_serials.hpp). Costs: 1 in 14
  // releases of a unit keeps it out of use this long.
  std::uint64_t release_repeat_window = 30'000;
  // The highest generation, durably (null: only peers remember generations;
  // see Known limits).
  GenerationStore* generations = nullptr;
  Observer* observer = nullptr;
  detail::Rules rules;
};

// kSuperseded: a newer incarnation of this member exists (a peer addressed
// one); this one stops for good — the embedding should restart it.
// kRebuilding: too many peers answered that they hold no complete replica of
// this member for R ever to answer; it rebuilds its blocks from the session
// store instead (member_audit.cpp).
// kRetired: a membership epoch retires this member (MemberSpec::retired): it
// stops for good, and its peers drop its frames — do not restart it.
enum class MemberPhase : std::uint8_t { kQueryingGeneration, kRecovering, kRebuilding, kReady, kSuperseded, kRetired };

// MemberCounters — everything the member counts (read on the message thread).
struct MemberCounters {
  std::uint64_t releases_forwarded = 0;  // releases of another owner's unit, queued on the channel to it
  std::uint64_t releases_received = 0;   // releases a peer forwarded to us (before any check)
  // releases_applied — releases that ended an allocation here on the message
  // thread (forwarded ones, and own ones that need it: a hold-down, a static
  // unit, a restored unit). Direct releases on the hot path are not counted.
  std::uint64_t releases_applied = 0;
  std::uint64_t releases_dropped_full = 0;      // the owner's channel was full
  std::uint64_t releases_dropped_gone = 0;      // addressed to an incarnation that is gone
  std::uint64_t releases_to_gone_received = 0;  // arrived here addressed to an older incarnation of us
  std::uint64_t releases_ring_full = 0;         // a worker's ring was full
  std::uint64_t double_releases = 0;
  std::uint64_t stale_releases = 0;     // a release naming an ended allocation (not the unit's current one)
  std::uint64_t releases_deferred = 0;  // an older incarnation's allocation, released before the restart's store read
  std::uint64_t duplicate_claims = 0;
  std::uint64_t claims_dropped = 0;      // a static claim that could not reach its owner (its record only)
  std::uint64_t claims_overtaken = 0;    // a static release arrived before its claim: the claim is void
  std::uint64_t refused_records = 0;     // for units the sender does not own, or malformed
  std::uint64_t fenced_frames = 0;       // from an older incarnation
  std::uint64_t duplicate_batches = 0;   // a channel batch already delivered (a retransmission or a replay)
  std::uint64_t refused_batches = 0;     // a channel batch too far ahead of the next one expected
  std::uint64_t incarnation_alarms = 0;  // same generation, another nonce
  std::uint64_t stale_peers = 0;         // times a peer's buffer overflowed
  std::uint64_t seeds_sent = 0;
  std::uint64_t quarantined = 0;  // units quarantined at recovery
  std::uint64_t windows_reserved = 0;
  std::uint64_t undone_allocations = 0;  // a worker raced a closing window and gave the unit back
  // window_waits — allocations refused kNotReady because no open window had
  // room: the member was recovering, its windows were not acknowledged yet
  // (replication stalled), or the message thread had not reserved the next
  // ones in time. Summed over the workers at each tick.
  std::uint64_t window_waits = 0;
  std::uint64_t dirty_overflows = 0;  // a worker's dirty-word ring was full: a full sweep followed
  std::uint64_t superseded = 0;       // 1 once a newer incarnation of this member was seen
  std::uint64_t refused_plans = 0;    // set_membership: an older epoch, or another plan for the current one
  // Re-division.
  std::uint64_t transitions = 0;        // epochs this incarnation moved to
  std::uint64_t blocks_moved = 0;       // blocks taken from their previous owner
  std::uint64_t blocks_lost = 0;        // blocks frozen for their next owner
  std::uint64_t units_handed_over = 0;  // units in use in the blocks taken
  std::uint64_t requests_parked = 0;    // releases and claims for a block not ours yet (waiting for an epoch or a take)
  // blocks_taken_retired — of blocks_moved, taken from the session store
  // because their previous owner is retired (it hands nothing over).
  std::uint64_t blocks_taken_retired = 0;
  std::uint64_t retired_frames = 0;  // frames from a retired member, dropped
  // The audit (leak repair against the session store).
  std::uint64_t audits = 0;                   // audits finished
  std::uint64_t audit_freed = 0;              // units freed: in use here, held by no stored session (two reads)
  std::uint64_t audit_freed_quarantined = 0;  // ... of them, quarantined at a recovery
  std::uint64_t audit_kept_recent = 0;        // candidates kept: their word was freed since the audit started
  std::uint64_t audit_refused_lists = 0;      // a held list naming a unit this member does not own
  std::uint64_t audit_duplicates = 0;         // a unit listed twice in one held list (two sessions hold it)
  std::uint64_t audit_store_unreadable = 0;   // read_held said false
  std::uint64_t audit_aborted = 0;            // a dirty-word overflow: which words were freed is unknown
  std::uint64_t rebuilds = 0;                 // rebuilt from the session store (replicas lost)
  std::uint64_t generation_save_failures = 0;
};

// MemberView — a read-only picture of a member for checks and metrics (a copy,
// taken on the message thread).
struct MemberView {
  MemberPhase phase = MemberPhase::kQueryingGeneration;
  const char* not_ready_reason = "";
  Incarnation incarnation;
  std::uint64_t stream_seq = 0;
  std::uint32_t ack_quorum = 0;
  std::uint32_t answer_quorum = 0;
  std::uint64_t epoch = 0;         // the membership epoch this member's stream is in
  std::uint64_t target_epoch = 0;  // the newest it was given
  std::size_t pending_blocks = 0;  // gained in `epoch`, not taken yet
  std::size_t frozen_blocks = 0;   // lost, their usage kept for the taker
  bool handover = false;           // its mark of `epoch` is acknowledged
  const char* epoch_wait = "";     // why it does not move towards target_epoch now ("" when it does)
  MemberCounters counters;
  struct Window {
    std::uint32_t pool = 0;
    std::uint64_t begin = 0, end = 0;
    LeaseTag tag;
    std::uint64_t lease_end = 0;
    const char* state = "";  // "pending" (waiting for acks), "ready", "active", "exhausted", "closing"
  };
  std::vector<Window> windows;
  struct PoolFacts {
    std::uint64_t owned_units = 0;
    std::uint64_t in_use = 0;        // owned dynamic and static units in use (held-down included)
    std::uint64_t quarantined = 0;   // since the last recovery (some may be released since)
    std::uint64_t held_down = 0;     // hold-downs the message thread is timing
    std::uint64_t wrap_held = 0;     // units whose allocation serial wrapped, out of use for the repeat window
    std::uint64_t serial_bytes = 0;  // the allocation serials' memory (4 bits a unit, in pages made as needed)
    std::uint64_t listed = 0;        // restored units whose listed lease is kept since the restart's store read
  };
  std::vector<PoolFacts> pools;
  struct PeerFacts {
    std::uint32_t id = 0;
    Incarnation incarnation;        // the highest seen
    bool replica_complete = false;  // our replica of its usage
    Incarnation replica_of;
    std::uint64_t replica_seq = 0;
    std::size_t replica_open_windows = 0;
    bool acks_us = false;  // its last report: a complete replica of our current incarnation
    std::uint64_t acked_seq = 0;
    std::size_t unacked_records = 0;  // our channel to it
    std::uint64_t retransmitted = 0;  // batches our channel to it sent again (this incarnation's channel)
    bool needs_seed = false;          // a bulk copy is due (new, restarted or stale)
  };
  std::vector<PeerFacts> peers;
};

class Member {
 public:
  class Worker;

  static Result<std::unique_ptr<Member>> create(const MemberOptions& options);
  ~Member();
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;

  // --- hot path (any thread, through its own Worker) ---
  // create_worker — a handle for one hot-path thread, owned by the member.
  // A message-side call (or before the hot path starts); at most max_workers.
  Worker* create_worker();
  MemberAllocation allocate(Worker& w, std::uint32_t pool) noexcept;
  // allocate_dual — an IPv4 unit and an IPv6 unit, all or nothing.
  std::pair<MemberAllocation, MemberAllocation> allocate_dual(Worker& w, std::uint32_t pool_a,
                                                              std::uint32_t pool_b) noexcept;
  // release — end an allocation, at any member. Never fails, never blocks:
  // a release that cannot be delivered is dropped and counted (a leak, never a conflict).
  void release(Worker& w, const Lease& lease) noexcept;
  // claim — a static unit (from UDM), at any member: accepted at once; the
  // owner records it and counts a duplicate.
  MemberStatus claim(Worker& w, std::uint32_t pool, std::uint64_t unit, Lease* lease) noexcept;

  // --- message side (one thread at a time) ---
  void on_frame(const Frame& frame, std::uint64_t now);
  void on_tick(std::uint64_t now);
  std::vector<Frame> take_outgoing();
  // set_membership — a newer membership epoch (re-division, above): the
  // member moves to it, through every epoch between, in order. Refused and
  // counted: an older epoch than the newest given, a different plan for an
  // epoch known, other members or other pools.
  Status set_membership(const std::shared_ptr<const Plan>& plan);
  [[nodiscard]] std::uint64_t epoch() const noexcept { return plan_->epoch(); }
  [[nodiscard]] std::uint64_t target_epoch() const noexcept { return target_epoch_; }
  // settled — at the newest epoch given, every gained block taken, the marks acknowledged.
  [[nodiscard]] bool settled() const noexcept;
  // audit_now — start an audit at the next tick (if none is running and the
  // member is ready); kFailedPrecondition without a session store.
  Status audit_now();
  // auditing — an audit is running, or units it freed are still held down.
  [[nodiscard]] bool auditing() const noexcept;

  // --- introspection (message thread) ---
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }
  [[nodiscard]] MemberPhase phase() const noexcept { return phase_; }
  [[nodiscard]] bool ready() const noexcept { return phase_ == MemberPhase::kReady; }
  // snapshot — this member's usage of its own blocks, as it would seed a
  // peer (message thread; the node's debug dump).
  [[nodiscard]] std::shared_ptr<const UsageSnapshot> snapshot() const { return own_snapshot(); }
  [[nodiscard]] const char* not_ready_reason() const noexcept;
  [[nodiscard]] const Incarnation& incarnation() const noexcept { return inc_; }
  [[nodiscard]] const MemberCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::uint32_t ack_quorum() const noexcept { return ack_quorum_; }
  [[nodiscard]] std::uint32_t answer_quorum() const noexcept { return answer_quorum_; }
  [[nodiscard]] std::size_t pool_count() const noexcept { return pools_.size(); }
  // in_use — the owner's view of its own unit (in use, quarantined or held down).
  [[nodiscard]] bool in_use(std::uint32_t pool, std::uint64_t unit) const noexcept;
  [[nodiscard]] bool quarantined(std::uint32_t pool, std::uint64_t unit) const noexcept;
  [[nodiscard]] bool held_down(std::uint32_t pool, std::uint64_t unit) const noexcept;
  // has_complete_replica — this member holds a complete replica of `owner`.
  [[nodiscard]] bool has_complete_replica(std::uint32_t owner) const noexcept;
  [[nodiscard]] std::size_t open_windows() const noexcept;
  // starving — a worker found no acknowledged window since the last tick: an
  // event loop that ticks on a timer may tick now instead (windows are
  // reserved and acknowledged sooner). Any thread; a relaxed hint.
  [[nodiscard]] bool starving() const noexcept;
  // plan — the plan of the membership epoch this member's stream is in.
  [[nodiscard]] const Plan& plan() const noexcept { return *plan_; }
  // view — everything above and more, as one copy (allocates; not for the
  // hot path; it tests every owned unit: O(units), for checks and metrics).
  [[nodiscard]] MemberView view() const;
  // peer_facts — view().peers alone: O(peers), for a message loop's own use.
  [[nodiscard]] std::vector<MemberView::PeerFacts> peer_facts() const;

 private:
  struct PoolState;
  struct Peer;
  struct WindowSlot;
  struct RingItem;
  explicit Member(const MemberOptions& options);

  // message-thread helpers (member.cpp)
  Peer* peer(std::uint32_t id);
  std::uint64_t emit_stream(Record r);
  bool accept_incarnation(Peer& p, const Incarnation& inc);
  void adopt(Peer& p, const Incarnation& inc);
  void route_release(const RingItem& item);
  void apply_own_release(const RingItem& item);
  // end_allocation — may this release of an own dynamic unit end its current
  // allocation? If so it is ended (its serial advanced): kEnded, or kWrapped
  // when that wrapped the serial (the unit waits out the repeat window).
  // kRefused: stale (counted), or deferred until the restart's store read.
  enum class Ended : std::uint8_t { kRefused, kEnded, kWrapped };
  Ended end_allocation(PoolState& ps, const RingItem& item);
  void mark_restored(std::uint32_t pool, std::uint64_t unit);
  void restart_read();
  void fill_listed(const std::vector<Lease>& leases);
  // free_own — free an own unit in the bitmap (message thread) and tell the observer.
  core::UnitStatus free_own(std::uint32_t pool, std::uint64_t unit);
  void apply_own_claim(std::uint32_t pool, std::uint64_t unit, std::uint64_t claim);
  void apply_records(Peer& p, const std::vector<Record>& records);
  void apply_stream_record(Peer& p, const Record& r);
  void route_request(const Record& r);
  void drain_rings(bool dirty_too);
  void capture_allocations();
  void capture_window(std::uint32_t pool, WindowSlot& s);
  void diff_word(std::uint32_t pool, std::uint64_t word);
  // DiffBatch — while one lives (a batch of releases applied on the message
  // thread: a peer's records, the workers' rings), a word a release freed
  // is diffed once when the outermost batch ends, not once per release: a
  // batch of 1,024 releases of 16 words streams 16 Words records, not
  // 1,024. Nothing reads the mirror in between (the batch is one call).
  class DiffBatch;
  void diff_later(std::uint32_t pool, std::uint64_t word);
  void sweep_words();
  void close_windows();
  void promote_windows();
  void reserve_windows();
  void expire_hold_downs();
  void expire_wrap_holds();
  void flush();
  void query_generation();
  void request_recovery();
  void finish_recovery();
  // restore_in_use — mark an own unit in use after a restart (recovery or
  // rebuild): a static one as claimed (claim id unknown), a dynamic one's
  // word into `words` (to mirror).
  void restore_in_use(std::uint32_t pool, std::uint64_t unit, std::set<std::uint64_t>& words);
  void supersede();
  void stop(MemberPhase why);  // kSuperseded or kRetired: ready no more, windows sealed, nothing sent
  // member_audit.cpp: the audit and the rebuild from the session store
  struct AuditState;
  void audit_tick();
  void audit_begin();
  bool audit_read(std::vector<::Roaring>& held, std::vector<Lease>* leases = nullptr);
  void audit_free(std::vector<::Roaring>& candidates);
  void note_freed(std::uint32_t pool, std::uint64_t key);
  void drain_dirty();
  bool take_generation(std::uint32_t at_least);
  void begin_rebuild();
  void rebuild_tick();
  void finish_rebuild();
  void restart_query(std::uint32_t floor);
  [[nodiscard]] bool replicas_lost() const noexcept;
  // member_redivision.cpp
  void redivision_tick();
  void begin_epoch(const std::shared_ptr<const Plan>& next);
  void take_blocks();
  // take_block — take a gained block: its usage from the previous owner's
  // replica (`from`), or, with `from` null, the units `listed` in it by the
  // session store (the previous owner is retired: take_retired).
  // `also`: earlier owners' replicas, whose in-use units there are in use too.
  void take_block(std::uint32_t pool, std::uint64_t block, const Replica* from, const ::Roaring* listed = nullptr,
                  std::span<const Replica* const> also = {});
  // take_retired — whether a block gained from a retired member can be taken
  // now, and with what the session store lists in it (retired_ready).
  bool take_retired(std::uint32_t pool, std::uint64_t block, std::uint32_t from, ::Roaring& listed);
  // earlier_owners_handed — every owner the block had before epoch `e`
  // (retired ones aside) has handed it over, so nobody allocates there any
  // more; `copies` (if given) gets their replicas (their frozen copies of
  // the block).
  [[nodiscard]] bool earlier_owners_handed(std::uint32_t pool, std::uint64_t block, std::uint64_t e,
                                           std::vector<const Replica*>* copies) const;
  [[nodiscard]] std::uint32_t retired_peers() const noexcept;
  void set_owned(std::uint32_t pool);
  void publish_owner_table();
  void adopt_epoch_state(const UsageSnapshot& s);
  void reroute_parked();
  [[nodiscard]] bool is_pending(std::uint32_t pool, std::uint64_t unit) const noexcept;
  // gained_at — the first epoch of our current ownership of the block (as far as the plans we know go back).
  [[nodiscard]] std::uint64_t gained_at(std::uint32_t pool, std::uint64_t block) const;
  // run_start — the first epoch of `owner`'s run of ownership of the block that ends at epoch `e` (as far back as
  // the plans we know go).
  [[nodiscard]] std::uint64_t run_start(std::uint32_t pool, std::uint64_t block, std::uint64_t e,
                                        std::uint32_t owner) const;
  [[nodiscard]] bool is_frozen(std::uint32_t pool, std::uint64_t unit) const noexcept;
  [[nodiscard]] bool park(const RingItem& item);
  [[nodiscard]] const char* epoch_wait() const noexcept;
  std::shared_ptr<const UsageSnapshot> own_snapshot() const;
  ReplicaReport report_for(const Peer& p) const;
  Frame frame_to(const Peer& p) const;
  std::uint32_t acks_for(std::uint64_t stream_seq) const;

  std::uint32_t id_;
  MemberOptions options_;
  std::shared_ptr<const Plan> plan_;
  std::vector<std::unique_ptr<PoolState>> pools_;
  // HotPool — what the hot path needs of a pool, flat and read-only after create.
  // One cache line: indexing needs no multiply, and no two pools share a line.
  struct alignas(64) HotPool {
    core::Pool* pool = nullptr;
    // run_owner — the current plan's owner index per run. Swapped by the
    // message thread at an epoch mark (release); a worker loads it
    // (acquire). Plans live as long as the member (PlanBook), so a worker
    // holding the previous table reads valid memory: its direct release
    // then frees a unit of a block just lost (a leak there, never a
    // conflict: the taker sees the unit in use).
    std::atomic<const std::uint16_t*> run_owner{nullptr};
    detail::UnitSerials* serials = nullptr;  // PoolState::serials
    std::uint64_t units = 0;
    std::uint32_t run_shift = 0;
    bool direct_release = false;  // no hold-down: own dynamic units are freed on the hot path
    bool has_static = false;      // the pool has static ranges (else no unit is static: no lookup)
    // moving — the pool has gained blocks not taken yet: no direct release
    // (the message thread holds those releases until the taking). Stored
    // true before run_owner (release) and false after the last taking
    // (release); a worker that reads false (acquire) sees the taken bitmap.
    std::atomic<bool> moving{false};
  };
  static_assert(sizeof(HotPool) == 64);
  std::unique_ptr<HotPool[]> hot_;
  std::size_t hot_count_ = 0;
  std::uint16_t self_index_ = 0;
  std::uint32_t ack_quorum_ = 0;
  std::uint32_t answer_quorum_ = 0;

  // Hot path meets message thread here.
  std::vector<std::unique_ptr<Worker>> workers_;  // grows only in create_worker (a message-side call)

  // Read by every hot-path call, written by the message thread once per tick
  // at most: a cache line of their own, away from the message thread's
  // busy fields below.
  alignas(64) std::atomic<std::uint64_t> now_{0};  // relaxed: a clock reading, not a synchronizer
  // ready_ — the owner's own state is rebuilt: the hot path may release its
  // own units directly. Written by the message thread (release), read by
  // workers (acquire): the rebuilt bitmap happens-before a direct release.
  std::atomic<bool> ready_{false};
  // generation_hot_ — this incarnation's generation, for the hot path: a
  // direct release must name an allocation of this incarnation (an older
  // one's goes to the message thread). Stored (relaxed) before ready_'s
  // release store and read after its acquire load; it never changes while
  // ready_ is true.
  std::atomic<std::uint32_t> generation_hot_{0};

  // Message thread only.
  alignas(64) MemberPhase phase_ = MemberPhase::kQueryingGeneration;
  Incarnation inc_;
  std::uint64_t now_local_ = 0;
  std::uint64_t stream_seq_ = 0;
  int diff_batches_ = 0;                   // DiffBatch nesting
  std::vector<std::uint64_t> diff_later_;  // (pool << 56) | word, diffed when the outermost batch ends
  std::uint32_t window_counter_ = 0;
  std::uint64_t last_query_ = 0;
  std::uint64_t last_stream_ = 0;
  std::uint32_t generation_floor_ = 0;  // a peer said it knows this generation of us: take more
  std::uint32_t last_generation_ = 0;   // the GenerationStore's value before this incarnation (0: none)
  bool queried_once_ = false;
  std::map<std::uint32_t, std::unique_ptr<Peer>> peers_;  // ordered: deterministic iteration
  // HoldDown — one own unit waiting out its hold-down; ordered by end first.
  struct HoldDown {
    std::uint64_t until = 0;
    std::uint32_t pool = 0;
    std::uint64_t unit = 0;
    friend auto operator<=>(const HoldDown&,
                            const HoldDown&) = default;  // NOLINT(modernize-use-nullptr): a false positive on <=>
  };
  std::set<HoldDown> hold_;
  // wrap_holds_ — own units whose serial wrapped (kWrapHeld), in use until
  // the repeat window ends. FIFO: the window is one for all (a pool whose
  // hold-down is longer holds its units that long; an entry behind it then
  // waits too: later, never sooner).
  std::deque<HoldDown> wrap_holds_;
  std::vector<RingItem> pending_own_;   // own releases and claims that arrived before recovery ended
  std::vector<RingItem> deferred_old_;  // releases of older incarnations' allocations, until the restart's store read
  std::vector<Frame> outgoing_;
  MemberCounters counters_;
  std::uint64_t direct_doubles_seen_ = 0;
  std::uint64_t hot_refused_seen_ = 0;
  std::uint64_t direct_stale_seen_ = 0;
  std::vector<std::unique_ptr<core::Pool::Worker>> msg_workers_;  // the message thread's pool workers
  std::unique_ptr<AuditState> audit_;
  // Re-division (message thread only; member_redivision.cpp).
  std::shared_ptr<PlanBook> book_;
  std::uint64_t target_epoch_ = 0;
  std::uint64_t epoch_seq_ = 0;      // our stream's Epoch mark (0: the bulk copy carries the epoch)
  std::uint64_t last_take_seq_ = 0;  // our last Take record
  bool handover_ = true;             // our mark of the current epoch is acknowledged (Handover streamed)
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t> pending_;  // (pool, block) -> taken from
  std::vector<::Roaring> frozen_;                                             // per pool: blocks lost, usage kept
  std::vector<::Roaring> returning_;  // per pool: pending blocks this incarnation owned before (take_block)
  std::vector<RingItem> parked_;      // releases and claims for blocks not ours yet
  // rebuild_listed_ — per pool: units of blocks still pending at a rebuild
  // that the store listed then; in use when the block is taken.
  std::vector<::Roaring> rebuild_listed_;
  // retired_seen_ — (pool, block) -> when this incarnation first found a
  // block gained from a retired member takeable (take_retired waits a lease
  // and the store's grace from then).
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> retired_seen_;
  const char* retired_wait_ = nullptr;  // why a block of a retired member is not taken yet (epoch_wait)
};

}  // namespace uepool::set
