// uepool/net/prefix.hpp — an IPv4 or IPv6 prefix, and the unit arithmetic a pool needs.
//
// Overview
//   A `Prefix` is an address plus a length, with no host bits set. A pool is
//   a prefix cut into units of a fixed length: /32 addresses of an IPv4 /16,
//   or /64 prefixes of an IPv6 /32. Unit `i` is the i-th sub-prefix.
//
//     auto pool = uepool::net::Prefix::parse("2001:db8::/32").value();
//     pool.nth(64, 5).value().format().view();           // "2001:db8:0:5::/64"
//     pool.index_of(64, Prefix::parse("2001:db8:0:5::/64").value()).value();  // 5
//
// Indices are unsigned 64-bit. A pool with more than 2^64 units (an IPv6 /0
//   cut into /128s) works for every index below 2^64; a sub-prefix whose
//   index does not fit is a clear kOutOfRange error.
//
// Parsing: "ADDR/LEN" with LEN in decimal, 0..32 or 0..128, no sign, no
//   leading zero; a bare address is a full-length prefix. Host bits set
//   ("10.0.0.1/8") are refused and the error says so: a pool must be exact.
//
// Allocation: none. Thread-safety: values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "uepool/base/status.hpp"
#include "uepool/net/address.hpp"

namespace uepool::net {

class Prefix {
 public:
  constexpr Prefix() noexcept = default;

  // make — Returns: the prefix, or kInvalidArgument if `length` is beyond the
  // family or host bits are set.
  static Result<Prefix> make(IpAddress address, int length) noexcept;
  // parse — "ADDR/LEN" or "ADDR". Returns: the prefix, or an error with its offset.
  static Result<Prefix> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr const IpAddress& address() const noexcept { return address_; }
  [[nodiscard]] constexpr int length() const noexcept { return length_; }
  [[nodiscard]] constexpr Family family() const noexcept { return address_.family(); }

  // contains — same family and inside (a prefix contains itself).
  [[nodiscard]] bool contains(const IpAddress& a) const noexcept;
  [[nodiscard]] bool contains(const Prefix& p) const noexcept;

  // unit_bits — log2 of the number of /unit_length units in this prefix.
  // Returns: kInvalidArgument if unit_length < length() or beyond the family.
  [[nodiscard]] Result<int> unit_bits(int unit_length) const noexcept;
  // unit_count — the number of units, or UINT64_MAX if there are 2^64 or more.
  [[nodiscard]] Result<std::uint64_t> unit_count(int unit_length) const noexcept;
  // nth — the index-th /unit_length sub-prefix. Returns: kOutOfRange if the
  // index is beyond the last unit; kInvalidArgument for a bad unit length.
  [[nodiscard]] Result<Prefix> nth(int unit_length, std::uint64_t index) const noexcept;
  // index_of — the index of `unit` among the /unit_length sub-prefixes.
  // Returns: kInvalidArgument if `unit` is of another family or length, or
  // not inside; kOutOfRange if its index does not fit in 64 bits.
  [[nodiscard]] Result<std::uint64_t> index_of(int unit_length, const Prefix& unit) const noexcept;

  void format_to(TextBuffer& out) const noexcept;
  [[nodiscard]] TextBuffer format() const noexcept;
  [[nodiscard]] std::string to_string() const { return format().str(); }

  friend constexpr auto operator<=>(const Prefix&, const Prefix&) noexcept = default;

 private:
  IpAddress address_;
  std::uint8_t length_ = 0;
};

// host_mask — the low (width - length) bits set. Requires: 0 <= length <= width <= 128.
constexpr u128 host_mask(int width, int length) noexcept {
  const int host = width - length;
  return host >= 128 ? ~static_cast<u128>(0) : (static_cast<u128>(1) << host) - 1;
}

}  // namespace uepool::net

template <>
struct std::hash<uepool::net::Prefix> {
  std::size_t operator()(const uepool::net::Prefix& p) const noexcept {
    return std::hash<uepool::net::IpAddress>()(p.address()) * 131 + static_cast<std::size_t>(p.length());
  }
};
