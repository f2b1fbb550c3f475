// uepool/core/unit_range.hpp — a half-open range of unit indices, the
// vocabulary type shared by the allocator (windows, blocks) and the set
// layer's plan, without the bitmap template.
#pragma once

#include <cstdint>

namespace uepool::core {

// UnitRange — units [begin, end).
struct UnitRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  [[nodiscard]] bool empty() const noexcept { return begin >= end; }
  [[nodiscard]] std::uint64_t size() const noexcept { return end > begin ? end - begin : 0; }
  friend bool operator==(const UnitRange&, const UnitRange&) = default;
};

}  // namespace uepool::core
