// Relacy model check of AtomicBitmap's summary protocol in the C++ memory
// model: the real BasicAtomicBitmap, instantiated with `RlAtom` (Relacy's
// rl::atomic behind the std::atomic interface), so every load may read any
// value the memory orders written in atomic_bitmap_impl.hpp allow, and every
// operation is a scheduling point. Not a GoogleTest binary: Relacy replaces
// operator new and delete, and runs its threads as fibers.
//
// Scenarios (2 threads, Relacy's random scheduler):
//   search_after_release — bitmap of 4224 units (two leaves), all in use;
//     leaf 0's summary bit is stale (set over a full leaf), leaf 1's is
//     repaired. Thread 0 allocates: its search reads leaf 0, finds it full
//     and repairs the bit (F1 clear, F3 recheck). Thread 1 releases units 3
//     and 5 of leaf 0, then allocates from its home region (leaf 1). Thread
//     0 takes at most one unit, so thread 1's allocate must not answer
//     kNoneFree: the "false none-free" of the proof (N1 / N2).
//   repair_races_release — 128 units, all in use, the leaf's summary bit
//     stale (fills never clear it): thread 0's allocate reads the leaf, finds
//     it full and repairs the bit, while thread 1 releases unit 3 (the
//     lost-wakeup race). Afterwards the bitmap validates (no free unit hidden
//     by a summary bit) and unit 3 is allocatable unless thread 0 took it.
// Each runs once with the real protocol (must pass) and once with a broken
// variant (must fail): SkipRepairCheck for the first (a search trusts an
// empty root while a repair is in flight), SkipRecheck for the second.
//
// Exit status 0 when every expectation held. UEPOOL_RELACY_ITERATIONS scales
// the iterations per run (default 100000).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

#include "uepool/core/atomic_bitmap.hpp"

// After our headers: relacy.hpp defines macros (new, delete, memory_order_*)
// that must not reach them.
#include <relacy/relacy.hpp>

// A named namespace: the bitmap's nested types (a header's) hold these atomics.
namespace relacy_test {

// RlAtom — rl::atomic behind the subset of std::atomic the bitmap uses.
template <class T>
struct RlAtom {
  rl::atomic<T> v;
  RlAtom() {}
  RlAtom(T x) : v(x) {}  // NOLINT(google-explicit-constructor)
  static rl::memory_order mo(std::memory_order o) {
    switch (o) {
      case std::memory_order::relaxed: return rl::mo_relaxed;
      case std::memory_order::consume: return rl::mo_consume;
      case std::memory_order::acquire: return rl::mo_acquire;
      case std::memory_order::release: return rl::mo_release;
      case std::memory_order::acq_rel: return rl::mo_acq_rel;
      case std::memory_order::seq_cst: return rl::mo_seq_cst;
    }
    return rl::mo_seq_cst;
  }
  T load(std::memory_order o = std::memory_order::seq_cst) const { return v.load(mo(o), RL_INFO); }
  void store(T x, std::memory_order o = std::memory_order::seq_cst) { v.store(x, mo(o), RL_INFO); }
  T fetch_or(T x, std::memory_order o = std::memory_order::seq_cst) { return v.fetch_or(x, mo(o), RL_INFO); }
  T fetch_and(T x, std::memory_order o = std::memory_order::seq_cst) { return v.fetch_and(x, mo(o), RL_INFO); }
  T fetch_add(T x, std::memory_order o = std::memory_order::seq_cst) { return v.fetch_add(x, mo(o), RL_INFO); }
  T fetch_sub(T x, std::memory_order o = std::memory_order::seq_cst) { return v.fetch_sub(x, mo(o), RL_INFO); }
  bool compare_exchange_strong(T& e, T d, std::memory_order s, std::memory_order f) {
    return v.compare_exchange_strong(e, d, mo(s), RL_INFO, mo(f), RL_INFO);
  }
};

// The broken variants: the same atomic, with one rule of the protocol off.
template <class T>
struct RlNoRepairCheck : RlAtom<T> {
  using RlAtom<T>::RlAtom;
};
template <class T>
struct RlNoRecheck : RlAtom<T> {
  using RlAtom<T>::RlAtom;
};

}  // namespace relacy_test

template <>
struct uepool::core::detail::SkipRepairCheck<relacy_test::RlNoRepairCheck> {
  static constexpr bool value = true;
};
template <>
struct uepool::core::detail::SkipRecheck<relacy_test::RlNoRecheck> {
  static constexpr bool value = true;
};

namespace relacy_test {

using uepool::core::AllocStatus;
using uepool::core::ReleaseStatus;

template <template <class> class Atom>
struct SearchAfterRelease : rl::test_suite<SearchAfterRelease<Atom>, 2> {
  using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
  std::optional<Bitmap> bitmap;
  std::optional<typename Bitmap::Worker> filler;    // home region 0 (created first)
  std::optional<typename Bitmap::Worker> searcher;  // home region 1
  uepool::core::Allocation got_filler, got_searcher;

  void before() {
    bitmap.emplace(4224);
    filler.emplace(*bitmap);
    searcher.emplace(*bitmap);
    typename Bitmap::Worker setup(*bitmap);
    static std::uint32_t all[4224];
    for (std::uint32_t u = 0; u < 4224; ++u) all[u] = u;
    (void)bitmap->claim_bulk(setup, all);
    (void)bitmap->allocate_in(setup, {4096, 4224});  // finds leaf 1 full: repairs its bit
  }
  void thread(unsigned index) {
    if (index == 0) {
      got_filler = bitmap->allocate(*filler);
    } else {
      RL_ASSERT(bitmap->release(*searcher, 3) == ReleaseStatus::kReleased);
      RL_ASSERT(bitmap->release(*searcher, 5) == ReleaseStatus::kReleased);
      got_searcher = bitmap->allocate(*searcher);
    }
  }
  void after() {
    // Units 3 and 5 were free before the searcher began; the filler took at most one.
    RL_ASSERT(got_searcher.ok());
    searcher.reset();
    filler.reset();
    bitmap.reset();
  }
};

template <template <class> class Atom>
struct RepairRacesRelease : rl::test_suite<RepairRacesRelease<Atom>, 2> {
  using Bitmap = uepool::core::BasicAtomicBitmap<Atom>;
  std::optional<Bitmap> bitmap;
  std::optional<typename Bitmap::Worker> a;
  std::optional<typename Bitmap::Worker> b;
  uepool::core::Allocation got;

  void before() {
    bitmap.emplace(128);
    a.emplace(*bitmap);
    b.emplace(*bitmap);
    typename Bitmap::Worker setup(*bitmap);
    static std::uint32_t all[128];
    for (std::uint32_t u = 0; u < 128; ++u) all[u] = u;
    (void)bitmap->claim_bulk(setup, all);  // the leaf's bit stays set: stale
  }
  void thread(unsigned index) {
    if (index == 0) {
      got = bitmap->allocate(*a);
    } else {
      RL_ASSERT(bitmap->release(*b, 3) == ReleaseStatus::kReleased);
    }
  }
  void after() {
    RL_ASSERT(bitmap->validate().ok());
    // Unit 3 is free now unless thread 0 took it.
    const uepool::core::Allocation again = bitmap->allocate(*b);
    RL_ASSERT(got.ok() ? again.status == AllocStatus::kNoneFree : (again.ok() && again.unit == 3));
    b.reset();
    a.reset();
    bitmap.reset();
  }
};

template <class Suite>
bool run(const char* name, bool expect_pass, rl::iteration_t iterations) {
  rl::test_params p;
  p.iteration_count = iterations;
  p.search_type = rl::random_scheduler_type;
  // Relacy's report of a failing iteration: shown for a scenario that must
  // pass, discarded for a broken variant (which must fail). Not a
  // stringstream: Relacy's operator delete refuses memory from outside a run.
  std::ofstream discard("/dev/null");
  p.output_stream = expect_pass ? &std::cout : &discard;
  p.progress_stream = &discard;
  const bool passed = rl::simulate<Suite>(p);
  const bool as_expected = passed == expect_pass;
  std::printf("%-40s %s after %llu of %llu iterations (%s)\n", name, passed ? "passed" : "failed",
              static_cast<unsigned long long>(passed ? iterations : p.stop_iteration),
              static_cast<unsigned long long>(iterations), as_expected ? "as expected" : "UNEXPECTED");
  return as_expected;
}

}  // namespace relacy_test

int main() {
  using namespace relacy_test;
  const char* env = std::getenv("UEPOOL_RELACY_ITERATIONS");
  const rl::iteration_t iterations = env != nullptr ? std::strtoull(env, nullptr, 10) : 100000;
  bool ok = true;
  ok &= run<SearchAfterRelease<RlAtom>>("search_after_release", true, iterations);
  ok &= run<SearchAfterRelease<RlNoRepairCheck>>("search_after_release (no repair check)", false, iterations);
  ok &= run<RepairRacesRelease<RlAtom>>("repair_races_release", true, iterations);
  ok &= run<RepairRacesRelease<RlNoRecheck>>("repair_races_release (no recheck)", false, iterations);
  std::printf("%s\n", ok ? "all scenarios as expected" : "SOME SCENARIO NOT AS EXPECTED");
  return ok ? 0 : 1;
}
