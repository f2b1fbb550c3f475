// CRC-32C, reflected polynomial 0x82F63B78. See uepool/wire/crc32c.hpp.
#include "uepool/wire/crc32c.hpp"

#include <array>
#include <cstring>

namespace uepool::wire {

namespace {
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kTable = make_table();

// table — one byte a step: the portable path, and the reference the tests
// compare the instruction path against (crc32c_portable).
std::uint32_t table(std::span<const std::uint8_t> bytes, std::uint32_t c) noexcept {
  for (std::uint8_t b : bytes) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// sse42 — SSE4.2's crc32 instruction computes this very polynomial: 8 bytes
// a step (a few cycles each, against about a cycle a byte for the table).
__attribute__((target("sse4.2"))) std::uint32_t sse42(std::span<const std::uint8_t> bytes, std::uint32_t c) noexcept {
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  for (; n > 0; --n, ++p) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}
const bool have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}  // namespace

std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc) noexcept {
#if defined(__x86_64__)
  if (have_sse42) return ~sse42(bytes, ~crc);
#endif
  return ~table(bytes, ~crc);
}

std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes, std::uint32_t crc) noexcept {
  return ~table(bytes, ~crc);
}

}  // namespace uepool::wire
