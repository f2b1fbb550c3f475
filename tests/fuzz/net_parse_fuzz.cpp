// Fuzz target: net parsing and unit arithmetic.
//
// Properties checked (not only "no crash"):
//   * whatever parses formats to text that parses back to the same value, and
//     formatting that text again gives the same text (canonical is a fixed point);
//   * for a parsed prefix and a unit length taken from the input, nth(index)
//     lands inside the prefix and index_of gives the index back.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "uepool/net/prefix.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace uepool::net;
  if (size == 0) return 0;
  // First byte: unit length and index seed; the rest: the text.
  const std::uint8_t control = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  if (auto a = IpAddress::parse(text); a.ok()) {
    const TextBuffer t = a.value().format();
    auto again = IpAddress::parse(t.view());
    check(again.ok() && again.value() == a.value());
    check(again.value().format().view() == t.view());
  }
  auto p = Prefix::parse(text);
  if (!p.ok()) return 0;
  const Prefix& prefix = p.value();
  const TextBuffer t = prefix.format();
  auto again = Prefix::parse(t.view());
  check(again.ok() && again.value() == prefix);

  const int width = max_length(prefix.family());
  const int unit_length = prefix.length() + control % (width - prefix.length() + 1);
  const int bits = unit_length - prefix.length();
  std::uint64_t index = 0;
  for (std::size_t k = 1; k < size && k < 9; ++k) index = (index << 8) | data[k];
  if (bits < 64) index &= (std::uint64_t{1} << bits) - 1;
  auto unit = prefix.nth(unit_length, index);
  check(unit.ok());
  check(prefix.contains(unit.value()));
  check(unit.value().length() == unit_length);
  auto back = prefix.index_of(unit_length, unit.value());
  check(back.ok() && back.value() == index);
  return 0;
}
