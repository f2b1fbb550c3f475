// Implementation of BasicAtomicBitmap (included by uepool/core/atomic_bitmap.hpp).
//
// ---------------------------------------------------------------------------
// The summary protocol (the lost-wakeup race) — read this before changing
// any memory order below.
//
// A summary bit b in word S (a node's `nonfull`) stands for a child C (a
// leaf, or a child node). "C has room" means: one of the leaf's 64 words has
// a zero bit / the child node's `nonfull` is non-zero. Leaves have no summary
// of their own: a search reads a leaf's words in order (next-fit makes that a
// sequential sweep), so a fill or a release inside a leaf writes nothing but
// the word itself, and summary bits change only when a whole leaf goes from
// full to room (a release) or a search finds one full (a repair).
// All operations named below are seq_cst; on x86 a seq_cst RMW is the same
// `lock`ed instruction as any other RMW and a seq_cst load is a plain `mov`,
// so this costs nothing there. There is no standalone fence.
//
//   Filler F (mark_full), after a search found C full under a set bit b
//   (only a search that read the whole leaf, or a child summary of 0):
//     F1: S.fetch_and(~b)             -- clear the hint
//     F2: if S became 0, run mark_full one level up
//     F3: load C (every word of a leaf; a child node's summary); if C has
//         room: mark_nonfull(S, b)     -- recheck
//   Nothing clears a bit when an allocation fills a word or a leaf: the bit
//   stays 1 over a full child (a harmless hint) until a search finds it full.
//   Freer R, after R1 may have given C room:
//     level 1 (release): R1 = word.fetch_and(~m) (`lock btr`, only the old
//         bit is known), then R1' = load S (the leaf's bit in its parent);
//         if b is clear in S: R2.
//     level >= 2 (mark_nonfull below): R1 = child.fetch_or(..) returned 0
//         (the child went from full to room), then R2 unconditionally.
//     R2: if a load of S shows b set, stop (R2'); else S.fetch_or(b), and
//         if S was 0, R2 again one level up.
//
// Claim: once R and F have both returned, b is 1 whenever C has room.
// Proof, in the single total order of seq_cst operations:
//   Level 1. If R1' comes after F1, R1' reads F1's clear (or a later write:
//     a later clear is a later filler's, which runs its own recheck; a later
//     set leaves b = 1), so R runs R2 after F1 and b ends 1. If R1' comes
//     before F1, then R1 < R1' < F1 < F3, so F3's load of R1's word reads
//     R1's write or a later one: C has room (unless a later allocation took
//     it, and then the leaf is full and a 0 hides nothing) and F sets b again.
//   Level >= 2. The same argument with R2' (the load) in the place of R1':
//     if R2' reads b set and comes before F1, then R1 < R2' < F1 < F3 and F3
//     sees R1's room; otherwise R2' sees the clear and R2 sets b after it.
// Each level runs the same protocol, so the claim holds up to the root,
// and "root summary is 0" means every unit is in use.
//
// What the claim does not promise: while F is between F1 and F3, a third
// thread's search may read b = 0 over a child with room (the "false
// none-free": the root reads 0 although a unit whose release returned long
// ago is free). Searches therefore check, before they answer kNoneFree,
// that no repair overlapped them (N1), or look at the words themselves (N2).
//
// The repair counter P (repairs_): every repair (mark_full from try_leaf,
// F1 to F3 and the F2 repairs above it) runs between
//     P1: P.fetch_add(kRepairBegun + 1)     P2: P.fetch_sub(1)
// (seq_cst RMWs, so each is a release and an acquire). The high bits of P
// count repairs begun, the low bits repairs in flight. Summary loads of a
// search are acquire; every write to a summary word is an RMW.
//
// Claim N (no false none-free): let R be a release of unit u that returned
// before search S began (R happens-before S), and let no allocation take u
// during S. Then S does not answer kNoneFree.
//   S answers kNoneFree only by
//   (N1) a load of the root summary that read 0, with v0 = P.load(acquire)
//        before the search and v1 = P.load(acquire) after it such that v0
//        has no repair in flight and v1 = v0 + (S's own repairs) *
//        kRepairBegun (no other repair began in between), or
//   (N2) after a search, a rescan that reads the words of every
//        materialized leaf of the range and finds them full.
//   N2: the rescan's load of u's word is after R1 in happens-before, so by
//     coherence it reads R1's write or a later one; only an allocation
//     sets u's bit again. So the rescan finds u.
//   N1: the root load read bit b (u's subtree) = 0. Let W be the last write
//     clearing b at or before the value read, in the modification order of
//     the root word; only F1 clears bits, so W is F1 of a repair F'. The
//     root load is acquire and reads W or a later RMW of W's release
//     sequence, so P1 of F' happens-before S's load of v1; v1 therefore
//     includes P1 of F'. If F' is S's own repair, it finished (P2, and
//     its recheck F3) before v1 in S's own program order. Otherwise P1 of
//     F' precedes v0 in P's order (had it followed, v1 would count one more
//     begun repair), and since no repair was in flight at v0, P2 of F'
//     precedes v0 too (a P2 never precedes its own P1, and at v0 the begun
//     and ended repairs are equal in number); v0 is acquire, so F' happens-
//     before the root load. Either way F' is complete before the root load
//     in happens-before. By the claim above (R and F' both returned), some
//     write Y sets b after W in the root word's order and happens-before
//     the root load (F3's re-set by F', or R's R2, or the set that R1' or
//     R2' read). Coherence makes the root load read Y or later; W was the
//     last clear before it, so it reads b = 1: a contradiction.
//   So a false none-free needs a repair overlapping the search.
// search_settled: for the whole bitmap, kNoneFree is answered only through
//   N1, which is linearizable (at the root load every unit was in use or
//   had a release in flight); a search that cannot prove it rescans (N2)
//   and looks again: each round takes a unit, repairs stale summary bits
//   (so a full bitmap's root reaches 0), or lost to another thread's
//   release or allocation, so the loop is lock-free; it is also bounded
//   (kSettleRounds; the last rescan's answer then stands, an N2 answer).
// What it does not promise: for a range smaller than the bitmap only N2
// holds: no scan is an atomic snapshot of many words, so a unit freed
// behind the scan while another thread takes the units ahead of it can be
// missed by that call.
// Tested: tests/core/summary_interleaving_test.cpp (every schedule, with a
// broken variant) and tests/core/summary_relacy_test.cpp (Relacy, the C++
// memory model with these orders).
// ---------------------------------------------------------------------------
#pragma once

#include <algorithm>

namespace uepool::core {

template <template <class> class Atom>
BasicAtomicBitmap<Atom>::BasicAtomicBitmap(std::uint64_t capacity)
    : capacity_(std::clamp<std::uint64_t>(capacity, 1, kMaxCapacity)) {
  levels_ = 1;
  while (span_units(levels_) < capacity_) ++levels_;
  leaf_count_ = (capacity_ + span_units(0) - 1) >> kLeafShift;
  const std::uint64_t leaves_per_region = (leaf_count_ + kMaxRegions - 1) / kMaxRegions;  // at least 1
  region_units_ = leaves_per_region << kLeafShift;
  regions_ = static_cast<std::uint32_t>((capacity_ + region_units_ - 1) / region_units_);
  for (auto& r : region_workers_) r.store(0, std::memory_order_relaxed);
  for (auto& r : region_sweeper_) r.store(0, std::memory_order_relaxed);
  root_ = new Node;  // may throw at construction only; never on the hot path
  root_->nonfull.store(child_mask_in_capacity(levels_, 0), std::memory_order_relaxed);
  root_->present.store(0, std::memory_order_relaxed);
  for (auto& c : root_->child) c.store(nullptr, std::memory_order_relaxed);
  nodes_.store(1, std::memory_order_relaxed);
  if (leaf_count_ <= kDirectoryMaxLeaves) {
    directory_ = new DirectoryEntry[leaf_count_];
    for (std::uint64_t i = 0; i < leaf_count_; ++i) {
      directory_[i].leaf.store(nullptr, std::memory_order_relaxed);
      directory_[i].parent.store(nullptr, std::memory_order_relaxed);
    }
  }
}

template <template <class> class Atom>
BasicAtomicBitmap<Atom>::~BasicAtomicBitmap() {
  destroy(root_, levels_);
  delete[] directory_;
}

template <template <class> class Atom>
void BasicAtomicBitmap<Atom>::destroy(void* p, int level) noexcept {
  if (p == nullptr) return;
  if (level == 0) {
    delete static_cast<Leaf*>(p);
    return;
  }
  Node* n = static_cast<Node*>(p);
  for (auto& c : n->child) destroy(c.load(std::memory_order_relaxed), level - 1);
  delete n;
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::child_mask_in_capacity(int level, std::uint64_t base) const noexcept {
  // Children of a node at `level` span span_units(level-1); words of a leaf span 64.
  const std::uint64_t child_span = level == 0 ? 64 : span_units(level - 1);
  if (base >= capacity_) return 0;
  const std::uint64_t n = (capacity_ - base + child_span - 1) / child_span;
  return n >= 64 ? ~std::uint64_t{0} : bit(n) - 1;
}

template <template <class> class Atom>
typename BasicAtomicBitmap<Atom>::Leaf* BasicAtomicBitmap<Atom>::new_leaf(std::uint64_t base) noexcept {
  Leaf* leaf = new (std::nothrow) Leaf;
  if (leaf == nullptr) return nullptr;
  for (int w = 0; w < 64; ++w) {
    const std::uint64_t start = base + 64 * static_cast<std::uint64_t>(w);
    std::uint64_t v = 0;
    if (start >= capacity_) {
      v = ~std::uint64_t{0};  // wholly beyond the capacity: preset in use
    } else if (capacity_ - start < 64) {
      v = ~std::uint64_t{0} << (capacity_ - start);  // the bits beyond the capacity
    }
    leaf->words[w].store(v, std::memory_order_relaxed);
  }
  leaves_.fetch_add(1, std::memory_order_relaxed);  // statistics only
  return leaf;
}

template <template <class> class Atom>
typename BasicAtomicBitmap<Atom>::Node* BasicAtomicBitmap<Atom>::new_node(int level, std::uint64_t base) noexcept {
  Node* n = new (std::nothrow) Node;
  if (n == nullptr) return nullptr;
  n->nonfull.store(child_mask_in_capacity(level, base), std::memory_order_relaxed);
  n->present.store(0, std::memory_order_relaxed);
  for (auto& c : n->child) c.store(nullptr, std::memory_order_relaxed);
  nodes_.fetch_add(1, std::memory_order_relaxed);  // statistics only
  return n;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::walk(std::uint64_t unit, Path& path, bool create, bool* no_memory) noexcept {
  path[levels_] = root_;
  Node* n = root_;
  for (int level = levels_; level >= 1; --level) {
    const int shift = kLeafShift + kFanShift * (level - 1);
    const std::uint64_t c = (unit >> shift) & 63;
    // acquire: pairs with the acq_rel CAS that installed the child, so its
    // initialized words and summaries are visible before we use them.
    void* child = n->child[c].load(std::memory_order_acquire);
    if (child == nullptr) {
      if (!create) return false;
      const std::uint64_t base = (unit >> shift) << shift;
      child = level == 1 ? static_cast<void*>(new_leaf(base)) : static_cast<void*>(new_node(level - 1, base));
      if (child == nullptr) {
        if (no_memory != nullptr) *no_memory = true;
        return false;
      }
      void* expected = nullptr;
      // acq_rel would do for the bitmap itself: release publishes the child's
      // initialization; acquire (on failure too) makes the winner's child
      // visible to us. seq_cst (the same lock cmpxchg on x86) for the set
      // layer's window-close protocol: a seq_cst test() that finds no child
      // precedes this install in the total order S (set/member.cpp).
      if (n->child[c].compare_exchange_strong(expected, child, std::memory_order_seq_cst, std::memory_order_seq_cst)) {
        // release: pairs with the acquire load of `present` in find_leaf, so
        // a searcher that sees the bit also sees the child pointer.
        n->present.fetch_or(bit(c), std::memory_order_release);
        if (level == 1 && directory_ != nullptr) {
          DirectoryEntry& e = directory_[unit >> kLeafShift];
          e.parent.store(n, std::memory_order_relaxed);  // published by the release store below
          // release: pairs with the acquire load in release(); only the
          // winner of the install stores, once.
          e.leaf.store(static_cast<Leaf*>(child), std::memory_order_release);
        }
      } else {
        destroy(child, level - 1);  // lost the race: free our copy
        if (level == 1) {
          leaves_.fetch_sub(1, std::memory_order_relaxed);
        } else {
          nodes_.fetch_sub(1, std::memory_order_relaxed);
        }
        child = expected;
      }
    }
    path[level - 1] = child;
    if (level > 1) n = static_cast<Node*>(child);
  }
  return true;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::cached_walk(std::uint64_t unit, std::uint64_t& cached_index, Path& cached_path,
                                          bool create, bool* no_memory) noexcept {
  const std::uint64_t leaf_index = unit >> kLeafShift;
  if (leaf_index == cached_index) return true;
  // Walk straight into the cache (a copy through a temporary stalls on
  // store-to-load forwarding); a failed walk leaves it invalid.
  cached_index = UINT64_MAX;
  if (!walk(unit, cached_path, create, no_memory)) return false;
  cached_index = leaf_index;
  return true;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::leaf_has_room(const Leaf* leaf, std::uint64_t leaf_base) const noexcept {
  // Words wholly beyond the capacity are preset full: not read.
  const std::uint64_t words = std::min<std::uint64_t>(64, (capacity_ - leaf_base + 63) >> 6);
  for (std::uint64_t i = 0; i < words; ++i) {
    // seq_cst loads (plain `mov`s): F3 of the proof at the top.
    if (leaf->words[i].load(std::memory_order_seq_cst) != ~std::uint64_t{0}) return true;
  }
  return false;
}

template <template <class> class Atom>
void BasicAtomicBitmap<Atom>::mark_full(Path& path, int level, std::uint64_t unit) noexcept {
  // level >= 1: the bit of path[level - 1] (a leaf or a node) in path[level].
  UEPOOL_DCHECK(level >= 1 && level <= levels_, "mark_full: no such level");
  const std::uint64_t idx = (unit >> (kFanShift * (level - 1) + kLeafShift)) & 63;
  Atom<std::uint64_t>& summary = static_cast<Node*>(path[level])->nonfull;
  // F1 (seq_cst): see the proof at the top of this file.
  const std::uint64_t old = summary.fetch_and(~bit(idx), std::memory_order_seq_cst);
  // F2: this summary became 0: its own bit one level up is a stale 1 now.
  if (old == bit(idx) && level < levels_) mark_full(path, level + 1, unit);
  // F3 (seq_cst loads): recheck the child (the proof at the top).
  if constexpr (detail::SkipRecheck<Atom>::value) return;
  const bool room = level == 1 ? leaf_has_room(static_cast<const Leaf*>(path[0]), (unit >> kLeafShift) << kLeafShift)
                               : static_cast<Node*>(path[level - 1])->nonfull.load(std::memory_order_seq_cst) != 0;
  if (room) mark_nonfull(path, level, unit);
}

template <template <class> class Atom>
void BasicAtomicBitmap<Atom>::mark_nonfull(Path& path, int level, std::uint64_t unit) noexcept {
  UEPOOL_DCHECK(level >= 1 && level <= levels_, "mark_nonfull: no such level");
  const std::uint64_t idx = (unit >> (kFanShift * (level - 1) + kLeafShift)) & 63;
  Atom<std::uint64_t>& summary = static_cast<Node*>(path[level])->nonfull;
  // R2' (seq_cst load): a bit already set needs no RMW, so a shared upper
  // summary is only read while it is right (the proof at the top covers
  // load-then-RMW, as at level 1).
  if ((summary.load(std::memory_order_seq_cst) & bit(idx)) != 0) return;
  // R2 (seq_cst): see the proof at the top of this file.
  const std::uint64_t old = summary.fetch_or(bit(idx), std::memory_order_seq_cst);
  if (old == 0 && level < levels_) mark_nonfull(path, level + 1, unit);
}

template <template <class> class Atom>
void BasicAtomicBitmap<Atom>::count_delta(Worker& w, std::int64_t delta) noexcept {
  Atom<std::int64_t>& c = shards_[w.shard_].in_use;
  if (w.shard_exclusive_) {
    // Only this worker writes the shard: a plain load+store, no locked RMW.
    // relaxed: count() is exact only when quiescent.
    c.store(c.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  } else {
    c.fetch_add(delta, std::memory_order_relaxed);  // shared shard (more workers than shards)
  }
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::count() const noexcept {
  std::int64_t sum = 0;
  for (const auto& s : shards_) sum += s.in_use.load(std::memory_order_relaxed);
  return sum > 0 ? static_cast<std::uint64_t>(sum) : 0;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::try_leaf(Worker& w, Path& path, std::uint64_t leaf_base, std::uint64_t lo,
                                       std::uint64_t hi, std::uint64_t* unit) noexcept {
  Leaf* leaf = static_cast<Leaf*>(path[0]);
  const std::uint64_t from = std::max(lo, leaf_base) - leaf_base;                // unit offset in leaf
  const std::uint64_t to = std::min(hi, leaf_base + span_units(0)) - leaf_base;  // exclusive
  if (from >= to) return false;
  if (scan_words(leaf, leaf_base, from, to, unit)) return true;
  // Nothing here. If the scan covered the whole leaf (units beyond the
  // capacity are preset in use), the leaf is full: repair its bit in the
  // parent (fills leave it at 1; see mark_full), so searches stop visiting it.
  // A bit already clear was cleared by another search, which rechecks.
  if (from == 0 && (to == span_units(0) || leaf_base + to >= capacity_) &&
      // relaxed: the RMW in mark_full, not this load, is F1.
      (static_cast<Node*>(path[1])->nonfull.load(std::memory_order_relaxed) & bit((leaf_base >> kLeafShift) & 63)) !=
          0) {
    // P1 / P2 (seq_cst RMWs): the repair counter around the repair (N1).
    repairs_.v.fetch_add(kRepairBegun + 1, std::memory_order_seq_cst);
    ++w.own_repairs_;
    mark_full(path, 1, leaf_base);
    repairs_.v.fetch_sub(1, std::memory_order_seq_cst);
  }
  return false;
}

template <template <class> class Atom>
inline bool BasicAtomicBitmap<Atom>::scan_words(Leaf* leaf, std::uint64_t leaf_base, std::uint64_t from,
                                                std::uint64_t to, std::uint64_t* unit) noexcept {
  // Units [from, to) of the leaf (offsets; from < to <= 4096), word by word.
  UEPOOL_DCHECK(from < to && to <= span_units(0), "scan_words: an empty or oversized span of a leaf");
  std::uint64_t w = from >> 6;
  const std::uint64_t last = (to - 1) >> 6;
  std::uint64_t allowed = ~std::uint64_t{0} << (from & 63);
  for (;;) {
    if (w == last && (to & 63) != 0) allowed &= bit(to & 63) - 1;
    Atom<std::uint64_t>& word = leaf->words[w];
    std::uint64_t v = word.load(std::memory_order_relaxed);  // a hint; the RMW decides
    while ((~v & allowed) != 0) {
      const int b = std::countr_zero(~v & allowed);
      const std::uint64_t m = bit(static_cast<std::uint64_t>(b));
      // Only the old bit is used, so g++ emits `lock bts` (no CAS loop).
      // acquire would do for the bitmap: it pairs with the release RMW in
      // release(), so the previous holder's writes happen-before our use of
      // the unit. seq_cst (the same `lock bts` on x86) because the set
      // layer's window-close protocol needs this RMW in the total order S
      // with its seq_cst state load that follows (set/member.cpp, "the close
      // protocol").
      if ((word.fetch_or(m, std::memory_order_seq_cst) & m) == 0) [[likely]] {
        *unit = leaf_base + w * 64 + static_cast<std::uint64_t>(b);
        UEPOOL_DCHECK(*unit < capacity_, "scan_words took a unit beyond the capacity (preset bits lost)");
        return true;
      }
      v = word.load(std::memory_order_relaxed);  // lost the bit to another thread: try the next zero
    }
    if (w == last) return false;
    ++w;
    allowed = ~std::uint64_t{0};
  }
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::find_leaf(const Node* node, int level, std::uint64_t base_leaf, std::uint64_t lo,
                                                 std::uint64_t hi, bool present_only) const noexcept {
  const std::uint64_t child_leaves = std::uint64_t{1} << (kFanShift * (level - 1));
  // acquire: summaries are hints, but a search that reads a cleared bit
  // must synchronize with the F1 that cleared it (N1 of the proof at the top).
  std::uint64_t mask = node->nonfull.load(std::memory_order_acquire);
  // acquire: pairs with the release fetch_or after a child is installed.
  if (present_only) mask &= node->present.load(std::memory_order_acquire);
  const std::uint64_t c_lo = lo > base_leaf ? (lo - base_leaf) / child_leaves : 0;
  const std::uint64_t c_hi = std::min<std::uint64_t>(64, (hi - base_leaf + child_leaves - 1) / child_leaves);
  if (c_lo >= c_hi) return UINT64_MAX;
  mask &= (c_hi >= 64 ? ~std::uint64_t{0} : bit(c_hi) - 1) & ~(bit(c_lo) - 1);
  while (mask != 0) {
    const std::uint64_t c = static_cast<std::uint64_t>(std::countr_zero(mask));
    mask &= mask - 1;
    const std::uint64_t child_base = base_leaf + c * child_leaves;
    const std::uint64_t first = std::max(lo, child_base);
    if (level == 1) return first;  // a leaf that may have room (or is absent: all free)
    const void* child = node->child[c].load(std::memory_order_acquire);
    if (child == nullptr) {
      if (present_only) continue;
      return first;  // absent subtree: all free
    }
    const std::uint64_t r = find_leaf(static_cast<const Node*>(child), level - 1, child_base, first,
                                      std::min(hi, child_base + child_leaves), present_only);
    if (r != UINT64_MAX) return r;
  }
  return UINT64_MAX;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::allocate_range(Worker& w, std::uint64_t lo, std::uint64_t hi,
                                                   bool allow_absent) noexcept {
  hi = std::min(hi, capacity_);
  if (lo >= hi) return {0, lo >= capacity_ ? AllocStatus::kOutOfRange : AllocStatus::kNoneFree};
  const std::uint64_t start = (w.cursor_ >= lo && w.cursor_ < hi) ? w.cursor_ : lo;
  bool no_memory = false;
  std::uint64_t unit = 0;
  // Fast path: the leaf under the cursor, from the cursor on — only if it
  // exists (a cursor that just crossed into an absent leaf must not create
  // it while materialized leaves still have room).
  if (cached_walk(start, w.cached_leaf_index_, w.cached_path_, false, nullptr)) {
    Path& path = w.cached_path_;
    if (try_leaf(w, path, (start >> kLeafShift) << kLeafShift, start, hi, &unit)) {
      w.cursor_ = unit + 1;
      return {unit, AllocStatus::kOk};
    }
  }
  // Slow path: the next leaf with room, after the cursor then wrapping to lo;
  // materialized leaves first, so memory follows the units in use.
  const std::uint64_t cur_leaf = start >> kLeafShift;
  const std::uint64_t first_leaf = lo >> kLeafShift;
  const std::uint64_t end_leaf = ((hi - 1) >> kLeafShift) + 1;
  // The first segment includes the cursor's own leaf (from the cursor on):
  // the fast path skipped it if it was not materialized yet. The wrap
  // segment covers the units before the cursor.
  const std::uint64_t segments[2][2] = {{cur_leaf, end_leaf}, {first_leaf, cur_leaf + 1}};
  for (const bool present_only : {true, false}) {
    if (!present_only && !allow_absent) break;
    for (const auto& seg : segments) {
      const bool after_cursor = &seg == &segments[0];
      std::uint64_t s = seg[0];
      while (s < seg[1]) {
        const std::uint64_t leaf = find_leaf(root_, levels_, 0, s, seg[1], present_only);
        if (leaf == UINT64_MAX) break;
        const std::uint64_t leaf_base = leaf << kLeafShift;
        if (!cached_walk(leaf_base, w.cached_leaf_index_, w.cached_path_, true, &no_memory)) {
          return {0, AllocStatus::kNoMemory};
        }
        Path& path = w.cached_path_;
        if (try_leaf(w, path, leaf_base, after_cursor && leaf == cur_leaf ? start : lo, hi, &unit)) {
          w.cursor_ = unit + 1;
          return {unit, AllocStatus::kOk};
        }
        s = leaf + 1;
      }
    }
  }
  return {0, AllocStatus::kNoneFree};
}

template <template <class> class Atom>
UnitRange BasicAtomicBitmap<Atom>::region_range(std::uint32_t r) const noexcept {
  const std::uint64_t begin = static_cast<std::uint64_t>(r) * region_units_;
  return {begin, std::min(capacity_, begin + region_units_)};
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::move_region(Worker& w, bool unoccupied_only, bool present_only) noexcept {
  // Rare path: the next region, in order, whose summaries show room (in a
  // materialized leaf only, if `present_only`), and that no other worker
  // uses if `unoccupied_only` (so cursors do not converge and fight over
  // words). Among those, first a region this worker swept last or nobody
  // has: workers that sweep a near-full pool side by side then keep to
  // their own regions, so the units a worker holds, and releases, lie in
  // cache lines it wrote itself rather than in another core's.
  for (const bool own_only : {unoccupied_only, false}) {
    for (std::uint32_t k = 1; k < regions_; ++k) {
      const std::uint32_t r = (w.region_ + k) % regions_;
      // relaxed: placement heuristics only.
      if (unoccupied_only && region_workers_[r].load(std::memory_order_relaxed) != 0) continue;
      if (own_only) {
        const std::uint32_t last = region_sweeper_[r].load(std::memory_order_relaxed);
        if (last != 0 && last != w.id_) continue;
      }
      const UnitRange range = region_range(r);
      if (find_leaf(root_, levels_, 0, range.begin >> kLeafShift, ((range.end - 1) >> kLeafShift) + 1, present_only) ==
          UINT64_MAX) {
        continue;
      }
      region_workers_[w.region_].fetch_sub(1, std::memory_order_relaxed);
      region_workers_[r].fetch_add(1, std::memory_order_relaxed);
      region_sweeper_[r].store(w.id_, std::memory_order_relaxed);
      w.region_ = r;
      w.region_begin_ = range.begin;
      w.region_end_ = range.end;
      w.cursor_ = range.begin;
      return true;
    }
  }
  return false;
}

template <template <class> class Atom>
inline bool BasicAtomicBitmap<Atom>::fast_alloc(Worker& w, std::uint64_t lo, std::uint64_t hi,
                                                std::uint64_t* unit) noexcept {
  const std::uint64_t c = w.cursor_;
  if ((c >> kLeafShift) != w.cached_leaf_index_ || c < lo || c >= hi) [[unlikely]] {
    return false;
  }
  // From the cursor to the end of its leaf (or of the range).
  const std::uint64_t leaf_base = c & ~(span_units(0) - 1);
  const std::uint64_t end = std::min(hi, leaf_base + span_units(0));
  if (scan_words(static_cast<Leaf*>(w.cached_path_[0]), leaf_base, c - leaf_base, end - leaf_base, unit)) [[likely]] {
    w.cursor_ = *unit + 1;
    return true;
  }
  w.cursor_ = end;  // nothing up to `end`: the slow path goes on from there
  return false;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::allocate(Worker& w) noexcept {
  if (w.bitmap_ != this) [[unlikely]] {
    return {0, AllocStatus::kWrongWorker};
  }
  std::uint64_t unit = 0;
  if (fast_alloc(w, w.region_begin_, w.region_end_, &unit)) [[likely]] {
    count_delta(w, 1);
    return {unit, AllocStatus::kOk};
  }
  return allocate_slow(w);
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::materialized_nearly_full() const noexcept {
  // At least 7/8 of the units of materialized leaves in use: only then may
  // a worker's next-fit move on into leaves not yet materialized, so memory
  // stays within 8/7 of the peak in use (plus the leaves cursors are in).
  // relaxed: statistics; a stale value only delays or hastens growth.
  const std::uint64_t leaves = leaves_.load(std::memory_order_relaxed);
  if (leaves >= leaf_count_) return true;  // every leaf exists: nothing to grow
  return count() * 8 >= leaves * span_units(0) * 7;
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::begin_search(Worker& w) noexcept {
  w.own_repairs_ = 0;
  // acquire: v0 of N1 (the proof at the top); pairs with P2 of the repairs
  // that ended before it, so they happen-before this search.
  return repairs_.v.load(std::memory_order_acquire);
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::search_was_quiet(const Worker& w, std::uint64_t at_start) const noexcept {
  // acquire: v1 of N1.
  const std::uint64_t now = repairs_.v.load(std::memory_order_acquire);
  return (at_start & kInFlightMask) == 0 && now == at_start + w.own_repairs_ * kRepairBegun;
}

template <template <class> class Atom>
template <class Search>
Allocation BasicAtomicBitmap<Atom>::search_settled(Worker& w, std::span<const UnitRange> ranges, bool whole,
                                                   Search&& search) noexcept {
  // A kNoneFree of `search` stands only if proven: N1 (the ranges are the
  // whole bitmap, the root read 0 and no repair overlapped) or, for other
  // ranges, N2 (a rescan of the words found nothing). An unproven answer is
  // searched again: each round either takes a unit, or repairs summary bits
  // (so the root converges to 0 when the bitmap is full), or saw another
  // thread's release or allocation (lock-free). After kSettleRounds rounds
  // the last rescan's answer stands.
  Allocation a{0, AllocStatus::kNoneFree};
  for (int round = 0; round < kSettleRounds; ++round) {
    const std::uint64_t v0 = begin_search(w);
    a = search();
    if (a.status != AllocStatus::kNoneFree) return a;
    if constexpr (detail::SkipRepairCheck<Atom>::value) return a;
    // acquire: the root load of N1 (between v0 and v1 of search_was_quiet).
    if (whole && root_->nonfull.load(std::memory_order_acquire) == 0 && search_was_quiet(w, v0)) return a;
    a = rescan(w, ranges);  // N2
    if (a.status != AllocStatus::kNoneFree || !whole) return a;
  }
  return a;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::allocate_slow(Worker& w) noexcept {
  const UnitRange all{0, capacity_};
  Allocation a = search_settled(w, std::span<const UnitRange>(&all, 1), true, [&] { return search_all(w); });
  if (a.ok()) count_delta(w, 1);
  return a;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::search_all(Worker& w) noexcept {
  // Next-fit, in this order:
  //   1. the home region from the cursor to its end, in materialized leaves;
  //   2. the same in any leaf, if materialized leaves are 7/8 in use;
  //   3. the next region, in order, with room and no other worker (a
  //      near-full pool is swept region after region, and a unit freed
  //      behind the cursor waits a whole sweep before reuse); in
  //      materialized leaves unless those are 7/8 in use;
  //   4. the home region from its start (a wrap), materialized leaves first;
  //   5. any region with room, occupied or not, materialized or not.
  // Steps 3 and 4 keep workers apart (a worker enters another's region only
  // when its own is full: cursors that converge fight over words); steps 1
  // to 3 keep memory following the units in use (no leaf is materialized
  // while materialized leaves have room, unless those are 7/8 in use).
  auto done = [&](const Allocation& a) { return a.status != AllocStatus::kNoneFree; };
  Allocation a{0, AllocStatus::kNoneFree};
  const bool ahead = w.cursor_ >= w.region_begin_ && w.cursor_ < w.region_end_;
  if (ahead && done(a = allocate_range(w, w.cursor_, w.region_end_, false))) return a;
  const bool grow = materialized_nearly_full();
  if (ahead && grow && done(a = allocate_range(w, w.cursor_, w.region_end_, true))) {
    return a;
  }
  for (std::uint32_t tries = 0; tries < regions_; ++tries) {
    // Exhaustion in O(1): a root summary of 0 means every unit is in use,
    // unless a repair is in flight (N1 of the proof; search_settled checks).
    // relaxed: a hint here; search_settled's own root load is N1's.
    if (root_->nonfull.load(std::memory_order_relaxed) == 0) return {0, AllocStatus::kNoneFree};
    if (!move_region(w, true, !grow)) break;
    if (done(a = allocate_range(w, w.region_begin_, w.region_end_, grow))) return a;
  }
  if (done(a = allocate_range(w, w.region_begin_, w.region_end_, true))) return a;
  for (std::uint32_t tries = 0; tries < regions_; ++tries) {
    if (root_->nonfull.load(std::memory_order_relaxed) == 0) break;  // relaxed: as above
    if (!move_region(w, false, false)) break;
    if (done(a = allocate_range(w, w.region_begin_, w.region_end_, true))) return a;
  }
  return {0, AllocStatus::kNoneFree};
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::allocate_in(Worker& w, UnitRange range) noexcept {
  if (w.bitmap_ != this) [[unlikely]] {
    return {0, AllocStatus::kWrongWorker};
  }
  if (range.begin >= capacity_ || range.end > capacity_) return {0, AllocStatus::kOutOfRange};
  std::uint64_t unit = 0;
  if (fast_alloc(w, range.begin, range.end, &unit)) [[likely]] {
    count_delta(w, 1);
    return {unit, AllocStatus::kOk};
  }
  const bool whole = range.begin == 0 && range.end == capacity_;
  Allocation a = search_settled(w, std::span<const UnitRange>(&range, 1), whole,
                                [&] { return allocate_range(w, range.begin, range.end); });
  UEPOOL_DCHECK(!a.ok() || (a.unit >= range.begin && a.unit < range.end), "allocate_in: a unit outside the range");
  if (a.ok()) count_delta(w, 1);
  return a;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::allocate_in_ranges(Worker& w, std::span<const UnitRange> ranges) noexcept {
  if (w.bitmap_ != this) [[unlikely]] {
    return {0, AllocStatus::kWrongWorker};
  }
  const std::size_t n = ranges.size();
  if (n == 0) return {0, AllocStatus::kNoneFree};
  if (w.range_cursor_ >= n) w.range_cursor_ = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (w.range_cursor_ + k) % n;
    const UnitRange r = ranges[i];
    if (r.begin >= capacity_ || r.end > capacity_) return {0, AllocStatus::kOutOfRange};
    Allocation a = allocate_range(w, r.begin, r.end);
    if (a.status == AllocStatus::kNoneFree) continue;
    if (a.ok()) {
      w.range_cursor_ = i;
      count_delta(w, 1);
    }
    return a;
  }
  if constexpr (detail::SkipRepairCheck<Atom>::value) return {0, AllocStatus::kNoneFree};
  Allocation a = rescan(w, ranges);  // N2 of the proof at the top
  if (a.ok()) count_delta(w, 1);
  return a;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::rescan_node(const Node* node, int level, std::uint64_t base, std::uint64_t lo,
                                          std::uint64_t hi, std::uint64_t* unit, bool* absent) noexcept {
  const std::uint64_t span = span_units(level - 1);  // units per child
  const std::uint64_t c_lo = lo > base ? (lo - base) / span : 0;
  const std::uint64_t c_hi = std::min<std::uint64_t>(64, (hi - base + span - 1) / span);
  for (std::uint64_t c = c_lo; c < c_hi; ++c) {
    const std::uint64_t child_base = base + c * span;
    if (child_base >= capacity_) break;
    // acquire: pairs with the CAS that installed the child (its words are initialized).
    void* child = node->child[c].load(std::memory_order_acquire);
    if (child == nullptr) {
      *absent = true;  // all free: the caller takes it through allocate_range
      continue;
    }
    const std::uint64_t from = std::max(lo, child_base);
    const std::uint64_t to = std::min(hi, child_base + span);
    if (level == 1) {
      // The words themselves, no summary (N2); scan_words takes the unit.
      if (scan_words(static_cast<Leaf*>(child), child_base, from - child_base, to - child_base, unit)) return true;
    } else if (rescan_node(static_cast<const Node*>(child), level - 1, child_base, from, to, unit, absent)) {
      return true;
    }
  }
  return false;
}

template <template <class> class Atom>
Allocation BasicAtomicBitmap<Atom>::rescan(Worker& w, std::span<const UnitRange> ranges) noexcept {
  bool absent = false;
  for (const UnitRange& r : ranges) {
    const std::uint64_t hi = std::min(r.end, capacity_);
    if (r.begin >= hi) continue;
    std::uint64_t unit = 0;
    if (rescan_node(root_, levels_, 0, r.begin, hi, &unit, &absent)) return {unit, AllocStatus::kOk};
  }
  if (!absent) return {0, AllocStatus::kNoneFree};
  // A leaf not materialized is all free (its summary bits are never
  // cleared): rare here, since the search would have found it.
  for (const UnitRange& r : ranges) {
    const Allocation a = allocate_range(w, r.begin, std::min(r.end, capacity_), true);
    if (a.status != AllocStatus::kNoneFree) return a;
  }
  return {0, AllocStatus::kNoneFree};
}

template <template <class> class Atom>
ClaimStatus BasicAtomicBitmap<Atom>::claim(Worker& w, std::uint64_t unit) noexcept {
  if (w.bitmap_ != this) [[unlikely]] {
    return ClaimStatus::kWrongWorker;
  }
  if (unit >= capacity_) return ClaimStatus::kOutOfRange;
  bool no_memory = false;
  if (!cached_walk(unit, w.cached_free_leaf_index_, w.cached_free_path_, true, &no_memory)) {
    return ClaimStatus::kNoMemory;
  }
  const std::uint64_t m = bit(unit & 63);
  Atom<std::uint64_t>& word = static_cast<Leaf*>(w.cached_free_path_[0])->words[(unit >> 6) & 63];
  // acquire: as in scan_words.
  if ((word.fetch_or(m, std::memory_order_acquire) & m) != 0) return ClaimStatus::kInUse;
  count_delta(w, 1);
  return ClaimStatus::kClaimed;
}

template <template <class> class Atom>
ReleaseStatus BasicAtomicBitmap<Atom>::release(Worker& w, std::uint64_t unit) noexcept {
  if (unit >= capacity_ || w.bitmap_ != this) [[unlikely]] {
    return w.bitmap_ != this ? ReleaseStatus::kWrongWorker : ReleaseStatus::kOutOfRange;
  }
  Leaf* leaf = nullptr;
  Node* parent = nullptr;
  if (directory_ != nullptr) [[likely]] {
    // One load instead of a walk: releases arrive in random leaves, so a
    // cached path rarely helps, and every instruction before the `lock btr`
    // below adds to its latency.
    const DirectoryEntry& e = directory_[unit >> kLeafShift];
    // acquire: pairs with the release store in walk() that published the
    // leaf, so its words are visible. relaxed for `parent`: stored before
    // that release store and never changed.
    leaf = e.leaf.load(std::memory_order_acquire);
    parent = e.parent.load(std::memory_order_relaxed);
  }
  if (leaf == nullptr) [[unlikely]] {
    // No directory, or the leaf's installer has not published it yet: walk.
    if ((unit >> kLeafShift) != w.cached_free_leaf_index_ &&
        !cached_walk(unit, w.cached_free_leaf_index_, w.cached_free_path_, false, nullptr)) {
      return ReleaseStatus::kNotInUse;  // its leaf was never touched: the unit is free
    }
    leaf = static_cast<Leaf*>(w.cached_free_path_[0]);
    parent = static_cast<Node*>(w.cached_free_path_[1]);
  }
  UEPOOL_DCHECK(leaf != nullptr && parent != nullptr, "release: a materialized leaf without its parent");
  const std::uint64_t m = bit(unit & 63);
  // R1 (seq_cst; `lock btr`): its release half pairs with the acquire RMW
  // of the next allocator of this unit; seq_cst for the summary protocol.
  if ((leaf->words[(unit >> 6) & 63].fetch_and(~m, std::memory_order_seq_cst) & m) == 0) [[unlikely]] {
    return ReleaseStatus::kNotInUse;  // double release: nothing changed
  }
  // R1' (seq_cst load): if the leaf's bit in its parent is clear, this
  // release may have given a full leaf room: set it (R2). The parent's
  // summary is one line per 2^18 units, read-mostly: a plain load.
  if ((parent->nonfull.load(std::memory_order_seq_cst) & bit((unit >> kLeafShift) & 63)) == 0) [[unlikely]] {
    Path path;
    (void)walk(unit, path, false, nullptr);  // the leaf exists: the walk finds it
    mark_nonfull(path, 1, unit);
  }
  count_delta(w, -1);
  return ReleaseStatus::kReleased;
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::load_word(std::uint64_t word) const noexcept {
  const std::uint64_t unit = word << 6;
  if (word >= (std::uint64_t{1} << 58) || unit >= capacity_) return 0;
  const Node* n = root_;
  for (int level = levels_; level >= 1; --level) {
    // seq_cst: as in test() (the set layer's window-close protocol).
    const void* child = n->child[(unit >> (kLeafShift + kFanShift * (level - 1))) & 63].load(std::memory_order_seq_cst);
    if (child == nullptr) return 0;
    if (level == 1) return static_cast<const Leaf*>(child)->words[(unit >> 6) & 63].load(std::memory_order_seq_cst);
    n = static_cast<const Node*>(child);
  }
  return 0;
}

template <template <class> class Atom>
bool BasicAtomicBitmap<Atom>::test(std::uint64_t unit) const noexcept {
  if (unit >= capacity_) return false;
  const Node* n = root_;
  for (int level = levels_; level >= 1; --level) {
    // seq_cst loads (plain loads on x86): the set layer's window-close
    // protocol reads units with test() after a seq_cst CAS and relies on S
    // (set/member.cpp); for the bitmap alone acquire would do.
    const void* child = n->child[(unit >> (kLeafShift + kFanShift * (level - 1))) & 63].load(std::memory_order_seq_cst);
    if (child == nullptr) return false;
    if (level == 1) {
      return (static_cast<const Leaf*>(child)->words[(unit >> 6) & 63].load(std::memory_order_seq_cst) &
              bit(unit & 63)) != 0;
    }
    n = static_cast<const Node*>(child);
  }
  return false;
}

template <template <class> class Atom>
typename BasicAtomicBitmap<Atom>::BulkResult BasicAtomicBitmap<Atom>::claim_bulk(
    Worker& w, std::span<const std::uint32_t> units) noexcept {
  BulkResult r;
  if (w.bitmap_ != this) [[unlikely]] {
    r.wrong_worker = true;
    return r;
  }
  std::size_t i = 0;
  while (i < units.size()) {
    const std::uint64_t word_base = units[i] & ~std::uint64_t{63};
    std::uint64_t mask = 0;
    // Gather the run of units in the same word (any order works; sorted input batches best).
    while (i < units.size() && (units[i] & ~std::uint64_t{63}) == word_base) {
      if (units[i] >= capacity_) {
        ++r.out_of_range;
      } else {
        mask |= bit(units[i] & 63);
      }
      ++i;
    }
    if (mask == 0) continue;
    bool no_memory = false;
    if (!cached_walk(word_base, w.cached_free_leaf_index_, w.cached_free_path_, true, &no_memory)) {
      r.no_memory = true;
      break;
    }
    const std::uint64_t old = static_cast<Leaf*>(w.cached_free_path_[0])
                                  ->words[(word_base >> 6) & 63]
                                  .fetch_or(mask, std::memory_order_acquire);
    r.claimed += static_cast<std::uint64_t>(std::popcount(mask & ~old));
    r.already_in_use += static_cast<std::uint64_t>(std::popcount(mask & old));
  }
  if (r.claimed != 0) count_delta(w, static_cast<std::int64_t>(r.claimed));
  return r;
}

template <template <class> class Atom>
template <class Fn>
void BasicAtomicBitmap<Atom>::for_each_in_use(Fn&& fn) const {
  // Depth-first over materialized leaves, merging runs across words and leaves.
  UnitRange run{0, 0};
  bool open = false;
  // scan_word — v holds the in-use bits of the word at `base` (valid bits only).
  auto scan_word = [&](std::uint64_t base, std::uint64_t v) {
    std::uint64_t pos = 0;
    while (pos < 64) {
      if (open) {
        const std::uint64_t zeros = ~v >> pos;
        if (zeros == 0) return;  // ones to the end of the word: the run goes on
        pos += static_cast<std::uint64_t>(std::countr_zero(zeros));
        run.end = base + pos;
        fn(run);
        open = false;
      } else {
        const std::uint64_t ones = v >> pos;
        if (ones == 0) return;
        pos += static_cast<std::uint64_t>(std::countr_zero(ones));
        run.begin = base + pos;
        open = true;
      }
    }
  };
  auto close_at = [&](std::uint64_t end) {
    if (open) {
      run.end = end;
      fn(run);
      open = false;
    }
  };
  auto visit = [&](auto&& self, const void* p, int level, std::uint64_t base) -> void {
    if (level == 0) {
      const Leaf* leaf = static_cast<const Leaf*>(p);
      for (std::uint64_t w = 0; w < 64; ++w) {
        const std::uint64_t wb = base + w * 64;
        if (wb >= capacity_) break;
        std::uint64_t v = leaf->words[w].load(std::memory_order_relaxed);
        if (capacity_ - wb < 64) v &= bit(capacity_ - wb) - 1;  // drop preset bits
        scan_word(wb, v);
      }
      return;
    }
    const Node* n = static_cast<const Node*>(p);
    for (std::uint64_t c = 0; c < 64; ++c) {
      const std::uint64_t cb = base + c * span_units(level - 1);
      if (cb >= capacity_) break;
      const void* child = n->child[c].load(std::memory_order_acquire);
      if (child == nullptr) {
        close_at(cb);
        continue;
      }
      self(self, child, level - 1, cb);
    }
  };
  visit(visit, root_, levels_, 0);
  close_at(capacity_);
}

template <template <class> class Atom>
std::uint64_t BasicAtomicBitmap<Atom>::memory_bytes() const noexcept {
  const std::uint64_t directory = directory_ != nullptr ? leaf_count_ : 0;
  return sizeof(*this) + leaves_.load(std::memory_order_relaxed) * sizeof(Leaf) +
         nodes_.load(std::memory_order_relaxed) * sizeof(Node) + directory * sizeof(DirectoryEntry);
}

template <template <class> class Atom>
Status BasicAtomicBitmap<Atom>::validate() const {
  std::uint64_t ones = 0;
  Status bad;
  auto visit = [&](auto&& self, const void* p, int level, std::uint64_t base) -> bool {  // returns has-room
    if (level == 0) {
      const Leaf* leaf = static_cast<const Leaf*>(p);
      bool room = false;
      for (std::uint64_t w = 0; w < 64; ++w) {
        const std::uint64_t wb = base + w * 64;
        const std::uint64_t v = leaf->words[w].load(std::memory_order_relaxed);
        if (wb >= capacity_) {
          if (v != ~std::uint64_t{0} && bad.ok())
            bad = Status(StatusCode::kInternal, "word beyond capacity not preset");
          continue;
        }
        std::uint64_t valid = capacity_ - wb < 64 ? bit(capacity_ - wb) - 1 : ~std::uint64_t{0};
        if ((v | valid) != ~std::uint64_t{0} && bad.ok()) {
          bad = Status(StatusCode::kInternal, "bit beyond capacity is free").with_number(wb);
        }
        ones += static_cast<std::uint64_t>(std::popcount(v & valid));
        if (v != ~std::uint64_t{0}) room = true;
      }
      return room;
    }
    const Node* n = static_cast<const Node*>(p);
    const std::uint64_t summary = n->nonfull.load(std::memory_order_relaxed);
    const std::uint64_t present = n->present.load(std::memory_order_relaxed);
    bool room = false;
    for (std::uint64_t c = 0; c < 64; ++c) {
      const std::uint64_t cb = base + c * span_units(level - 1);
      if (cb >= capacity_) {
        if ((summary & bit(c)) != 0 && bad.ok()) bad = Status(StatusCode::kInternal, "summary bit beyond capacity");
        continue;
      }
      const void* child = n->child[c].load(std::memory_order_relaxed);
      const bool child_room = child == nullptr ? true : self(self, child, level - 1, cb);
      if (((present >> c) & 1) != (child != nullptr ? 1u : 0u) && bad.ok()) {
        bad = Status(StatusCode::kInternal, "present bit disagrees with child pointer").with_number(cb, "unit");
      }
      if (child_room) {
        room = true;
        if ((summary & bit(c)) == 0 && bad.ok()) {
          bad = Status(StatusCode::kInternal, "subtree with a free unit hidden by its summary bit")
                    .with_number(cb, "unit");
        }
      }
    }
    return room;
  };
  visit(visit, root_, levels_, 0);
  if (!bad.ok()) return bad;
  if (ones != count())
    return Status(StatusCode::kInternal, "count() differs from the popcount of the words")
        .with_number(ones, "popcount");
  return Status();
}

template <template <class> class Atom>
BasicAtomicBitmap<Atom>::Worker::Worker(BasicAtomicBitmap& bitmap) noexcept : bitmap_(&bitmap) {
  // relaxed: placement only; regions are assigned in creation order (deterministic).
  const std::uint32_t k = bitmap.next_region_.fetch_add(1, std::memory_order_relaxed);
  region_ = k % bitmap.regions_;
  id_ = k + 1;  // 0 = no worker (region_sweeper_)
  bitmap.region_workers_[region_].fetch_add(1, std::memory_order_relaxed);
  bitmap.region_sweeper_[region_].store(id_, std::memory_order_relaxed);
  region_begin_ = bitmap.region_range(region_).begin;
  region_end_ = bitmap.region_range(region_).end;
  cursor_ = region_begin_;
  for (std::uint32_t i = 0; i < kSharedShard; ++i) {
    const std::uint32_t s = (k + i) % kSharedShard;
    bool expected = false;
    // acquire: pairs with the release store in ~Worker, so we continue from
    // the last value the previous holder of the shard stored.
    if (bitmap.shards_[s].taken.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                                        std::memory_order_relaxed)) {
      shard_ = s;
      shard_exclusive_ = true;
      return;
    }
  }
  shard_ = kSharedShard;  // every exclusive shard is held: share the last one, with fetch_add
}

template <template <class> class Atom>
BasicAtomicBitmap<Atom>::Worker::~Worker() {
  bitmap_->region_workers_[region_].fetch_sub(1, std::memory_order_relaxed);
  // release: pairs with the acquire CAS of the next worker taking this shard.
  if (shard_exclusive_) bitmap_->shards_[shard_].taken.store(false, std::memory_order_release);
}

}  // namespace uepool::core
