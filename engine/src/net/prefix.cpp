// Prefix parsing, formatting and unit arithmetic. See uepool/net/prefix.hpp.
#include "uepool/net/prefix.hpp"

namespace uepool::net {
namespace {

Status invalid(const char* reason) {
  return Status(StatusCode::kInvalidArgument, reason);
}

}  // namespace

Result<Prefix> Prefix::make(IpAddress address, int length) noexcept {
  const int width = max_length(address.family());
  if (length < 0 || length > width) {
    return invalid("prefix length out of range").with_number(static_cast<std::uint64_t>(length), "length");
  }
  if ((address.bits() & host_mask(width, length)) != 0) {
    return invalid("host bits set in prefix").with_number(static_cast<std::uint64_t>(length), "length");
  }
  Prefix p;
  p.address_ = address;
  p.length_ = static_cast<std::uint8_t>(length);
  return p;
}

Result<Prefix> Prefix::parse(std::string_view text) noexcept {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address.ok()) return address.status();
  const int width = max_length(address.value().family());
  if (slash == std::string_view::npos) return make(address.value(), width);
  const std::string_view digits = text.substr(slash + 1);
  if (digits.empty()) return invalid("missing prefix length after '/'").at(slash + 1);
  int length = 0;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    const char c = digits[k];
    if (c < '0' || c > '9') {
      if (c == '/') return invalid("more than one '/' in prefix").at(slash + 1 + k);
      return invalid("bad character in prefix length").at(slash + 1 + k);
    }
    if (k == 3) return invalid("prefix length out of range").at(slash + 1);
    length = length * 10 + (c - '0');
  }
  if (digits.size() > 1 && digits[0] == '0') return invalid("leading zero in prefix length").at(slash + 1);
  if (length > width) {
    return invalid("prefix length out of range")
        .with_number(static_cast<std::uint64_t>(length), "length")
        .at(slash + 1);
  }
  auto p = make(address.value(), length);
  if (!p.ok()) return p.status().at(slash + 1);
  return p;
}

bool Prefix::contains(const IpAddress& a) const noexcept {
  if (a.family() != family()) return false;
  const u128 net = ~host_mask(max_length(family()), length_);
  return ((a.bits() ^ address_.bits()) & net) == 0;
}

bool Prefix::contains(const Prefix& p) const noexcept {
  return p.family() == family() && p.length_ >= length_ && contains(p.address_);
}

Result<int> Prefix::unit_bits(int unit_length) const noexcept {
  if (unit_length > max_length(family()) || unit_length < 0) {
    return invalid("unit length beyond the address family")
        .with_number(static_cast<std::uint64_t>(unit_length), "unit length");
  }
  if (unit_length < length_) {
    return invalid("unit length shorter than the prefix length")
        .with_number(static_cast<std::uint64_t>(unit_length), "unit length");
  }
  return unit_length - length_;
}

Result<std::uint64_t> Prefix::unit_count(int unit_length) const noexcept {
  auto bits = unit_bits(unit_length);
  if (!bits.ok()) return bits.status();
  if (bits.value() >= 64) return UINT64_MAX;
  return std::uint64_t{1} << bits.value();
}

Result<Prefix> Prefix::nth(int unit_length, std::uint64_t index) const noexcept {
  auto bits = unit_bits(unit_length);
  if (!bits.ok()) return bits.status();
  if (bits.value() < 64 && (index >> bits.value()) != 0) {
    return Status(StatusCode::kOutOfRange, "index beyond the last unit of the prefix")
        .with_number(std::uint64_t{1} << bits.value(), "units");
  }
  const int shift = max_length(family()) - unit_length;
  const u128 offset = shift >= 128 ? 0 : static_cast<u128>(index) << shift;
  Prefix p;
  p.address_ = IpAddress::from_bits(family(), address_.bits() | offset);
  p.length_ = static_cast<std::uint8_t>(unit_length);
  return p;
}

Result<std::uint64_t> Prefix::index_of(int unit_length, const Prefix& unit) const noexcept {
  auto bits = unit_bits(unit_length);
  if (!bits.ok()) return bits.status();
  if (unit.family() != family()) return invalid("unit is of another address family than the prefix");
  if (unit.length() != unit_length) {
    return invalid("unit length differs from the expected unit length")
        .with_number(static_cast<std::uint64_t>(unit.length()), "unit has length");
  }
  if (!contains(unit)) return invalid("unit is not inside the prefix");
  const int shift = max_length(family()) - unit_length;
  const u128 index = shift >= 128 ? 0 : (unit.address_.bits() - address_.bits()) >> shift;
  if ((index >> 64) != 0) return Status(StatusCode::kOutOfRange, "unit index does not fit in 64 bits");
  return static_cast<std::uint64_t>(index);
}

void Prefix::format_to(TextBuffer& out) const noexcept {
  address_.format_to(out);
  out.data[out.size++] = '/';
  if (length_ >= 100) out.data[out.size++] = static_cast<char>('0' + length_ / 100);
  if (length_ >= 10) out.data[out.size++] = static_cast<char>('0' + length_ / 10 % 10);
  out.data[out.size++] = static_cast<char>('0' + length_ % 10);
}

TextBuffer Prefix::format() const noexcept {
  TextBuffer out;
  format_to(out);
  return out;
}

}  // namespace uepool::net
