// tests/support/interleaving.hpp — a small explorer of thread interleavings
// (CHESS-style): logical threads run on real threads but one at a time, with
// a scheduling point before each operation on a 64-bit atomic word
// (SchedAtomic); a depth-first search over the choices at the points runs
// every interleaving, or every one within a preemption bound, or seeded
// random schedules. It checks a protocol's logic under every sequentially
// consistent interleaving; it does not model weaker memory orders (Relacy
// and ThreadSanitizer do that part).
//
// Used by tests/core/summary_interleaving_test.cpp (the bitmap's summary
// protocol) and tests/set/window_close_interleaving_test.cpp (the window
// close race).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace uepool::testing {

class Scheduler {
 public:
  static thread_local int self;

  // point — called by a logical thread before each shared operation: wait
  // until the scheduler picks this thread.
  void point() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (running_ == -2) return;  // free-running after a livelock was detected
    at_point_[self] = true;
    running_ = -1;
    cv_.notify_all();
    cv_.wait(lock, [&] { return running_ == self || running_ == -2; });
    at_point_[self] = false;
  }

  // run — one interleaving following `prefix` (indices into the runnable
  // threads at each point; beyond it, the first runnable). Fills `trace`
  // with (choice, options) per point.
  // With `preemption_bound` >= 0, only schedules that switch away from a
  // thread that could go on at most that many times are explored (CHESS's
  // preemption bounding); -1 explores every interleaving.
  // With `random` set, `prefix` is ignored: at each point the running
  // thread goes on, or with probability `switch_probability` another
  // runnable one is chosen (random schedules for scenarios whose failing
  // schedules need more preemptions than an exhaustive search can afford).
  void run(const std::vector<std::function<void()>>& fns, const std::vector<int>& prefix,
           std::vector<std::pair<int, int>>& trace, int preemption_bound = -1, std::mt19937_64* random = nullptr,
           double switch_probability = 0) {
    const int n = static_cast<int>(fns.size());
    at_point_.assign(static_cast<std::size_t>(n), false);
    done_.assign(static_cast<std::size_t>(n), false);
    running_ = -1;
    livelock_ = false;
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this, i, &fns] {
        self = i;
        point();  // start under the scheduler's control
        fns[static_cast<std::size_t>(i)]();
        std::lock_guard<std::mutex> lock(mutex_);
        done_[static_cast<std::size_t>(i)] = true;
        if (running_ != -2) running_ = -1;
        cv_.notify_all();
      });
    }
    std::size_t step = 0;
    int last = -1;
    int preemptions = 0;
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
      const bool last_can_go_on = last >= 0 && at_point_[static_cast<std::size_t>(last)];
      if (last_can_go_on && preemption_bound >= 0 && preemptions >= preemption_bound) options = {last};
      if (step >= kMaxSteps) {
        // A run this long is a livelock under this schedule: stop choosing
        // and let the threads finish freely, and report it.
        livelock_ = true;
        running_ = -2;  // every thread may run
        cv_.notify_all();
        break;
      }
      int choice = step < prefix.size() ? prefix[step] : 0;
      if (random != nullptr) {
        const auto keep = std::find(options.begin(), options.end(), last);
        const bool can_keep = keep != options.end();
        const bool switch_now = !can_keep || std::uniform_real_distribution<double>(0, 1)(*random) < switch_probability;
        choice = can_keep ? static_cast<int>(keep - options.begin()) : 0;
        if (switch_now && options.size() > 1) {
          choice = static_cast<int>((*random)() % options.size());
        }
      }
      trace.emplace_back(choice, static_cast<int>(options.size()));
      ++step;
      running_ = options[static_cast<std::size_t>(choice)];
      if (last_can_go_on && running_ != last) ++preemptions;
      last = running_;
      cv_.notify_all();
    }
    for (auto& t : threads) t.join();
  }

  static constexpr std::size_t kMaxSteps = 2000;
  bool livelock_ = false;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int running_ = -1;
  std::vector<bool> at_point_;
  std::vector<bool> done_;
};

inline thread_local int Scheduler::self = -1;
inline Scheduler* g_scheduler = nullptr;

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

// next_schedule — depth-first: the prefix of the next interleaving (the last
// point of `trace` with an untried option, taking that option). Returns
// false when every interleaving has been run.
bool next_schedule(std::vector<std::pair<int, int>>& trace, std::vector<int>& prefix) {
  while (!trace.empty() && trace.back().first + 1 >= trace.back().second) trace.pop_back();
  if (trace.empty()) return false;
  prefix.clear();
  for (std::size_t i = 0; i + 1 < trace.size(); ++i) prefix.push_back(trace[i].first);
  prefix.push_back(trace.back().first + 1);
  return true;
}

}  // namespace uepool::testing
