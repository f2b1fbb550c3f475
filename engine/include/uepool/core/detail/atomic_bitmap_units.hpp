// Implementation of BasicAtomicBitmap, part 3 of 3: single units and bulk —
// claim, release, load_word, test, claim_bulk, for_each_in_use — and the
// memory report, validate() and the Worker. The summary protocol the release
// path follows is at the top of atomic_bitmap_impl.hpp.
// Included by uepool/core/atomic_bitmap.hpp.
#pragma once

#include <algorithm>

#include "uepool/core/detail/atomic_bitmap_impl.hpp"

namespace uepool::core {

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
