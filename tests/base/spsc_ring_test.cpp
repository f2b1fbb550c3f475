// Unit tests and a two-thread stress of SpscRing (run under ThreadSanitizer
// in the tsan preset).
#include "uepool/base/spsc_ring.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

namespace uepool {
namespace {

TEST(SpscRing, CapacityRoundsUpToAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(5).capacity(), 8u);
  EXPECT_EQ(SpscRing<int>(8).capacity(), 8u);
}

TEST(SpscRing, FifoFullEmptyAndDrain) {
  SpscRing<int> ring(4);
  int out = 0;
  EXPECT_FALSE(ring.try_pop(out));
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.try_push(i));
  EXPECT_FALSE(ring.try_push(99)) << "a full ring must refuse, not overwrite";
  EXPECT_EQ(ring.published(), 4u);
  EXPECT_EQ(ring.consumed(), 0u);
  ASSERT_TRUE(ring.try_pop(out));
  EXPECT_EQ(out, 0);
  EXPECT_TRUE(ring.try_push(4));  // the freed cell is reused
  std::vector<int> seen;
  EXPECT_EQ(ring.drain([&](int v) { seen.push_back(v); }), 4u);
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(ring.consumed(), 5u);
  EXPECT_EQ(ring.drain([&](int) { ADD_FAILURE() << "drained from an empty ring"; }), 0u);
}

TEST(SpscRingStress, ConsumerSeesEveryItemOnceInOrder) {
  SpscRing<std::uint64_t> ring(64);
  constexpr std::uint64_t kItems = 2'000'000;
  std::thread producer([&] {
    for (std::uint64_t i = 1; i <= kItems;) {
      if (ring.try_push(i)) ++i;
    }
  });
  std::uint64_t expected = 1;
  bool in_order = true;
  while (expected <= kItems) {
    if ((expected & 1) != 0) {
      std::uint64_t v = 0;
      if (ring.try_pop(v)) {
        in_order = in_order && v == expected;
        ++expected;
      }
    } else {
      ring.drain([&](std::uint64_t v) {
        in_order = in_order && v == expected;
        ++expected;
      });
    }
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(ring.published(), kItems);
  EXPECT_EQ(ring.consumed(), kItems);
}

}  // namespace
}  // namespace uepool
