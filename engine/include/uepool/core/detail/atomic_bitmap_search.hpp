// Implementation of BasicAtomicBitmap, part 2 of 3: allocation and search —
// next-fit in the worker's region, region moves, the whole-bitmap search,
// searches within ranges (windows), and the proven "none free" answers
// (search_settled, rescan). The summary protocol they rely on, and the proof
// of Claim N, are at the top of atomic_bitmap_impl.hpp.
// Included by uepool/core/atomic_bitmap.hpp.
#pragma once

#include <algorithm>

#include "uepool/core/detail/atomic_bitmap_impl.hpp"

namespace uepool::core {

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

}  // namespace uepool::core
