// uepool/core/atomic_bitmap.hpp — a lock-free hierarchical bitmap of units
// whose leaves are materialized lazily (a radix tree of atomic bitmap words).
//
// Overview
//   `AtomicBitmap` holds one bit per unit (1 = in use) for up to 2^32 units.
//   Callers allocate through a `Worker` handle they own (one per thread):
//   each worker has a home region of the bitmap and moves forward through it
//   (next-fit), so threads rarely share a cache line and a released unit is
//   reused late. Summary levels above the leaves (4096 units each) say which
//   leaves and subtrees may still hold a free unit, so a search skips full
//   leaves however full the bitmap is; inside a leaf it reads the words in
//   order, which next-fit makes a sequential sweep. Word bits are exact;
//   summary bits are cleared only by the search that finds a leaf full (so
//   allocations and releases inside a leaf write nothing but their word,
//   and a release writes a summary only when a leaf had been found full),
//   and once the leaves are known full, exhaustion is seen at the root in O(1).
//
//     uepool::core::AtomicBitmap bitmap(1 << 16);
//     uepool::core::AtomicBitmap::Worker worker(bitmap);   // one per thread
//     auto a = bitmap.allocate(worker);                     // a.status == kOk
//     bitmap.release(worker, a.unit);                       // kReleased
//
// Concurrency contract
//   allocate, allocate_in, allocate_in_ranges, claim, release, test: lock-free
//   and thread-safe; each takes the caller's own Worker (a Worker is used by
//   one thread at a time). No allocation on these paths once the touched leaf
//   exists; materializing a leaf allocates once (CAS-install; the loser frees
//   its copy). No exceptions (an allocation failure is kNoMemory).
//   count: lock-free, exact when quiescent, never negative.
//   for_each_in_use, validate, memory_bytes: safe concurrently, exact only
//   when quiescent.
//   Memory-order guarantees callers may rely on (the set layer's window-close
//   protocol does, set/member.cpp): the RMW that takes a unit in allocate /
//   allocate_in / allocate_in_ranges / claim, the RMW that frees it in
//   release, the CAS that installs a leaf or node, and the loads of test()
//   and load_word() are all seq_cst, so they lie in the single total order S
//   with the caller's own seq_cst operations. (On x86 this costs nothing: a
//   seq_cst RMW is the same locked instruction, a seq_cst load a plain mov.)
//   A taken unit's previous holder's writes happen-before its next holder's
//   use (the freeing RMW is a release, the taking RMW an acquire).
//
// Scale limits
//   Capacity 1..2^32 units. Memory: a 4096-unit leaf costs 512 bytes (plus
//   the allocator's header) once any unit in it is touched; interior nodes
//   cost 1,040 bytes per 2^18 units touched; bitmaps of up to 2^24 units
//   also hold a leaf directory of 16 bytes per 4096 units from the start. A
//   dense 2^24-unit bitmap costs about 1.05 bits per unit; 10^6 units packed into a 2^32-unit bitmap cost
//   about 0.13 MiB (perf/memory.sh). Leaves are never freed while the bitmap lives.
//
// Determinism
//   No thread_local state and no randomness: a worker's region is assigned
//   from the order in which workers are created, so a single-threaded
//   simulation replays exactly.
//
// Implementation notes (representation and invariants)
//   * Levels: a Leaf holds 64 words (4096 units) and nothing else. An
//     interior Node holds 64 child
//     pointers, `nonfull` (bit c = child c may have a free unit; an absent
//     child is all free, so its bit is 1) and `present` (child c exists).
//     The root is an interior node; level L covers 2^(12 + 6L) units.
//   * Units at or beyond the capacity are preset to 1 in the last words, and
//     the summary bits of children wholly beyond it are 0, so no search can
//     return them.
//   * Summary invariant (S): when no operation is in flight, every summary
//     bit whose child has a free unit is 1. A 1 over a full child is a
//     harmless hint (the next searcher that finds it full repairs it).
//   * The lost-wakeup race and its protocol: see the top of
//     detail/atomic_bitmap_impl.hpp.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>

#include "uepool/base/check.hpp"
#include "uepool/base/status.hpp"
#include "uepool/core/unit_range.hpp"

namespace uepool::core {

// AllocStatus — the outcome of an allocation.
enum class AllocStatus : std::uint8_t {
  kOk,           // `unit` is now in use, owned by the caller
  kNoneFree,     // no free unit in the bitmap / range
  kOutOfRange,   // the requested range is outside the bitmap
  kNoMemory,     // materializing a leaf failed (operator new returned null)
  kWrongWorker,  // the Worker belongs to another bitmap (nothing changed)
};

struct Allocation {
  std::uint64_t unit = 0;
  AllocStatus status = AllocStatus::kNoneFree;
  [[nodiscard]] bool ok() const noexcept { return status == AllocStatus::kOk; }
};

// kWrongWorker: the Worker was created for another bitmap; nothing changed.
enum class ClaimStatus : std::uint8_t { kClaimed, kInUse, kOutOfRange, kNoMemory, kWrongWorker };
enum class ReleaseStatus : std::uint8_t { kReleased, kNotInUse, kOutOfRange, kWrongWorker };

namespace detail {
// SkipRecheck — a test hook: true only for a deliberately broken atomic type
// in tests/core/summary_interleaving_test.cpp, to show that the exhaustive
// interleaving test catches a missing recheck. Always false otherwise.
template <template <class> class Atom>
struct SkipRecheck {
  static constexpr bool value = false;  // NOLINT(readability-identifier-naming): the std trait convention
};
// SkipRepairCheck — a test hook like SkipRecheck: true only for a broken
// atomic type in the interleaving and Relacy tests, to show that they catch
// a search that trusts an empty summary while a repair may be in flight
// (the "false none-free" of the proof at the top of atomic_bitmap_impl.hpp).
template <template <class> class Atom>
struct SkipRepairCheck {
  static constexpr bool value = false;  // NOLINT(readability-identifier-naming): the std trait convention
};
}  // namespace detail

template <template <class> class Atom = std::atomic>
class BasicAtomicBitmap {
 public:
  static constexpr int kLeafShift = 12;  // 4096 units per leaf
  static constexpr int kFanShift = 6;    // 64 children per interior node
  static constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;
  static constexpr int kMaxLevels = 4;  // 2^(12 + 6*4) = 2^36 >= 2^32
  static constexpr std::uint32_t kMaxRegions = 64;
  static constexpr std::uint32_t kCounterShards = 64;
  static constexpr std::uint32_t kSharedShard = kCounterShards - 1;  // for workers beyond 63: fetch_add

  class Worker;

  // Requires: 1 <= capacity <= kMaxCapacity (a larger or zero capacity is
  // clamped to that range; Pool validates it first and reports an error).
  explicit BasicAtomicBitmap(std::uint64_t capacity);
  ~BasicAtomicBitmap();
  BasicAtomicBitmap(const BasicAtomicBitmap&) = delete;
  BasicAtomicBitmap& operator=(const BasicAtomicBitmap&) = delete;

  [[nodiscard]] std::uint64_t capacity() const noexcept { return capacity_; }

  // allocate — a free unit, next-fit from the worker's cursor in its home
  // region. When the cursor reaches the region's end, the worker moves on to
  // the next region with room (in a materialized leaf) that no other worker
  // uses; it wraps to the start of its own region only if there is none, and
  // enters a region another worker uses only when its own is full.
  // Returns kNoneFree only when (N1) the root summary read 0 and no summary
  // repair overlapped the search: then no unit was free at that instant,
  // counting a release as done when it returns (searches that cannot prove
  // it look again, up to kSettleRounds times, and end with a scan of every
  // materialized word, N2). A unit whose release returned before the call
  // began is never missed (proof at the top of detail/atomic_bitmap_impl.hpp).
  // kWrongWorker if `w` belongs to another bitmap.
  Allocation allocate(Worker& w) noexcept;
  // allocate_in — the same, restricted to units [range.begin, range.end)
  // (a window), next-fit within it from the worker's cursor. kNoneFree as
  // allocate's for the whole bitmap; for a smaller range only after the
  // search and a scan of the range's words (N2): a unit released before
  // the call is never missed, but a range of several words is no atomic
  // snapshot, so under churn a unit freed behind the scan while others take
  // the units ahead of it can be missed.
  Allocation allocate_in(Worker& w, UnitRange range) noexcept;
  // allocate_in_ranges — the same over a list of ranges (the blocks a member
  // owns), continuing from the range it last allocated in; ranges it does
  // not own are never scanned.
  Allocation allocate_in_ranges(Worker& w, std::span<const UnitRange> ranges) noexcept;

  // claim — take a given unit. Returns kInUse if it was in use already.
  // Every operation taking a Worker refuses one created for another bitmap
  // (kWrongWorker; claim_bulk counts it in `wrong_worker`), changing nothing.
  ClaimStatus claim(Worker& w, std::uint64_t unit) noexcept;
  // release — free a unit. Returns kNotInUse (a double release: reported,
  // nothing changed) or kOutOfRange; never corrupts the bitmap.
  ReleaseStatus release(Worker& w, std::uint64_t unit) noexcept;
  // test — whether the unit is in use (false beyond the capacity).
  [[nodiscard]] bool test(std::uint64_t unit) const noexcept;
  // load_word — the 64 bits of units [64 * word, 64 * word + 64): bit i set =
  // unit 64 * word + i in use (0 for a leaf never materialized or beyond the
  // capacity). seq_cst loads, like test().
  [[nodiscard]] std::uint64_t load_word(std::uint64_t word) const noexcept;

  // claim_bulk — claim every unit of a sorted, duplicate-free list, one RMW
  // per word. Returns: the number of units newly claimed; `already_in_use`
  // counts the others. Units beyond the capacity are counted in `out_of_range`.
  struct BulkResult {
    std::uint64_t claimed = 0;
    std::uint64_t already_in_use = 0;
    std::uint64_t out_of_range = 0;
    bool no_memory = false;
    bool wrong_worker = false;  // `w` belongs to another bitmap: nothing claimed
  };
  BulkResult claim_bulk(Worker& w, std::span<const std::uint32_t> sorted_units) noexcept;

  // count — units in use. Exact when quiescent; never negative.
  [[nodiscard]] std::uint64_t count() const noexcept;

  // for_each_in_use — calls fn(UnitRange) for each maximal run of in-use
  // units, in increasing order. Exact when quiescent.
  template <class Fn>
  void for_each_in_use(Fn&& fn) const;

  // memory_bytes — bytes held by the structure (nodes, leaves, counters).
  [[nodiscard]] std::uint64_t memory_bytes() const noexcept;
  [[nodiscard]] std::uint64_t leaves() const noexcept { return leaves_.load(std::memory_order_relaxed); }

  // validate — the quiescent invariant check: popcount of the words equals
  // count(); every word and subtree with a free unit has its summary bit set;
  // nothing beyond the capacity is free. Returns: kInternal naming the first
  // violation. Requires: no concurrent mutation.
  [[nodiscard]] Status validate() const;

  // Worker — per-thread allocation state: home region, cursor, counter shard.
  // Not thread-safe itself: one thread uses a Worker at a time.
  class Worker {
   public:
    explicit Worker(BasicAtomicBitmap& bitmap) noexcept;
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    [[nodiscard]] UnitRange region() const noexcept { return bitmap_->region_range(region_); }

   private:
    friend class BasicAtomicBitmap;
    BasicAtomicBitmap* bitmap_;
    std::uint32_t region_ = 0;
    std::uint32_t id_ = 0;            // creation order + 1
    std::uint64_t region_begin_ = 0;  // region_range(region_), cached for the hot path
    std::uint64_t region_end_ = 0;
    std::uint32_t shard_ = 0;
    bool shard_exclusive_ = false;
    std::uint64_t cursor_ = 0;       // next unit to try (next-fit)
    std::uint64_t own_repairs_ = 0;  // repairs this worker began during its current search (N1)
    std::size_t range_cursor_ = 0;   // index into allocate_in_ranges' list
    // Cached path to the leaf holding cursor_, so the hot path walks nothing.
    std::uint64_t cached_leaf_index_ = UINT64_MAX;
    void* cached_path_[kMaxLevels + 1] = {};
    // Cached path for release / claim (they arrive in other leaves).
    std::uint64_t cached_free_leaf_index_ = UINT64_MAX;
    void* cached_free_path_[kMaxLevels + 1] = {};
  };

 private:
  struct Leaf {
    Atom<std::uint64_t> words[64];  // no summary of its own: searches read the words in order
  };
  struct Node {
    Atom<std::uint64_t> nonfull;  // bit c: child c may have a free unit
    Atom<std::uint64_t> present;  // bit c: child c is materialized
    Atom<void*> child[64];
  };
  // DirectoryEntry — a flat index of materialized leaves, for bitmaps of up
  // to kDirectoryMaxLeaves leaves (2^24 units, 16 bytes per 4096 units), so
  // that a release finds its leaf with one load instead of a walk. The tree
  // stays the truth: an entry is published by the installer after its CAS,
  // and a null entry sends the caller to walk the tree.
  struct DirectoryEntry {
    Atom<Leaf*> leaf;    // null until published
    Atom<Node*> parent;  // the level-1 node holding the leaf's summary bit
  };
  static constexpr std::uint64_t kDirectoryMaxLeaves = 4096;
  struct alignas(64) CounterShard {
    Atom<std::int64_t> in_use{0};  // units taken minus units freed through this shard
    Atom<bool> taken{false};       // a worker holds it exclusively
  };
  // Path: path[0] is the leaf, path[L] the node at level L, path[levels_] the root.
  using Path = void * [kMaxLevels + 1];

  static std::uint64_t bit(std::uint64_t i) noexcept { return std::uint64_t{1} << i; }
  // span_units — units covered by one node / leaf at `level` (level 0 = leaf).
  static std::uint64_t span_units(int level) noexcept { return std::uint64_t{1} << (kLeafShift + kFanShift * level); }

  std::uint64_t child_mask_in_capacity(int level, std::uint64_t base) const noexcept;
  Leaf* new_leaf(std::uint64_t base) noexcept;
  Node* new_node(int level, std::uint64_t base) noexcept;
  void destroy(void* p, int level) noexcept;

  // walk — fills `path` for the leaf holding `unit`, materializing nodes if
  // `create`. Returns false if a node is absent (and !create) or memory ran out.
  bool walk(std::uint64_t unit, Path& path, bool create, bool* no_memory) noexcept;
  bool cached_walk(std::uint64_t unit, std::uint64_t& cached_index, Path& cached_path, bool create,
                   bool* no_memory) noexcept;

  // find_leaf — the first leaf index in [lo, hi) (leaf indices) whose
  // summary path says it may have room; only materialized leaves if
  // `present_only`. Returns UINT64_MAX if none.
  std::uint64_t find_leaf(const Node* node, int level, std::uint64_t base_leaf, std::uint64_t lo, std::uint64_t hi,
                          bool present_only) const noexcept;

  // try_leaf — allocate the first free unit in [lo, hi) inside the leaf of
  // `path`; if the whole leaf was read and found full, repair its bit (a
  // repair counted in repairs_).
  bool try_leaf(Worker& w, Path& path, std::uint64_t leaf_base, std::uint64_t lo, std::uint64_t hi,
                std::uint64_t* unit) noexcept;
  // allocate_range — next-fit in [lo, hi) from the cursor, wrapping to lo;
  // materialized leaves first, then (if `allow_absent`) the others.
  Allocation allocate_range(Worker& w, std::uint64_t lo, std::uint64_t hi, bool allow_absent = true) noexcept;
  // fast_alloc — the hot path: the next free bit at or after the cursor in
  // the cursor's leaf, if that leaf is cached. Inline; one RMW per unit.
  bool fast_alloc(Worker& w, std::uint64_t lo, std::uint64_t hi, std::uint64_t* unit) noexcept;
  Allocation allocate_slow(Worker& w) noexcept;
  // search_all — the summary-guided search of allocate_slow.
  Allocation search_all(Worker& w) noexcept;
  // search_settled — runs `search` until its kNoneFree is proven (N1 for
  // the whole bitmap, N2 otherwise), at most kSettleRounds times.
  static constexpr int kSettleRounds = 8;
  template <class Search>
  Allocation search_settled(Worker& w, std::span<const UnitRange> ranges, bool whole, Search&& search) noexcept;
  // begin_search / search_was_quiet — the repair counter around a search
  // (N1 of the proof): quiet means no repair by another thread was in flight
  // at the start or began before the end.
  std::uint64_t begin_search(Worker& w) noexcept;
  bool search_was_quiet(const Worker& w, std::uint64_t at_start) const noexcept;
  // rescan — (N2) the first free unit of the ranges, reading the words of
  // every materialized leaf in them (no summary); a leaf not materialized
  // is all free and is taken through allocate_range. Bounded by the leaves
  // in the ranges; wait-free but for that materialization.
  Allocation rescan(Worker& w, std::span<const UnitRange> ranges) noexcept;
  bool rescan_node(const Node* node, int level, std::uint64_t base, std::uint64_t lo, std::uint64_t hi,
                   std::uint64_t* unit, bool* absent) noexcept;
  bool materialized_nearly_full() const noexcept;

  // scan_words — allocate the first free unit at offsets [from, to) of a leaf
  // (0 <= from < to <= 4096), reading its words in order.
  bool scan_words(Leaf* leaf, std::uint64_t leaf_base, std::uint64_t from, std::uint64_t to,
                  std::uint64_t* unit) noexcept;
  bool leaf_has_room(const Leaf* leaf, std::uint64_t leaf_base) const noexcept;
  // mark_full / mark_nonfull — the summary protocol at `level` >= 1 (the bit
  // of path[level - 1] in path[level]); see the top of atomic_bitmap_impl.hpp.
  void mark_full(Path& path, int level, std::uint64_t unit) noexcept;
  void mark_nonfull(Path& path, int level, std::uint64_t unit) noexcept;

  void count_delta(Worker& w, std::int64_t delta) noexcept;

  UnitRange region_range(std::uint32_t r) const noexcept;
  bool move_region(Worker& w, bool unoccupied_only, bool present_only) noexcept;

  std::uint64_t capacity_;
  int levels_;                // interior levels; the root is at level levels_
  std::uint64_t leaf_count_;  // leaves that would cover the capacity
  std::uint32_t regions_;
  std::uint64_t region_units_;
  Node* root_;
  DirectoryEntry* directory_ = nullptr;  // null above kDirectoryMaxLeaves leaves
  Atom<std::uint64_t> leaves_{0};
  Atom<std::uint64_t> nodes_{0};
  Atom<std::uint32_t> next_region_{0};
  Atom<std::uint32_t> region_workers_[kMaxRegions];
  Atom<std::uint32_t> region_sweeper_[kMaxRegions];  // id of the worker that entered it last (0: none)
  // repairs_ — summary repairs (mark_full from try_leaf): the high bits
  // count repairs begun (kRepairBegun each), the low kInFlightBits the
  // repairs in flight. On its own cache line: written only by repairs, read
  // at the start and end of slow-path searches. See N1 in the proof.
  static constexpr int kInFlightBits = 20;
  static constexpr std::uint64_t kRepairBegun = std::uint64_t{1} << kInFlightBits;
  static constexpr std::uint64_t kInFlightMask = kRepairBegun - 1;
  struct alignas(64) RepairCounter {
    Atom<std::uint64_t> v{0};
  };
  RepairCounter repairs_;
  CounterShard shards_[kCounterShards];
};

using AtomicBitmap = BasicAtomicBitmap<std::atomic>;

}  // namespace uepool::core

#include "uepool/core/detail/atomic_bitmap_impl.hpp"
#include "uepool/core/detail/atomic_bitmap_search.hpp"
#include "uepool/core/detail/atomic_bitmap_units.hpp"
