// bench/baselines/baselines.hpp — what a user would otherwise write, each
// as well as a competent engineer would, behind one interface:
//
//   struct Impl {
//     static constexpr const char* kName;       // "<impl>" in "<family>/<impl>"
//     static constexpr bool kHolds2To32;         // can it hold 2^32 units?
//     static constexpr bool kCanClaim;           // can it take a given unit?
//     explicit Impl(std::uint64_t capacity);     // every unit free
//     struct Worker { explicit Worker(Impl&); }; // per-thread state, if any
//     bool allocate(Worker&, std::uint64_t& unit);
//     void release(Worker&, std::uint64_t unit);
//     bool claim(Worker&, std::uint64_t unit);
//   };
//
// uepool        the engine's AtomicBitmap (lock-free, next-fit per worker).
// mutex_stack   free-index stack behind std::mutex (Open5GS's ogs_pool, made
//               thread-safe); LIFO reuse; claim via a position index, O(1).
// tbb_queue     tbb::concurrent_queue of free indices; FIFO reuse; no claim.
// mutex_set     std::set of free indices behind std::mutex; lowest-free.
// segment_list  free5GC's LazyReusePool: a list of free segments behind a
//               mutex; allocate from the head segment, a release extends the
//               tail segment or appends one (late reuse); claim scans.
// harness       not an allocator: allocate hands back the unit this worker
//               released last (no shared state, no atomics), so its rate is
//               the harness's own cost per pair (drawing and reading the
//               random holding, the loop), the part every implementation pays.
#pragma once

#include <tbb/concurrent_queue.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <vector>

#include "uepool/core/atomic_bitmap.hpp"

namespace uepool::bench {

class UepoolImpl {
 public:
  static constexpr const char* kName = "uepool";
  static constexpr bool kHolds2To32 = true;
  static constexpr bool kCanClaim = true;
  explicit UepoolImpl(std::uint64_t capacity) : bitmap_(capacity) {}
  struct Worker {
    explicit Worker(UepoolImpl& impl) : w(impl.bitmap_) {}
    core::AtomicBitmap::Worker w;
  };
  bool allocate(Worker& w, std::uint64_t& unit) noexcept {
    const core::Allocation a = bitmap_.allocate(w.w);
    unit = a.unit;
    return a.ok();
  }
  void release(Worker& w, std::uint64_t unit) noexcept { (void)bitmap_.release(w.w, unit); }
  bool claim(Worker& w, std::uint64_t unit) noexcept { return bitmap_.claim(w.w, unit) == core::ClaimStatus::kClaimed; }

 private:
  core::AtomicBitmap bitmap_;
};

class HarnessImpl {
 public:
  static constexpr const char* kName = "harness";
  static constexpr bool kHolds2To32 = true;
  static constexpr bool kCanClaim = false;
  explicit HarnessImpl(std::uint64_t) {}
  struct Worker {
    explicit Worker(HarnessImpl&) {}
    std::uint64_t next = 0;           // pre-fill: distinct units
    std::uint64_t last = UINT64_MAX;  // the unit released last
  };
  bool allocate(Worker& w, std::uint64_t& unit) noexcept {
    unit = w.last != UINT64_MAX ? w.last : w.next++;
    w.last = UINT64_MAX;
    return true;
  }
  void release(Worker& w, std::uint64_t unit) noexcept { w.last = unit; }
  bool claim(Worker&, std::uint64_t) noexcept { return false; }
};

class MutexStackImpl {
 public:
  static constexpr const char* kName = "mutex_stack";
  static constexpr bool kHolds2To32 = false;
  static constexpr bool kCanClaim = true;
  explicit MutexStackImpl(std::uint64_t capacity) : stack_(capacity), pos_(capacity) {
    for (std::uint64_t i = 0; i < capacity; ++i) {
      // Pop order 0, 1, 2, ...: the top of the stack is the lowest index.
      stack_[i] = static_cast<std::uint32_t>(capacity - 1 - i);
      pos_[capacity - 1 - i] = static_cast<std::uint32_t>(i);
    }
    top_ = capacity;
  }
  struct Worker {
    explicit Worker(MutexStackImpl&) {}
  };
  bool allocate(Worker&, std::uint64_t& unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (top_ == 0) return false;
    unit = stack_[--top_];
    pos_[unit] = kInUse;
    return true;
  }
  void release(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pos_[unit] != kInUse) return;  // double release: ignored
    pos_[unit] = static_cast<std::uint32_t>(top_);
    stack_[top_++] = static_cast<std::uint32_t>(unit);
  }
  bool claim(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint32_t p = pos_[unit];
    if (p == kInUse) return false;
    const std::uint32_t last = stack_[--top_];  // swap-remove
    stack_[p] = last;
    pos_[last] = p;
    pos_[unit] = kInUse;
    return true;
  }

 private:
  static constexpr std::uint32_t kInUse = UINT32_MAX;
  std::mutex mutex_;
  std::vector<std::uint32_t> stack_;
  std::vector<std::uint32_t> pos_;  // position in stack_, or kInUse
  std::uint64_t top_ = 0;
};

class TbbQueueImpl {
 public:
  static constexpr const char* kName = "tbb_queue";
  static constexpr bool kHolds2To32 = false;
  static constexpr bool kCanClaim = false;
  explicit TbbQueueImpl(std::uint64_t capacity) {
    for (std::uint64_t i = 0; i < capacity; ++i) queue_.push(static_cast<std::uint32_t>(i));
  }
  struct Worker {
    explicit Worker(TbbQueueImpl&) {}
  };
  bool allocate(Worker&, std::uint64_t& unit) {
    std::uint32_t u = 0;
    if (!queue_.try_pop(u)) return false;
    unit = u;
    return true;
  }
  void release(Worker&, std::uint64_t unit) { queue_.push(static_cast<std::uint32_t>(unit)); }
  bool claim(Worker&, std::uint64_t) { return false; }

 private:
  tbb::concurrent_queue<std::uint32_t> queue_;
};

class MutexSetImpl {
 public:
  static constexpr const char* kName = "mutex_set";
  static constexpr bool kHolds2To32 = false;
  static constexpr bool kCanClaim = true;
  explicit MutexSetImpl(std::uint64_t capacity) {
    for (std::uint64_t i = 0; i < capacity; ++i) free_.insert(free_.end(), static_cast<std::uint32_t>(i));
  }
  struct Worker {
    explicit Worker(MutexSetImpl&) {}
  };
  bool allocate(Worker&, std::uint64_t& unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return false;
    unit = *free_.begin();
    free_.erase(free_.begin());
    return true;
  }
  void release(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.insert(static_cast<std::uint32_t>(unit));
  }
  bool claim(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_.erase(static_cast<std::uint32_t>(unit)) == 1;
  }

 private:
  std::mutex mutex_;
  std::set<std::uint32_t> free_;
};

class SegmentListImpl {
 public:
  static constexpr const char* kName = "segment_list";
  static constexpr bool kHolds2To32 = true;
  static constexpr bool kCanClaim = true;
  explicit SegmentListImpl(std::uint64_t capacity) { segments_.push_back({0, capacity - 1}); }
  struct Worker {
    explicit Worker(SegmentListImpl&) {}
  };
  bool allocate(Worker&, std::uint64_t& unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (segments_.empty()) return false;
    Segment& head = segments_.front();
    unit = head.first;
    if (head.first == head.last) {
      segments_.pop_front();
    } else {
      ++head.first;
    }
    return true;
  }
  void release(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!segments_.empty() && segments_.back().last + 1 == unit) {
      ++segments_.back().last;  // extends the tail: reused last
    } else {
      segments_.push_back({unit, unit});
    }
  }
  bool claim(Worker&, std::uint64_t unit) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = segments_.begin(); it != segments_.end(); ++it) {  // linear, as LazyReusePool.Use
      if (unit < it->first || unit > it->last) continue;
      if (it->first == it->last) {
        segments_.erase(it);
      } else if (unit == it->first) {
        ++it->first;
      } else if (unit == it->last) {
        --it->last;
      } else {
        const Segment right{unit + 1, it->last};
        it->last = unit - 1;
        segments_.insert(std::next(it), right);
      }
      return true;
    }
    return false;
  }

 private:
  struct Segment {
    std::uint64_t first;
    std::uint64_t last;
  };
  std::mutex mutex_;
  std::deque<Segment> segments_;
};

}  // namespace uepool::bench
