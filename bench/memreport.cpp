// uepool-memreport — memory of the allocator: bytes per unit for the dense,
// near-full and sparse cases (AtomicBitmap::memory_bytes, what the structure
// holds), and the process's peak RSS (getrusage), which adds the allocator's
// own overhead. Prints one line per case and exits 0.
#include <sys/resource.h>

#include <cstdio>
#include <random>
#include <vector>

#include "uepool/core/atomic_bitmap.hpp"

namespace {

using uepool::core::AtomicBitmap;

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

void report(const char* name, const AtomicBitmap& b, std::uint64_t held) {
  const double bytes = static_cast<double>(b.memory_bytes());
  std::printf("%-34s capacity 2^%-2d held %10llu  memory %10.0f B  %7.3f bits/unit  %9.1f B/held unit  leaves %llu\n",
              name, 63 - __builtin_clzll(b.capacity()), static_cast<unsigned long long>(held), bytes,
              bytes * 8 / static_cast<double>(b.capacity()), held ? bytes / static_cast<double>(held) : 0.0,
              static_cast<unsigned long long>(b.leaves()));
}

}  // namespace

int main() {
  {
    AtomicBitmap b(std::uint64_t{1} << 24);
    AtomicBitmap::Worker w(b);
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << 24); ++i) (void)b.allocate(w);
    report("dense 2^24, full", b, b.count());
  }
  {
    AtomicBitmap b(std::uint64_t{1} << 16);
    AtomicBitmap::Worker w(b);
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << 15); ++i) (void)b.allocate(w);
    report("churn_dense: /16, 50 %", b, b.count());
  }
  {
    AtomicBitmap b(std::uint64_t{1} << 22);
    AtomicBitmap::Worker w(b);
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << 22) * 95 / 100; ++i) (void)b.allocate(w);
    report("churn_full95: 2^22, 95 %", b, b.count());
  }
  {
    AtomicBitmap b(std::uint64_t{1} << 32);
    AtomicBitmap::Worker w(b);
    for (int i = 0; i < 1000000; ++i) (void)b.allocate(w);
    report("churn_sparse: 2^32, 10^6 packed", b, b.count());
  }
  {
    AtomicBitmap b(std::uint64_t{1} << 32);
    AtomicBitmap::Worker w(b);
    std::mt19937_64 rng(1);
    for (int i = 0; i < 100000; ++i) (void)b.claim(w, rng() & 0xffffffffu);
    report("2^32, 10^5 claims scattered", b, b.count());
  }
  std::printf("peak RSS %ld KiB\n", peak_rss_kib());
  return 0;
}
