// The window close race under every interleaving (tests/support/interleaving.hpp):
// a worker allocates in its window and checks it still holds it, while the
// message thread closes the window and captures (streams) the units in use.
// Whatever the worker keeps must be in the capture: no allocation escapes
// the stream (the protocol in uepool/set/detail/window_slot.hpp).
//
// Both the bitmap and the slot are instantiated on SchedAtomic, so every
// load, store and RMW of a bitmap word, a summary or the slot's state is a
// scheduling point. A deliberately broken close (capture before the Closing
// CAS) must fail in some interleaving: the test can fail.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "../support/interleaving.hpp"
#include "uepool/core/atomic_bitmap.hpp"
#include "uepool/set/detail/window_slot.hpp"

namespace {

using uepool::testing::g_scheduler;
using uepool::testing::next_schedule;
using uepool::testing::SchedAtomic;
using uepool::testing::Scheduler;

// CaptureFirstAtomic — the same atomic, but the slot built on it captures
// before it closes.
template <class T>
struct CaptureFirstAtomic : SchedAtomic<T> {
  using SchedAtomic<T>::SchedAtomic;
};

}  // namespace

template <>
struct uepool::set::detail::CaptureBeforeClose<CaptureFirstAtomic> {
  static constexpr bool value = true;
};

namespace {

namespace sd = uepool::set::detail;

struct Outcome {
  int runs = 0;
  int failures = 0;
};

// Scenario: a 128-unit bitmap; the window is [0, 64) with `in_use` units
// already taken. The worker holds the window (Active) and makes `allocations`
// allocations in it, each followed by the holds() check (given back when the
// check fails). The message thread closes the window, capturing its word.
// Every interleaving within `preemption_bound` (-1: all) is run; each must
// end with every kept unit captured, every given-back unit free, and the
// slot empty with its serial advanced.
template <template <class> class Atom>
Outcome explore_close(int in_use, int allocations, int preemption_bound) {
  using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
  Scheduler scheduler;
  Outcome out;
  std::vector<int> prefix;
  std::vector<std::pair<int, int>> trace;
  while (true) {
    Bitmap bitmap(128);
    typename Bitmap::Worker w(bitmap);
    for (int u = 0; u < in_use; ++u) (void)bitmap.claim(w, static_cast<std::uint64_t>(u));
    sd::BasicWindowSlot<Atom> slot;
    slot.open({0, 64}, {1, 1}, 100);
    slot.promote();
    typename sd::BasicWindowSlot<Atom>::Held held;
    EXPECT_TRUE(slot.try_take(held));
    std::vector<std::uint64_t> kept, undone;
    std::uint64_t captured = 0;
    g_scheduler = &scheduler;
    scheduler.run({[&] {
                     for (int i = 0; i < allocations; ++i) {
                       const auto a = bitmap.allocate_in(w, held.range);
                       if (!a.ok()) break;
                       if (slot.holds(held.word)) {
                         kept.push_back(a.unit);
                       } else {
                         (void)bitmap.release(w, a.unit);
                         undone.push_back(a.unit);
                       }
                     }
                   },
                   [&] { slot.close([&] { captured = bitmap.load_word(0); }); }},
                  prefix, trace, preemption_bound);
    g_scheduler = nullptr;
    ++out.runs;
    if (scheduler.livelock_) {
      ADD_FAILURE() << "an interleaving ran past " << Scheduler::kMaxSteps << " scheduling points";
      ++out.failures;
      return out;
    }
    bool ok = slot.phase() == sd::kEmpty && (slot.state.load() >> 3) == 1;
    for (std::uint64_t u : kept) ok = ok && ((captured >> u) & 1) != 0;
    for (std::uint64_t u : undone) ok = ok && !bitmap.test(u);
    if (!ok) ++out.failures;
    if (!next_schedule(trace, prefix)) break;
  }
  std::printf("explored %d interleavings (preemption bound %d), %d failing\n", out.runs, preemption_bound,
              out.failures);
  return out;
}

TEST(WindowCloseInterleaving, NoAllocationEscapesTheStream) {
  // An empty window, two allocations racing the close: every schedule within
  // two preemptions (10,168 schedules within three pass too, in 13 s: too
  // long for the sanitizer builds).
  const Outcome a = explore_close<SchedAtomic>(0, 2, 2);
  EXPECT_GT(a.runs, 10);
  EXPECT_EQ(a.failures, 0) << "of " << a.runs << " interleavings";
  // The last free unit of the window (the allocation fills the word and
  // touches the summaries): every interleaving.
  const Outcome b = explore_close<SchedAtomic>(63, 1, -1);
  EXPECT_GT(b.runs, 10);
  EXPECT_EQ(b.failures, 0) << "of " << b.runs << " interleavings";
}

TEST(WindowCloseInterleaving, CapturingBeforeTheCloseLosesAnAllocation) {
  const Outcome a = explore_close<CaptureFirstAtomic>(0, 1, 2);
  EXPECT_GT(a.failures, 0) << "the broken close passed all " << a.runs << " interleavings: the test is blind";
}

}  // namespace
