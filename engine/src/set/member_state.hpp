// member_state.hpp — the Member's private state: window slots, release
// rings, pool state, replicas, peers and the Worker handle, shared by the
// member_*.cpp files (one job each). Not installed: engine/src/set only.
//
//
// Where the hot path meets the message thread (the only shared state):
//
// 1. Window slots and the close protocol (no allocation escapes the stream):
//    uepool/set/detail/window_slot.hpp states the phases, the orders and the
//    argument; the interleaving explorer runs the close race on it.
//
// 2. The allocation RMW. Core's allocation RMWs and leaf installs are seq_cst
//    (uepool/core/atomic_bitmap.hpp), which the close protocol relies on.
//
// 3. Release rings. Each Worker has a single-producer (that worker) single-
//    consumer (the message thread) SpscRing (base/spsc_ring.hpp states its
//    orders). A full ring drops the release and counts it (a leak, never a conflict).
//
// 4. The clock. `now_` is written by the message thread and read relaxed by
//    workers: a worker may see a slightly older time and allocate at the very
//    end of a lease; the close protocol above still streams that allocation.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "uepool/base/spsc_ring.hpp"
#include "uepool/base/word_map.hpp"
#include "uepool/set/detail/unit_serials.hpp"
#include "uepool/set/detail/window_slot.hpp"
#include "uepool/set/member.hpp"
#include "uepool/set/replica.hpp"

namespace uepool::set {

// Constants and helpers of the window-slot state word (point 1 above).
namespace member_detail {
using detail::kActive;
using detail::kClosing;
using detail::kEmpty;
using detail::kExhausted;
using detail::kPending;
using detail::kReady;
using detail::pack_tag;
using detail::phase_of;
using detail::unpack_tag;
using detail::with_phase;
inline constexpr std::size_t kSlots =
    64;  // window slots per pool: active windows (one per worker) plus those reserved ahead
inline constexpr std::size_t kPendingOwnMax = 1 << 16;
// Releases and claims for one peer that wait for room on its channel (the
// channel holds at most MemberOptions::channel_capacity unacknowledged records).
inline constexpr std::size_t kOutboxRequestsMax = 1 << 16;
// Records of any kind wait for room on a peer's channel, in order, up to this
// many times the channel's capacity; above, the peer is stale (its stream
// records go: a bulk copy follows).
inline constexpr std::size_t kOutboxChannels = 16;
inline constexpr std::size_t kMaxBatchRecords = 1024;  // records in one channel batch
inline std::uint64_t pack_lease_tag(const LeaseTag& t) noexcept {
  return (std::uint64_t{t.generation} << 32) | t.window;
}
}  // namespace member_detail
using namespace member_detail;  // NOLINT: the member files share these names

struct Member::WindowSlot : detail::BasicWindowSlot<std::atomic> {};

struct Member::RingItem {
  enum class Op : std::uint8_t {
    kRelease,
    kClaim,
    kWrapHold,  // a direct release ended serial kLast: hold the unit for the repeat window, then free it
  };
  Op op = Op::kRelease;
  std::uint32_t pool = 0;
  std::uint64_t unit = 0;
  LeaseTag tag;
  std::uint64_t claim = 0;
  std::uint8_t serial = 0;
  std::uint64_t nonce = 0;
};

struct Member::PoolState {
  std::unique_ptr<core::Pool> pool;
  std::vector<core::UnitRange> owned;      // this member's blocks (plan)
  std::vector<std::uint64_t> chunk_start;  // chunk index where each owned range starts
  std::uint64_t chunks = 0;
  std::uint64_t window_units = 64;
  std::uint64_t hold_down = 0;
  std::array<WindowSlot, kSlots> slots;
  std::atomic<bool> exhausted{false};    // relaxed: a hint for "none free" vs "not ready"
  std::atomic<bool> starved{false};      // relaxed: a worker found no acknowledged window (a hint)
  std::uint32_t ahead = 0;               // message thread: windows kept waiting ahead now
  std::uint64_t reserve_not_before = 0;  // message thread: after a rebuild, one hold-down before any window
  // Message thread only.
  // What the peers were told, word by word: dynamic units in use (nonzero
  // words only). Allocations reach it from window captures; releases from
  // dirty words (hot path) and own releases (message thread). With a
  // hold-down every release goes through the message thread (the member
  // holds units down itself), so expiries reach it there too. A periodic
  // sweep re-reads mirrored words.
  WordMap mirror;                                     // word -> units peers were told are in use (nonzero words only)
  std::map<std::uint64_t, std::uint64_t> held_words;  // word -> units freed and waiting out their hold-down
  ::Roaring statics;                                  // static units streamed as claimed
  ::Roaring quarantined;                              // in use since recovery because they may be
  std::size_t sweep = 0;                              // next mirror slot the sweep looks at

  [[nodiscard]] bool held(std::uint64_t u) const {
    auto it = held_words.find(u >> 6);
    return it != held_words.end() && ((it->second >> (u & 63)) & 1) != 0;
  }
  // free_held — units of `word` freed and waiting out a hold-down, as peers
  // see them: free. A held unit that is also quarantined (its window was
  // open at a recovery) stays in use for them: an older incarnation may
  // hand it out once its hold-down ends there.
  [[nodiscard]] std::uint64_t free_held(std::uint64_t word) const {
    auto it = held_words.find(word);
    if (it == held_words.end()) return 0;
    std::uint64_t v = it->second;
    for (std::uint64_t b = v; b != 0; b &= b - 1) {
      const std::uint64_t bit = b & (~b + 1);
      if (quarantined.contains(
              static_cast<std::uint32_t>((word << 6) | static_cast<std::uint64_t>(std::countr_zero(bit)))))
        v &= ~bit;
    }
    return v;
  }
  void set_held(std::uint64_t u, bool on) {
    std::uint64_t& w = held_words[u >> 6];
    w = on ? (w | (std::uint64_t{1} << (u & 63))) : (w & ~(std::uint64_t{1} << (u & 63)));
    if (w == 0) held_words.erase(u >> 6);
  }
  // serials — the allocation serial of each own dynamic unit
  // (detail/unit_serials.hpp): a release must name the current one.
  std::unique_ptr<detail::UnitSerials> serials;
  // listed — after a restart, once the session store was read: own dynamic
  // units in use by an older incarnation's allocation (serial kRestored)
  // that the store listed, with the lease it listed; sorted by unit. A
  // release of an older incarnation's allocation of such a unit is applied
  // only if it names that lease (the store is ahead of releases still on
  // their way: a lease it does not list is an earlier allocation's). An
  // entry ends with its unit's restored allocation. 24 bytes per listed
  // unit, until a later restart read (or the next restart) replaces them.
  struct Listed {
    std::uint64_t unit = 0;
    std::uint64_t tag = 0;  // packed LeaseTag
    std::uint64_t nonce = 0;
    std::uint8_t serial = 0;
    bool ended = false;
  };
  std::vector<Listed> listed;
  Listed* find_listed(std::uint64_t u) {
    auto it =
        std::lower_bound(listed.begin(), listed.end(), u, [](const Listed& l, std::uint64_t x) { return l.unit < x; });
    return it != listed.end() && it->unit == u && !it->ended ? &*it : nullptr;
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

// AuditState — the audit (message thread only; member_audit.cpp).
struct Member::AuditState {
  enum class Stage : std::uint8_t { kIdle, kStarted, kFirstRead };
  Stage stage = Stage::kIdle;
  bool requested = false;
  std::uint64_t started = 0;          // when the running audit recorded what was in use
  std::uint64_t next_step = 0;        // when its next read is due
  std::uint64_t next_audit = 0;       // the periodic schedule
  std::uint64_t not_before = 0;       // after a recovery or rebuild: older incarnations' leases and the grace first
  std::vector<::Roaring> candidates;  // per pool: in use at the start, absent from every read so far
  // freed_at — per pool, when an own unit was last freed (the time the
  // message thread learned of it), kept while an audit runs or its units
  // are held down. Keys: a unit (kUnitKey | unit) where the message thread
  // freed it; a word where a worker did (the dirty ring names only words).
  // A candidate freed since its audit started may have been reallocated
  // since: never freed.
  static constexpr std::uint64_t kUnitKey = std::uint64_t{1} << 63;
  std::vector<std::map<std::uint64_t, std::uint64_t>> freed_at;
  [[nodiscard]] bool freed_since(std::uint32_t pool, std::uint64_t unit, std::uint64_t since) const {
    const auto& m = freed_at[pool];
    auto w = m.find(unit >> 6);
    auto u = m.find(kUnitKey | unit);
    return (w != m.end() && w->second >= since) || (u != m.end() && u->second >= since);
  }
  // serial_snap — per pool, the serials of the candidates at the start
  // (key: unit / 16, UnitSerials::word_bits; 0 = absent). A candidate is
  // freed by ending the allocation of the serial it had then: if a release
  // ended that allocation since, the CAS fails and the audit leaves it.
  std::vector<WordMap> serial_snap;
  // An audit's freed units wait out one lease (at least) in the hold-down
  // before they can be handed out again.
  struct Hold {
    std::uint64_t until = 0;
    std::uint32_t pool = 0;
    std::uint64_t unit = 0;
    friend auto operator<=>(const Hold&, const Hold&) = default;  // NOLINT(modernize-use-nullptr): false positive
  };
  std::set<Hold> holds;
  // After a restart with a session store: releases of older incarnations'
  // allocations wait (Member::deferred_old_) until the store was read at
  // not_before (PoolState::listed).
  bool restart_read = false;
  std::uint64_t next_restart_read = 0;
  // The rebuild (phase kRebuilding).
  std::set<std::uint32_t> know_us;   // peers that addressed our new incarnation: they fence older ones
  std::uint64_t fenced_at = 0;       // when know_us first reached the quorum (0: not yet)
  const char* read_error = nullptr;  // why the last read of the store gave nothing (null: it did)
  [[nodiscard]] bool tracking() const noexcept { return stage != Stage::kIdle || !holds.empty(); }
};

struct Member::Peer {
  std::uint32_t id = 0;
  Incarnation inc;  // the highest seen (fencing)
  Channel ch;
  bool needs_seed = true;
  ReplicaReport report;  // its replica of us, as it last said
  bool report_valid = false;
  Replica replica;            // our replica of its usage
  std::deque<Record> outbox;  // records for its channel, waiting for room (flush)
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
    WindowSlot::Held held;
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
  // releasing_ — ((pool << 56) | unit) + 1 while a direct release of that
  // unit is ending its allocation and freeing it, else 0 (see
  // Member::release). Both stores are release: whoever reads a value
  // (acquire) sees everything this worker did before it — the audit's start
  // relies on that (member_audit.cpp).
  alignas(64) std::atomic<std::uint64_t> releasing_{0};
  std::atomic<std::uint64_t> ring_full_{0};  // statistics (relaxed)
  std::atomic<std::uint64_t> undone_{0};     // statistics (relaxed)
  std::atomic<std::uint64_t> waits_{0};      // allocations that found no open window (relaxed)
  std::atomic<std::uint64_t> refused_{0};    // releases naming no unit of any pool (relaxed)
  std::atomic<std::uint64_t> double_{0};     // direct releases of a unit not in use (relaxed)
  std::atomic<std::uint64_t> stale_{0};      // direct releases naming an ended allocation (relaxed)
};

class Member::DiffBatch {
 public:
  explicit DiffBatch(Member& m) : m_(m) { ++m_.diff_batches_; }
  ~DiffBatch() {
    if (--m_.diff_batches_ != 0) return;
    std::vector<std::uint64_t> keys;
    keys.swap(m_.diff_later_);
    for (std::uint64_t key : keys)  // a word twice: the second diff finds nothing new
      m_.diff_word(static_cast<std::uint32_t>(key >> 56), key & ((std::uint64_t{1} << 56) - 1));
    keys.clear();
    if (m_.diff_later_.empty()) m_.diff_later_.swap(keys);  // keep the capacity
  }
  DiffBatch(const DiffBatch&) = delete;
  DiffBatch& operator=(const DiffBatch&) = delete;

 private:
  Member& m_;
};

}  // namespace uepool::set
