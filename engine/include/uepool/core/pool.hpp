// uepool/core/pool.hpp — a named pool of UE addresses or prefixes.
//
// Overview
//   A `Pool` is a prefix cut into units of one length (/32 addresses of an
//   IPv4 /16; /64, /56 or /48 prefixes of an IPv6 /32), with
//     * excluded units: never handed out nor claimed (a gateway address, the
//       network and broadcast addresses if the operator wants them kept);
//     * static ranges: never allocated dynamically, only claimed (static UE
//       IPs from UDM);
//     * an optional hold-down: a released unit becomes allocatable again only
//       after `hold_down` time units (the caller's clock, passed in), so late
//       downlink packets never reach a new UE.
//   Unit i is the i-th sub-prefix of the pool (net::Prefix::nth).
//
//     PoolConfig cfg;
//     cfg.name = "internet-v4";
//     cfg.prefix = net::Prefix::parse("10.45.0.0/16").value();
//     cfg.unit_length = 32;
//     cfg.excluded = {net::Prefix::parse("10.45.0.1/32").value()};   // the gateway
//     auto pool = Pool::create(cfg);                                  // Result<unique_ptr<Pool>>
//     Pool::Worker worker(*pool.value());                             // one per thread
//     PoolAllocation a = pool.value()->allocate(worker, now);         // a.prefix = 10.45.0.0/32 ...
//     pool.value()->release(worker, a.prefix, now);
//
// Concurrency contract: as AtomicBitmap — allocate, claim, release, test are
//   lock-free through the caller's own Worker, and refuse a Worker created
//   for another pool (kWrongWorker; nothing changes in either pool).
//   Hold-down queues are per worker (a released unit waits in the queue of
//   the worker that released it, and that worker frees it once its time has
//   come, on its next allocate or drain). A Worker destroyed with units
//   still waiting hands them to the pool (a short mutex-protected list, off
//   the hot path); any worker's allocate or drain frees them once their
//   time has come (a try-lock: it never blocks).
//
// Scale limits: up to 2^32 units per pool (more is a configuration error).
//   Excluded plus static units: at most 2^26 per pool (they are reserved in
//   the bitmap at creation). Hold-down: at most `hold_down_capacity` units
//   waiting per worker; beyond that the oldest is freed early and counted in
//   `hold_down_cut_short()` (bounded memory beats an unbounded queue).
//   A double release is detected while the unit is held down, at the end of
//   its hold-down, and while it is free afterwards, until the unit is handed
//   out again; a double release after that cannot be told apart from a
//   legitimate one here — the set layer's lease tags do that. Deadlines
//   saturate (a release at a `now` near 2^64 waits until 2^64 - 1).
//
// Implementation notes (hold-down)
//   Two bits per unit: `dynamic_` (1 = not allocatable: in use, held down,
//   excluded or static) and `released_` (1 = released and not handed out
//   since). States (dynamic, released): free (0, 0) or (0, 1); in use
//   (1, 0); held down (1, 1) with exactly one queue entry; and (1, 1)
//   transiently inside allocate/claim, between taking the dynamic bit and
//   clearing the released bit. A release takes the released bit (0 -> 1)
//   of a unit whose dynamic bit is set: the one that wins it queues the
//   unit, any other is a double release. The hold-down ends with ONE atomic
//   step (the dynamic bit 1 -> 0) and leaves the released bit set, so a
//   double release at that moment or later finds either the dynamic bit
//   clear or the released bit set and is refused; the bit is cleared only by
//   the allocation that hands the unit out again. (The earlier design
//   cleared a mark and then the unit, and a double release between the two
//   queued the unit again and later freed it under its next holder.)
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/core/atomic_bitmap.hpp"
#include "uepool/net/prefix.hpp"

namespace uepool::core {

// Selector — which sessions a pool serves (TS 29.244 / 23.501 terms).
struct Selector {
  std::string dnn;               // e.g. "internet"
  std::string snssai;            // e.g. "1-000001" (SST-SD); "" = any
  std::string network_instance;  // "" = default
  friend bool operator==(const Selector&, const Selector&) = default;
};

struct PoolConfig {
  std::string name;
  net::Prefix prefix;
  int unit_length = 32;
  std::vector<net::Prefix>
      excluded;  // each inside the pool; may overlap; a prefix longer than a unit excludes its unit
  std::vector<net::Prefix> static_ranges;      // each inside the pool, no longer than a unit
  std::uint64_t hold_down = 0;                 // 0 = off; in the caller's time units
  std::uint32_t hold_down_capacity = 1 << 16;  // per worker
  Selector selector;
};

// PoolAllocation — the unit and its prefix, or why there is none.
struct PoolAllocation {
  std::uint64_t unit = 0;
  net::Prefix prefix;
  AllocStatus status = AllocStatus::kNoneFree;
  [[nodiscard]] bool ok() const noexcept { return status == AllocStatus::kOk; }
};

enum class UnitStatus : std::uint8_t {
  kOk,           // claimed / released
  kInUse,        // claim: the unit is in use already
  kNotInUse,     // release: a double release (nothing changed)
  kExcluded,     // the unit is excluded: never handed out nor claimed
  kOutOfRange,   // the index is beyond the pool
  kNotInPool,    // the prefix is of another family, length or pool
  kNoMemory,     // materializing a leaf failed
  kWrongWorker,  // the Worker belongs to another pool (nothing changed)
};
const char* unit_status_name(UnitStatus s) noexcept;

class Pool {
 public:
  class Worker;

  // create — validates the configuration (a clear error for each fault:
  // unit length, exclusions or static ranges outside the pool or overlapping,
  // a pool of more than 2^32 units) and reserves excluded and static units.
  static Result<std::unique_ptr<Pool>> create(const PoolConfig& config);
  ~Pool();

  [[nodiscard]] const std::string& name() const noexcept { return config_.name; }
  [[nodiscard]] const net::Prefix& prefix() const noexcept { return config_.prefix; }
  [[nodiscard]] int unit_length() const noexcept { return config_.unit_length; }
  [[nodiscard]] const Selector& selector() const noexcept { return config_.selector; }
  [[nodiscard]] std::uint64_t size() const noexcept { return units_; }

  // allocate — a free dynamic unit (next-fit in the worker's home region).
  // Frees the worker's hold-downs whose time has come first.
  PoolAllocation allocate(Worker& w, std::uint64_t now = 0) noexcept;
  // allocate_in — restricted to units [range.begin, range.end) (a window).
  PoolAllocation allocate_in(Worker& w, UnitRange range, std::uint64_t now = 0) noexcept;
  // allocate_unit_in — allocate_in without building the prefix (the set
  // layer's hot path, which hands out unit indices).
  Allocation allocate_unit_in(Worker& w, UnitRange range, std::uint64_t now = 0) noexcept {
    if (w.pool_ != this) [[unlikely]] {
      return {0, AllocStatus::kWrongWorker};
    }
    if (config_.hold_down != 0) [[unlikely]] {
      w.drain(now);
      return handed_out(w, dynamic_.allocate_in(w.dynamic_, range));
    }
    return dynamic_.allocate_in(w.dynamic_, range);
  }
  // allocate_in_ranges — restricted to a list of blocks (those a member owns).
  PoolAllocation allocate_in_ranges(Worker& w, std::span<const UnitRange> blocks, std::uint64_t now = 0) noexcept;

  // claim — take a given unit: a static unit (UDM) or, in recovery, a dynamic one.
  UnitStatus claim(Worker& w, std::uint64_t unit) noexcept;
  UnitStatus claim(Worker& w, const net::Prefix& unit) noexcept;
  // claim_bulk — claim the dynamic units of a sorted, duplicate-free list (a
  // recovery snapshot, decoded by the caller: core knows no wire format).
  // Units beyond the pool, excluded or static are refused and counted in
  // `out_of_range`. One RMW per bitmap word.
  AtomicBitmap::BulkResult claim_bulk(Worker& w, std::span<const std::uint32_t> sorted_units) noexcept;
  // release — free a unit (after the hold-down, if configured).
  UnitStatus release(Worker& w, std::uint64_t unit, std::uint64_t now = 0) noexcept;
  UnitStatus release(Worker& w, const net::Prefix& unit, std::uint64_t now = 0) noexcept;
  // test — in use (dynamic or static, or held down); false for excluded units.
  [[nodiscard]] bool test(std::uint64_t unit) const noexcept;
  // dynamic_word — units [64 * word, 64 * word + 64) in dynamic use (allocated,
  // claimed, or held down), excluded and static units masked out; bit i is
  // unit 64 * word + i. seq_cst loads (see AtomicBitmap::load_word).
  [[nodiscard]] std::uint64_t dynamic_word(std::uint64_t word) const noexcept;
  // has_free_dynamic — some unit of that word can be allocated dynamically.
  [[nodiscard]] bool has_free_dynamic(std::uint64_t word) const noexcept {
    return dynamic_.load_word(word) != ~std::uint64_t{0} && (word << 6) < units_;
  }
  // is_held_down — released, waiting out its hold-down in a worker's queue
  // (exact when quiescent).
  [[nodiscard]] bool is_held_down(std::uint64_t unit) const noexcept {
    return released_.test(unit) && dynamic_.test(unit);
  }

  // count — units held: dynamic and static, including those held down.
  [[nodiscard]] std::uint64_t count() const noexcept;
  [[nodiscard]] std::uint64_t hold_down_cut_short() const noexcept;
  // orphaned_hold_downs — units handed over by destroyed workers, still
  // waiting (exact when quiescent).
  [[nodiscard]] std::size_t orphaned_hold_downs() const;

  // unit_of / prefix_of — conversions; errors for another family, length or pool.
  [[nodiscard]] Result<std::uint64_t> unit_of(const net::Prefix& p) const noexcept;
  [[nodiscard]] net::Prefix prefix_of(std::uint64_t unit) const noexcept;
  [[nodiscard]] bool is_excluded(std::uint64_t unit) const noexcept;
  [[nodiscard]] bool is_static(std::uint64_t unit) const noexcept;

  // for_each_in_use — calls fn(UnitRange) for each run of held units
  // (dynamic and static; excluded units never appear), in increasing order.
  template <class Fn>
  void for_each_in_use(Fn&& fn) const;

  [[nodiscard]] std::uint64_t memory_bytes() const noexcept;
  // validate — quiescent invariants of both bitmaps and of the reservations.
  [[nodiscard]] Status validate() const;

  class Worker {
   public:
    explicit Worker(Pool& pool);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    // drain — free every hold-down of this worker whose time has come, and
    // those handed to the pool by destroyed workers (if the pool's list is
    // not locked by another drain at that moment).
    void drain(std::uint64_t now) noexcept;
    [[nodiscard]] std::size_t held_down() const noexcept { return held_size_; }

   private:
    friend class Pool;
    struct Held {
      std::uint64_t unit;
      std::uint64_t until;
    };
    void push_held(std::uint64_t unit, std::uint64_t until) noexcept;
    void free_held(const Held& h) noexcept;

    Pool* pool_;
    AtomicBitmap::Worker dynamic_;
    AtomicBitmap::Worker static_claims_;
    AtomicBitmap::Worker released_;
    std::vector<Held> held_;  // ring buffer, capacity fixed at construction
    std::size_t held_head_ = 0;
    std::size_t held_size_ = 0;
  };

 private:
  explicit Pool(const PoolConfig& config, std::uint64_t units);
  PoolAllocation finish(const Allocation& a) const noexcept;
  // handed_out — with hold-down on: clear the released bit of a unit just
  // taken (the (1, 1) -> (1, 0) step of the notes above).
  Allocation handed_out(Worker& w, const Allocation& a) noexcept;
  void drain_orphans(Worker& w, std::uint64_t now) noexcept;
  template <class Fn>
  void for_each_reserved(Fn&& fn) const;

  PoolConfig config_;
  std::uint64_t units_;
  std::vector<UnitRange> excluded_ranges_;  // sorted, disjoint
  std::vector<UnitRange> static_ranges_;    // sorted, disjoint
  std::uint64_t reserved_mask(std::uint64_t word) const noexcept;
  std::uint64_t reserved_units_ = 0;
  AtomicBitmap dynamic_;        // 1 = in use, held down, excluded or static
  AtomicBitmap static_claims_;  // 1 = static unit claimed
  AtomicBitmap released_;       // hold-down only: 1 = released, not handed out since (notes above)
  std::atomic<std::uint64_t> cut_short_{0};
  // Hold-downs of destroyed workers, freed by any worker's drain.
  mutable std::mutex orphans_mutex_;
  std::vector<Worker::Held> orphans_;  // guarded by orphans_mutex_
  // The earliest deadline in orphans_ (UINT64_MAX when empty). Written under
  // the mutex; read relaxed by drain as a hint (a stale value delays or
  // hastens one try-lock, nothing else).
  std::atomic<std::uint64_t> orphans_due_{UINT64_MAX};
};

template <class Fn>
void Pool::for_each_in_use(Fn&& fn) const {
  // Dynamic in-use runs minus the reserved ranges, merged in order with the
  // claimed static runs. Reserved ranges are few; walk both sorted lists.
  std::vector<UnitRange> statics;
  static_claims_.for_each_in_use([&](UnitRange r) { statics.push_back(r); });
  std::size_t si = 0;
  UnitRange pending{0, 0};
  auto emit = [&](UnitRange r) {
    if (r.empty()) return;
    if (!pending.empty() && pending.end == r.begin) {
      pending.end = r.end;
      return;
    }
    if (!pending.empty()) fn(pending);
    pending = r;
  };
  auto emit_statics_before = [&](std::uint64_t limit) {
    while (si < statics.size() && statics[si].begin < limit) emit(statics[si++]);
  };
  std::size_t ri = 0;
  std::vector<UnitRange> reserved;
  for_each_reserved([&](UnitRange r) { reserved.push_back(r); });
  dynamic_.for_each_in_use([&](UnitRange r) {
    // Cut the reserved ranges out of r.
    while (ri < reserved.size() && reserved[ri].end <= r.begin) ++ri;
    std::uint64_t b = r.begin;
    for (std::size_t k = ri; k < reserved.size() && reserved[k].begin < r.end; ++k) {
      if (reserved[k].begin > b) {
        emit_statics_before(reserved[k].begin);
        emit({b, reserved[k].begin});
      }
      b = std::max(b, reserved[k].end);
    }
    if (b < r.end) {
      emit_statics_before(b);
      emit({b, r.end});
    }
  });
  emit_statics_before(UINT64_MAX);
  if (!pending.empty()) fn(pending);
}

template <class Fn>
void Pool::for_each_reserved(Fn&& fn) const {
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < excluded_ranges_.size() || j < static_ranges_.size()) {
    if (j == static_ranges_.size() ||
        (i < excluded_ranges_.size() && excluded_ranges_[i].begin < static_ranges_[j].begin)) {
      fn(excluded_ranges_[i++]);
    } else {
      fn(static_ranges_[j++]);
    }
  }
}

}  // namespace uepool::core
