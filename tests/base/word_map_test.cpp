// WordMap: the same answers as std::map under random sets, overwrites and
// erases (backward-shift deletion keeps every probe run intact), growth,
// and deterministic slot order.
#include "uepool/base/word_map.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace uepool {
namespace {

TEST(WordMap, AgreesWithStdMapUnderRandomOperations) {
  std::mt19937_64 rng(20261130);
  for (const std::uint64_t key_space : {8ULL, 100ULL, 5'000ULL, 1ULL << 40}) {
    WordMap m;
    std::map<std::uint64_t, std::uint64_t> ref;
    for (int i = 0; i < 100'000; ++i) {
      const std::uint64_t k = rng() % key_space;
      const std::uint64_t r = rng();
      const std::uint64_t v = (r & 3) == 0 ? 0 : r >> 2;  // a quarter of the writes erase
      m.set(k, v);
      if (v == 0) {
        ref.erase(k);
      } else {
        ref[k] = v;
      }
      if (i % 5'000 == 0) {
        ASSERT_EQ(m.size(), ref.size()) << "key space " << key_space << " step " << i;
        for (const auto& [key, bits] : ref) ASSERT_EQ(m.get(key), bits) << key;
        std::size_t seen = 0;
        m.for_each([&](std::uint64_t key, std::uint64_t bits) {
          ++seen;
          EXPECT_EQ(ref.at(key), bits);
        });
        ASSERT_EQ(seen, ref.size());
      }
      ASSERT_EQ(m.get(k), v);
    }
  }
}

TEST(WordMap, ZeroMeansAbsentAndClearEmpties) {
  WordMap m;
  EXPECT_EQ(m.get(7), 0u);
  m.set(7, 0);  // erasing what is absent: nothing
  EXPECT_TRUE(m.empty());
  for (std::uint64_t k = 0; k < 1000; ++k) m.set(k * 64, k + 1);  // keys that share low bits
  EXPECT_EQ(m.size(), 1000u);
  EXPECT_EQ(m.get(64 * 999), 1000u);
  for (std::uint64_t k = 0; k < 1000; k += 2) m.set(k * 64, 0);
  EXPECT_EQ(m.size(), 500u);
  for (std::uint64_t k = 0; k < 1000; ++k) EXPECT_EQ(m.get(k * 64), k % 2 == 1 ? k + 1 : 0) << k;
  m.clear();
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.get(64), 0u);
}

TEST(WordMap, SlotOrderIsAFunctionOfTheCallsOnly) {
  WordMap a, b;
  for (std::uint64_t k = 0; k < 300; ++k) {
    a.set(k * 7919, k + 1);
    b.set(k * 7919, k + 1);
  }
  ASSERT_EQ(a.slots(), b.slots());
  for (std::size_t i = 0; i < a.slots(); ++i) {
    EXPECT_EQ(a.key_at(i), b.key_at(i));
    EXPECT_EQ(a.bits_at(i), b.bits_at(i));
  }
}

}  // namespace
}  // namespace uepool
