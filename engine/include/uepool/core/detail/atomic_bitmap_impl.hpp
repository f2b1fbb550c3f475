// Implementation of BasicAtomicBitmap, part 1 of 3: the summary protocol (and its proofs), the tree, walks, and
// the leaf and summary operations. Part 2 (allocation and search) is atomic_bitmap_search.hpp, part 3 (single
// units, bulk, validate, Worker) atomic_bitmap_units.hpp. Included by uepool/core/atomic_bitmap.hpp.
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

}  // namespace uepool::core
