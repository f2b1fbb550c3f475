// uepool/wire/crc32c.hpp — CRC-32C (Castagnoli), the frame checksum.
//
//   std::uint32_t c = uepool::wire::crc32c(bytes);   // "123456789" -> 0xE3069283
//
// Table-driven, one byte a step (no library in Debian 12 provides CRC-32C
// for C++; frames are at most 64 KiB and checked once per receipt). The SSE4.2
// `crc32` instruction would be faster; not needed at today's frame rates.
#pragma once

#include <cstdint>
#include <span>

namespace uepool::wire {

// crc32c — the CRC-32C of `bytes`, continuing from `crc` (0 for a fresh start).
std::uint32_t crc32c(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace uepool::wire
