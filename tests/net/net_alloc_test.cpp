// The net layer's parse, format and index paths allocate nothing: a counting
// global operator new around each call must see zero allocations.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "uepool/net/prefix.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// g++ 12 cannot see that this operator new is malloc-based and warns.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace uepool::net {
namespace {

volatile std::size_t g_sink = 0;
void benchmark_sink(std::size_t v) {
  g_sink = v;
}

template <class F>
long allocations_in(F&& f) {
  const long before = g_allocations.load();
  f();
  return g_allocations.load() - before;
}

TEST(NetAllocations, ParseFormatNthIndexAllocateNothing) {
  const char* texts[] = {"10.45.0.0/16", "2001:db8:cafe::/48", "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8", "010.0.0.1",
                         "1::2::3",      "fe80::1%eth0",       "10.0.0.1/8"};
  long total = 0;
  for (const char* t : texts) {
    total += allocations_in([&] {
      auto p = Prefix::parse(t);
      auto a = IpAddress::parse(t);
      if (p.ok()) {
        TextBuffer out = p.value().format();
        benchmark_sink(out.size);
        auto u = p.value().nth(p.value().length(), 0);
        if (u.ok()) (void)p.value().index_of(p.value().length(), u.value());
      }
      if (a.ok()) benchmark_sink(a.value().format().size);
    });
  }
  EXPECT_EQ(total, 0);
  // The counter works: a std::string of 100 bytes allocates.
  EXPECT_GT(allocations_in([] {
              volatile auto* s = new std::string(100, 'x');
              delete s;
            }),
            0);
}

}  // namespace
}  // namespace uepool::net
