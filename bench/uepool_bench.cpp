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
//   churn_full95/<impl>   2^22 units, 95 % full, random release order
//   churn_full999/<impl>  2^22 units, 99.9 % full, random release order
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
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "baselines/baselines.hpp"
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

template <class Impl>
struct ChurnState {
  std::unique_ptr<Impl> impl;
  std::vector<std::unique_ptr<typename Impl::Worker>> workers;
  std::vector<std::vector<std::uint64_t>> held;       // per thread: units it holds (a ring for FIFO)
  std::vector<std::size_t> head;                      // per thread: FIFO head / random cursor
  std::vector<std::vector<std::uint32_t>> positions;  // per thread: pre-generated random release order
  std::vector<std::atomic<bool>> ready;               // per thread: pre-filled
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
  s->positions.resize(threads);
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
    std::mt19937 rng(static_cast<std::uint32_t>(t) + 1);
    s.positions[t].resize(1 << 16);
    for (auto& p : s.positions[t]) p = static_cast<std::uint32_t>(rng() % share);
    s.ready[t].store(true, std::memory_order_release);
  }
  Impl& impl = *s.impl;
  typename Impl::Worker& worker = *s.workers[t];
  auto& mine = s.held[t];
  std::size_t head = s.head[t];
  const std::size_t n = mine.size();
  bool failed = false;
  if (spec.order == Order::kFifo) {
    for (auto _ : state) {
      impl.release(worker, mine[head]);
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      mine[head] = u;
      head = head + 1 == n ? 0 : head + 1;
    }
  } else if (spec.order == Order::kRandom) {
    const auto& pos = s.positions[t];
    for (auto _ : state) {
      // The holdings are far bigger than the caches: prefetch the slot a few
      // iterations ahead so the harness's own misses stay off the measured
      // path (the same for every implementation).
      __builtin_prefetch(&mine[pos[(head + 32) & 0xffff]], 1);
      const std::uint32_t p = pos[head & 0xffff];
      impl.release(worker, mine[p]);
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      mine[p] = u;
      ++head;
    }
  } else {
    // Cross: release the other thread's oldest unit (its ring is read, and
    // written back with our new unit, so both rings keep their size). Each
    // thread walks a disjoint half of the partner ring, so no slot is shared.
    auto& other = s.held[(t + 1) % threads];
    const std::size_t half = other.size() / 2;
    const std::size_t base = threads > 1 ? (t % 2) * half : 0;
    const std::size_t span = threads > 1 ? half : other.size();
    for (auto _ : state) {
      const std::size_t i = base + head;
      impl.release(worker, other[i]);
      std::uint64_t u = 0;
      failed |= !impl.allocate(worker, u);
      other[i] = u;
      head = head + 1 == span ? 0 : head + 1;
    }
  }
  s.head[t] = head;
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
  for (std::uint64_t u = t * slice + 1; u < (t + 1) * slice; u += 2) units.push_back(u);
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
      (void)fx->table.add(c);
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
