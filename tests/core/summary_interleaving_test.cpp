// Exhaustive interleaving test of the summary protocol (the lost-wakeup race).
//
// The bitmap is instantiated with `SchedAtomic`, an atomic whose every
// operation on a 64-bit word (bitmap words and summaries) is a scheduling
// point. Two logical threads run on real threads, but only one at a time;
// a depth-first search over the choices at each point runs every
// interleaving of the two operations, and after each one checks the
// quiescent invariant (validate) and that the freed unit can be allocated.
// This checks the protocol's logic under every sequentially consistent
// interleaving; it does not model weaker memory orders (the orders are
// argued in atomic_bitmap_impl.hpp and exercised under ThreadSanitizer).
//
// A deliberately broken variant (no recheck after clearing a summary bit)
// must fail in some interleaving: the test can fail.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "uepool/core/atomic_bitmap.hpp"

namespace {

class Scheduler {
 public:
  static thread_local int self;

  // point — called by a logical thread before each shared operation: wait
  // until the scheduler picks this thread.
  void point() {
    std::unique_lock<std::mutex> lock(mutex_);
    at_point_[self] = true;
    running_ = -1;
    cv_.notify_all();
    cv_.wait(lock, [&] { return running_ == self; });
    at_point_[self] = false;
  }

  // run — one interleaving following `prefix` (indices into the runnable
  // threads at each point; beyond it, the first runnable). Fills `trace`
  // with (choice, options) per point.
  void run(const std::vector<std::function<void()>>& fns, const std::vector<int>& prefix,
           std::vector<std::pair<int, int>>& trace) {
    const int n = static_cast<int>(fns.size());
    at_point_.assign(static_cast<std::size_t>(n), false);
    done_.assign(static_cast<std::size_t>(n), false);
    running_ = -1;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this, i, &fns] {
        self = i;
        point();  // start under the scheduler's control
        fns[static_cast<std::size_t>(i)]();
        std::lock_guard<std::mutex> lock(mutex_);
        done_[static_cast<std::size_t>(i)] = true;
        running_ = -1;
        cv_.notify_all();
      });
    }
    std::size_t step = 0;
    trace.clear();
    while (true) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] {
        if (running_ != -1) return false;
        for (int i = 0; i < n; ++i) {
          if (!at_point_[static_cast<std::size_t>(i)] && !done_[static_cast<std::size_t>(i)]) return false;
        }
        return true;
      });
      std::vector<int> options;
      for (int i = 0; i < n; ++i) {
        if (at_point_[static_cast<std::size_t>(i)]) options.push_back(i);
      }
      if (options.empty()) break;
      const int choice = step < prefix.size() ? prefix[step] : 0;
      trace.emplace_back(choice, static_cast<int>(options.size()));
      ++step;
      running_ = options[static_cast<std::size_t>(choice)];
      cv_.notify_all();
    }
    for (auto& t : threads) t.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int running_ = -1;
  std::vector<bool> at_point_;
  std::vector<bool> done_;
};

thread_local int Scheduler::self = -1;
Scheduler* g_scheduler = nullptr;

inline void maybe_point() {
  if (g_scheduler != nullptr && Scheduler::self >= 0) g_scheduler->point();
}

// SchedAtomic — std::atomic with a scheduling point before each operation on
// 64-bit words; other types (counters, pointers) pass straight through.
template <class T>
struct SchedAtomic {
  static constexpr bool kScheduled = std::is_same_v<T, std::uint64_t>;
  std::atomic<T> v;
  SchedAtomic() noexcept : v() {}
  SchedAtomic(T x) noexcept : v(x) {}  // NOLINT(google-explicit-constructor)
  void hook() const {
    if constexpr (kScheduled) maybe_point();
  }
  T load(std::memory_order o = std::memory_order_seq_cst) const noexcept {
    hook();
    return v.load(o);
  }
  void store(T x, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hook();
    v.store(x, o);
  }
  T fetch_or(T x, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hook();
    return v.fetch_or(x, o);
  }
  T fetch_and(T x, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hook();
    return v.fetch_and(x, o);
  }
  T fetch_add(T x, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hook();
    return v.fetch_add(x, o);
  }
  T fetch_sub(T x, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hook();
    return v.fetch_sub(x, o);
  }
  bool compare_exchange_strong(T& e, T d, std::memory_order s, std::memory_order f) noexcept {
    hook();
    return v.compare_exchange_strong(e, d, s, f);
  }
};

// BrokenAtomic — the same atomic, but the bitmap built on it skips the recheck.
template <class T>
struct BrokenAtomic : SchedAtomic<T> {
  using SchedAtomic<T>::SchedAtomic;
};

}  // namespace

template <>
struct uepool::core::detail::SkipRecheck<BrokenAtomic> {
  static constexpr bool value = true;
};

namespace {

using uepool::core::AllocStatus;
using uepool::core::ReleaseStatus;

std::vector<std::uint64_t> all_but(std::uint64_t n, std::uint64_t free_unit) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t u = 0; u < n; ++u) {
    if (u != free_unit) out.push_back(u);
  }
  return out;
}

// Scenario: capacity `capacity`; units in `preset` claimed beforehand; thread
// A allocates (filling the last free unit of its word), thread B releases
// `freed`. Afterwards the bitmap must validate and `freed` must be
// allocatable. Returns the number of interleavings, and the failures.
template <template <class> class Atom>
std::pair<int, int> explore(std::uint64_t capacity, std::uint64_t initially_free, std::uint64_t freed) {
  const std::vector<std::uint64_t> preset = all_but(capacity, initially_free);
  Scheduler scheduler;
  int runs = 0;
  int failures = 0;
  std::vector<int> prefix;
  std::vector<std::pair<int, int>> trace;
  while (true) {
    using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
    Bitmap bitmap(capacity);
    typename Bitmap::Worker setup(bitmap);
    for (const auto u : preset) EXPECT_EQ(bitmap.claim(setup, u), uepool::core::ClaimStatus::kClaimed);
    typename Bitmap::Worker wa(bitmap);
    typename Bitmap::Worker wb(bitmap);
    uepool::core::Allocation got;
    ReleaseStatus released{};
    g_scheduler = &scheduler;
    scheduler.run({[&] { got = bitmap.allocate(wa); }, [&] { released = bitmap.release(wb, freed); }}, prefix, trace);
    g_scheduler = nullptr;
    ++runs;
    bool ok = got.ok() && released == ReleaseStatus::kReleased && bitmap.validate().ok();
    // Exactly one unit is free now — the one of {initially free, freed} that A
    // did not take — and it is visible: the next allocation finds it, then none.
    const std::uint64_t remaining = got.unit == freed ? initially_free : freed;
    typename Bitmap::Worker wc(bitmap);
    const auto again = bitmap.allocate(wc);
    ok = ok && again.ok() && again.unit == remaining && bitmap.allocate(wc).status == AllocStatus::kNoneFree;
    if (!ok) ++failures;
    // Next interleaving: the last point with an untried option.
    while (!trace.empty() && trace.back().first + 1 >= trace.back().second) trace.pop_back();
    if (trace.empty()) break;
    prefix.clear();
    for (std::size_t i = 0; i + 1 < trace.size(); ++i) prefix.push_back(trace[i].first);
    prefix.push_back(trace.back().first + 1);
  }
  return {runs, failures};
}

TEST(SummaryInterleaving, FillRacesReleaseInTheSameWord) {
  // 128 units: A takes unit 5, the last free one (word 0 and the whole bitmap
  // become full); B releases unit 3 in the same word.
  const auto [runs, failures] = explore<SchedAtomic>(128, 5, 3);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, FillRacesReleaseInAnotherWordOfTheLeaf) {
  // A fills word 0 (and the leaf, clearing the root bit); B frees unit 70 in word 1.
  const auto [runs, failures] = explore<SchedAtomic>(128, 5, 70);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, FillRacesReleaseInAnotherLeaf) {
  // Two leaves: A fills leaf 0's last word; B frees a unit of full leaf 1.
  const auto [runs, failures] = explore<SchedAtomic>(8192, 5, 5000);
  EXPECT_GT(runs, 10);
  EXPECT_EQ(failures, 0) << "of " << runs << " interleavings";
}

TEST(SummaryInterleaving, WithoutTheRecheckSomeInterleavingLosesTheUnit) {
  const auto [runs, failures] = explore<BrokenAtomic>(128, 5, 3);
  EXPECT_GT(failures, 0) << "the broken protocol passed all " << runs << " interleavings: the test is blind";
}

}  // namespace
