// uepool/wire/crc32c.hpp — CRC-32C (Castagnoli), the frame checksum.
//
//   std::uint32_t c = uepool::wire::crc32c(bytes);   // "123456789" -> 0xE3069283
//
// No library in Debian 12 provides CRC-32C for C++. On x86-64 with SSE4.2
// (checked once at start) the `crc32` instruction does 8 bytes a step; else
// a table, one byte a step. The checksum was 18 % of a release-throughput
// profile with the table alone (perf/README.md).
#pragma once

#include <cstdint>
#include <span>

namespace uepool::wire {

// crc32c — the CRC-32C of `bytes`, continuing from `crc` (0 for a fresh start).
std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;
// crc32c_portable — the same by the table alone (tests compare the two).
std::uint32_t crc32c_portable(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace uepool::wire
