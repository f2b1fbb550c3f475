// uepool-bench — the Google Benchmark suite: uepool against the hardware
// ceiling and the baselines a user would otherwise write (bench/baselines/).
//
// Names are exactly "<family>/<impl>" (Google Benchmark appends
// "/real_time/threads:N"); every churn family reports `pairs_per_second`
// (one pair = one allocate + one release), lookups `lookups_per_second`.
// Compare by ratio, in one process: perf/compare runs this and prints them.
//
// Families
//   ceiling               two uncontended atomic RMWs per pair, thread-private line
//   churn_dense/<impl>    IPv4 /16 (65,536 units), 50 % full, FIFO per thread
//                         (also churn_dense/member: the set layer's Member, member_impl.hpp)
//   churn_full95/<impl>   2^22 units, 95 % full, random release order
//   churn_full999/<impl>  2^22 units, 99.9 % full, random release order
//                         (also churn_full95/member, and churn_full95|999/harness: the harness's own cost
//                         per pair, no allocator: baselines.hpp)
//   churn_sparse/<impl>   2^32 units (an IPv6 /32 in /64s), 10^6 held, FIFO
//   churn_cross/<impl>    /16, 50 % full; each thread releases units the other allocated
//   claim/<impl>          /16, 50 % full: claim a given free unit, then release it
//   lookup/<impl>         address -> pool and unit index, 1,000 pools
//
// State (the pool and each thread's holdings) is built once per family,
// implementation and thread count, in Setup and in each thread before its
// first timed loop, and kept across Google Benchmark's trial runs, so that
// pre-filling 4 M units is not repeated for every trial.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "baselines/baselines.hpp"
#include "member_impl.hpp"
#include "uepool/base/spsc_ring.hpp"
#include "uepool/core/pool_table.hpp"

namespace uepool::bench {
namespace {

// ---- ceiling ----------------------------------------------------------------

struct alignas(64) PrivateLine {
  std::atomic<std::uint64_t> word{0};
};

void BM_ceiling(benchmark::State& state) {
  // Two uncontended RMWs per pair, in the cheapest form x86 has for them:
  // only the old bit is used, so they compile to `lock bts` / `lock btr`
  // (the instructions uepool's allocate and release use), not to CAS loops.
  auto line = std::make_unique<PrivateLine>();  // its own cache line
  unsigned b = 0;
  benchmark::DoNotOptimize(b);
  for (auto _ : state) {
    const std::uint64_t m = std::uint64_t{1} << (b & 63);
    benchmark::DoNotOptimize((line->word.fetch_or(m, std::memory_order_acquire) & m) != 0);
    benchmark::DoNotOptimize((line->word.fetch_and(~m, std::memory_order_release) & m) != 0);
  }
  state.counters["pairs_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// ---- churn ------------------------------------------------------------------

enum class Order { kFifo, kRandom, kCross };

struct ChurnSpec {
  std::uint64_t capacity;
  double occupancy;        // fraction of the pool held, split among threads
  std::uint64_t held = 0;  // or an absolute number held (sparse)
  Order order;
};

// HandoverRing — the library's single-producer single-consumer ring, of
// units: in churn_cross each thread pushes what it allocates and pops (and
// releases) what its partner allocated, so every release is of another
// thread's unit.
using HandoverRing = SpscRing<std::uint64_t>;

// next_random — xorshift64*; the harness's own random release order.
inline std::uint64_t next_random(std::uint64_t& x) {
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 0x2545F4914F6CDD1DULL;
}

template <class Impl>
struct ChurnState {
  std::unique_ptr<Impl> impl;
  std::vector<std::unique_ptr<typename Impl::Worker>> workers;
  std::vector<std::vector<std::uint64_t>> held;         // per thread: units it holds (a ring for FIFO)
  std::vector<std::size_t> head;                        // per thread: FIFO head / random cursor
  std::vector<std::uint64_t> rng;                       // per thread: xorshift state (random order)
  std::vector<std::unique_ptr<HandoverRing>> handover;  // per thread: units it allocated, for the partner (cross)
  std::vector<std::atomic<bool>> ready;                 // per thread: pre-filled
  std::string key;
};

template <class Impl>
ChurnState<Impl>*& churn_state() {
  static ChurnState<Impl>* state = nullptr;
  return state;
}

template <class Impl>
void churn_setup(const benchmark::State& state, const ChurnSpec& spec, const std::string& family) {
  const std::string key = family + "/" + std::to_string(state.threads());
  ChurnState<Impl>*& s = churn_state<Impl>();
  if (s != nullptr && s->key == key) return;  // reuse across trial runs
  delete s;
  s = new ChurnState<Impl>();
  s->key = key;
  s->impl = std::make_unique<Impl>(spec.capacity);
  const auto threads = static_cast<std::size_t>(state.threads());
  s->workers.resize(threads);
  s->held.resize(threads);
  s->head.assign(threads, 0);
  s->rng.resize(threads);
  s->handover.resize(threads);
  s->ready = std::vector<std::atomic<bool>>(threads);
}

template <class Impl>
void churn(benchmark::State& state, const ChurnSpec& spec) {
  ChurnState<Impl>& s = *churn_state<Impl>();
  const auto t = static_cast<std::size_t>(state.thread_index());
  const auto threads = static_cast<std::size_t>(state.threads());
  if (!s.ready[t].load(std::memory_order_acquire)) {
    // Pre-fill this thread's share with its own worker (outside the timed loop).
    s.workers[t] = std::make_unique<typename Impl::Worker>(*s.impl);
    const std::uint64_t total =
        spec.held != 0 ? spec.held : static_cast<std::uint64_t>(static_cast<double>(spec.capacity) * spec.occupancy);
    const std::uint64_t share = total / threads;
    auto& mine = s.held[t];
    mine.reserve(share);
    for (std::uint64_t i = 0; i < share; ++i) {
      std::uint64_t u = 0;
      if (!s.impl->allocate(*s.workers[t], u)) {
        state.SkipWithError("pre-fill ran out of units");
        return;
      }
      mine.push_back(u);
    }
    s.rng[t] = 0x9E3779B97F4A7C15ULL * (t + 1);
    if (spec.order == Order::kCross) {
      // The share goes into this thread's handover ring: the partner releases it.
      // A power of two (the ring rounds up): at most twice the share, so a
      // thread that runs ahead of its partner stops growing its holdings.
      s.handover[t] = std::make_unique<HandoverRing>(std::bit_floor(2 * share + 1));
      for (const auto u : mine) (void)s.handover[t]->try_push(u);  // room for twice the share
      mine.clear();
    }
    s.ready[t].store(true, std::memory_order_release);
  }
  Impl& impl = *s.impl;
  typename Impl::Worker& worker = *s.workers[t];
  auto& mine = s.held[t];
  std::size_t head = s.head[t];
  const std::size_t n = mine.size();
  bool failed = false;
  std::uint64_t waits_before = 0;
  if constexpr (requires { impl.waits_; }) waits_before = impl.waits_.load();
  if (spec.order == Order::kFifo) {
    for (auto _ : state) {
      impl.release(worker, mine[head]);
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      mine[head] = u;
      head = head + 1 == n ? 0 : head + 1;
    }
  } else if (spec.order == Order::kRandom) {
    // A fresh uniformly random holding per iteration (xorshift, multiply-high
    // range reduction), drawn 32 iterations ahead so that the slot can be
    // prefetched: the holdings are far bigger than the caches, and the
    // harness's own misses must stay off the measured path (the same for
    // every implementation).
    // A local copy of the xorshift state, stored back after the loop: the
    // per-thread states share one cache line in `s.rng`, and a reference
    // into it was written on every iteration (false sharing between the
    // threads, which cost every implementation at 2 threads and more).
    std::uint64_t x = s.rng[t];
    std::uint32_t ahead[32];
    for (auto& a : ahead) a = static_cast<std::uint32_t>((next_random(x) >> 32) * n >> 32);
    for (auto _ : state) {
      const std::uint32_t p = ahead[head & 31];
      const auto next = static_cast<std::uint32_t>((next_random(x) >> 32) * n >> 32);
      ahead[head & 31] = next;
      __builtin_prefetch(&mine[next], 1);
      impl.release(worker, mine[p]);
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      mine[p] = u;
      ++head;
    }
    s.rng[t] = x;
  } else {
    // Cross: allocate, hand the unit to the partner through this thread's
    // ring, and release a unit the partner handed over. If the rings drift
    // (one thread faster), a full ring makes the thread release its own
    // unit and an empty one skips the release; both are rare and counted in
    // `own_releases` / `skipped_releases`.
    HandoverRing& mine_ring = *s.handover[t];
    // The partner creates its ring in its own pre-fill: bind it only inside
    // the loop, after Google Benchmark's start barrier (binding it here
    // raced with the partner's pre-fill and could dereference a null ring).
    HandoverRing* partner_ring = nullptr;
    std::uint64_t own = 0;
    std::uint64_t skipped = 0;
    for (auto _ : state) {
      if (partner_ring == nullptr) [[unlikely]] {
        partner_ring = s.handover[(t + 1) % threads].get();
      }
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      if (!mine_ring.try_push(u)) {
        impl.release(worker, u);
        ++own;
      }
      std::uint64_t v = 0;
      if (partner_ring->try_pop(v)) {
        impl.release(worker, v);
      } else {
        ++skipped;
      }
    }
    state.counters["own_releases"] = static_cast<double>(own);
    state.counters["skipped_releases"] = static_cast<double>(skipped);
  }
  s.head[t] = head;
  if constexpr (requires { impl.waits_; }) {
    // Waits for a window per 10,000 allocations, over this run's timed loop
    // (all threads' waits, read by thread 0: the threads run side by side).
    if (t == 0) {
      const double allocations = static_cast<double>(state.iterations()) * static_cast<double>(threads);
      state.counters["window_waits_per_10k"] =
          static_cast<double>(impl.waits_.load() - waits_before) * 1e4 / allocations;
    }
  }
  if (failed) state.SkipWithError("allocate failed during churn");
  state.counters["pairs_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// ---- claim ------------------------------------------------------------------

template <class Impl>
std::unique_ptr<Impl>& claim_pool() {
  static std::unique_ptr<Impl> impl;
  return impl;
}

template <class Impl>
void claim_setup(const benchmark::State&) {
  auto& impl = claim_pool<Impl>();
  impl = std::make_unique<Impl>(1 << 16);
  typename Impl::Worker w(*impl);
  for (std::uint64_t u = 0; u < (1 << 16); u += 2) impl->claim(w, u);
}

template <class Impl>
void claim_teardown(const benchmark::State&) {
  claim_pool<Impl>().reset();
}

template <class Impl>
void claim_run(benchmark::State& state) {
  Impl& pool = *claim_pool<Impl>();
  typename Impl::Worker worker(pool);
  const auto t = static_cast<std::uint64_t>(state.thread_index());
  const auto threads = static_cast<std::uint64_t>(state.threads());
  const std::uint64_t slice = (std::uint64_t{1} << 16) / threads;
  std::vector<std::uint64_t> units;
  for (std::uint64_t u = (t * slice) | 1; u < (t + 1) * slice; u += 2) units.push_back(u);  // odd: free
  std::shuffle(units.begin(), units.end(), std::mt19937_64(t + 7));
  std::size_t i = 0;
  bool failed = false;
  for (auto _ : state) {
    const std::uint64_t u = units[i];
    failed |= !pool.claim(worker, u);
    pool.release(worker, u);
    i = i + 1 == units.size() ? 0 : i + 1;
  }
  if (failed) state.SkipWithError("claim of a free unit failed");
  state.counters["pairs_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// ---- lookup -----------------------------------------------------------------

struct LookupFixture {
  core::PoolTable table;
  std::map<std::uint32_t, std::pair<std::uint32_t, std::size_t>> by_first;  // first -> (last, pool)
  std::vector<net::IpAddress> probes;
};

LookupFixture& lookup_fixture() {
  static LookupFixture* f = [] {
    auto* fx = new LookupFixture();
    // 1,000 IPv4 /22 pools spread over 10.0.0.0/8 (one in four /22s), probes inside them.
    std::mt19937_64 rng(42);
    for (std::uint32_t i = 0; i < 1000; ++i) {
      const std::uint32_t first = 0x0a000000u + i * 4 * 1024;
      core::PoolConfig c;
      c.name = "p" + std::to_string(i);
      c.prefix = net::Prefix::make(net::Ipv4Address(first), 22).value();
      c.unit_length = 32;
      if (!fx->table.add(c).ok()) std::abort();  // the fixture itself is wrong: measure nothing
      fx->by_first.emplace(first, std::make_pair(first + 1023, static_cast<std::size_t>(i)));
    }
    for (int k = 0; k < 4096; ++k) {
      const std::uint32_t pool = static_cast<std::uint32_t>(rng() % 1000);
      fx->probes.push_back(net::Ipv4Address(0x0a000000u + pool * 4096 + static_cast<std::uint32_t>(rng() % 1024)));
    }
    return fx;
  }();
  return *f;
}

void BM_lookup_uepool(benchmark::State& state) {
  const LookupFixture& f = lookup_fixture();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    auto m = f.table.lookup(f.probes[i & 4095]);
    benchmark::DoNotOptimize(m);
    ++i;
  }
  state.counters["lookups_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_lookup_std_map(benchmark::State& state) {
  const LookupFixture& f = lookup_fixture();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 997;
  for (auto _ : state) {
    const auto key = static_cast<std::uint32_t>(f.probes[i & 4095].bits());
    auto it = f.by_first.upper_bound(key);
    std::size_t pool = SIZE_MAX;
    std::uint64_t unit = 0;
    if (it != f.by_first.begin()) {
      --it;
      if (key <= it->second.first) {
        pool = it->second.second;
        unit = key - it->first;
      }
    }
    benchmark::DoNotOptimize(pool);
    benchmark::DoNotOptimize(unit);
    ++i;
  }
  state.counters["lookups_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// ---- registration -----------------------------------------------------------

int max_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return static_cast<int>(std::max(2u, std::min(hw, 16u)));
}

template <class B>
B* threads(B* b) {
  b->UseRealTime();
  b->Threads(1);
  for (int t = 2; t <= max_threads(); t *= 2) b->Threads(t);
  if ((max_threads() & (max_threads() - 1)) != 0) b->Threads(max_threads());
  return b;
}

constexpr const char* kFamilyNames[] = {"churn_dense", "churn_full95", "churn_full999", "churn_sparse", "churn_cross"};
constexpr ChurnSpec kFamilySpecs[] = {
    {1 << 16, 0.5, 0, Order::kFifo},     {1 << 22, 0.95, 0, Order::kRandom},
    {1 << 22, 0.999, 0, Order::kRandom}, {std::uint64_t{1} << 32, 0, 1000000, Order::kFifo},
    {1 << 16, 0.5, 0, Order::kCross},
};

template <class Impl, int kFamily>
void register_churn() {
  constexpr ChurnSpec spec = kFamilySpecs[kFamily];
  if constexpr (spec.capacity > (std::uint64_t{1} << 30) && !Impl::kHolds2To32) return;
  const std::string name = std::string(kFamilyNames[kFamily]) + "/" + Impl::kName;
  auto* b =
      benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& st) { churn<Impl>(st, kFamilySpecs[kFamily]); });
  b->Setup([](const benchmark::State& st) { churn_setup<Impl>(st, kFamilySpecs[kFamily], kFamilyNames[kFamily]); });
  if constexpr (spec.order == Order::kCross) {
    b->UseRealTime()->Threads(2);  // one thread releases what the other allocated
  } else {
    threads(b);
  }
}

template <class Impl>
void register_impl() {
  register_churn<Impl, 0>();
  register_churn<Impl, 1>();
  register_churn<Impl, 2>();
  register_churn<Impl, 3>();
  if constexpr (Impl::kCanClaim) {
    const std::string name = std::string("claim/") + Impl::kName;
    threads(benchmark::RegisterBenchmark(name.c_str(), claim_run<Impl>)
                ->Setup(claim_setup<Impl>)
                ->Teardown(claim_teardown<Impl>));
  }
}

}  // namespace
}  // namespace uepool::bench

int main(int argc, char** argv) {
  using namespace uepool::bench;
  threads(benchmark::RegisterBenchmark("ceiling", BM_ceiling));
  register_impl<UepoolImpl>();
  register_impl<MutexStackImpl>();
  register_impl<TbbQueueImpl>();
  register_impl<MutexSetImpl>();
  register_impl<SegmentListImpl>();
  register_churn<HarnessImpl, 1>();  // the harness's own cost per pair, near full
  register_churn<HarnessImpl, 2>();
  register_churn<MemberImpl, 0>();  // churn_dense/member: the set layer's hot path
  register_churn<MemberImpl, 1>();  // churn_full95/member: its owned blocks 95 % full, random release order
  register_churn<UepoolImpl, 4>();
  register_churn<MutexStackImpl, 4>();
  register_churn<TbbQueueImpl, 4>();
  threads(benchmark::RegisterBenchmark("lookup/uepool", BM_lookup_uepool));
  threads(benchmark::RegisterBenchmark("lookup/std_map", BM_lookup_std_map));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
