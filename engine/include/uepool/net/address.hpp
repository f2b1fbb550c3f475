// uepool/net/address.hpp — IPv4 and IPv6 addresses: parse, format, compare.
//
// Overview
//   `Ipv4Address` and `Ipv6Address` are 32- and 128-bit values; `IpAddress`
//   is either of them (a family plus the bits). Parsing is strict and every
//   malformed input gets a `Status` that says what was wrong and where
//   (the byte offset in the text). Formatting is canonical: dotted quad, and
//   RFC 5952 for IPv6 (lower case; the longest run of two or more zero groups
//   becomes "::", the leftmost on a tie; IPv4-mapped addresses in the mixed
//   form "::ffff:192.0.2.1", RFC 5952 section 5).
//
//     auto a = uepool::net::IpAddress::parse("2001:DB8:0:0:1::1");
//     a.value().format().view();   // "2001:db8::1:0:0:1"
//
// Accepted IPv4 text: four decimal octets 0..255, no leading zeros ("010" is
//   refused, as in modern parsers: it once meant octal).
// Accepted IPv6 text: up to eight groups of 1..4 hex digits (either case),
//   at most one "::" standing for at least one zero group, optionally ending
//   in a dotted-quad IPv4 tail ("::ffff:10.0.0.1"). Zone ids ("fe80::1%eth0")
//   are refused: a pool address has no scope.
//
// Allocation: none. Parse works on a string_view; format writes into a
//   fixed `TextBuffer` on the stack.
// Thread-safety: values.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "uepool/base/status.hpp"

namespace uepool::net {

__extension__ using u128 = unsigned __int128;

enum class Family : std::uint8_t { kV4 = 4, kV6 = 6 };

// max_length — 32 for IPv4, 128 for IPv6: the address width in bits.
constexpr int max_length(Family f) noexcept {
  return f == Family::kV4 ? 32 : 128;
}

// TextBuffer — room for the longest text of an address or prefix
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 bytes).
// `data` is written up to `size` by the formatter and left uninitialized
// beyond it: zeroing 64 bytes on every format would be wasted work.
struct TextBuffer {  // NOLINT(cppcoreguidelines-pro-type-member-init)
  static constexpr std::size_t kCapacity = 64;
  char data[kCapacity];
  std::uint8_t size = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {data, size}; }
  [[nodiscard]] std::string str() const { return std::string(view()); }
};

class Ipv4Address {
 public:
  constexpr Ipv4Address() noexcept = default;
  constexpr explicit Ipv4Address(std::uint32_t bits) noexcept : bits_(bits) {}

  // parse — Returns: the address, or kInvalidArgument naming the fault and its offset.
  static Result<Ipv4Address> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr std::uint32_t bits() const noexcept { return bits_; }
  // format_to — appends the dotted quad to `out`. Requires: room for 15 bytes.
  void format_to(TextBuffer& out) const noexcept;
  [[nodiscard]] TextBuffer format() const noexcept;

  friend constexpr auto operator<=>(Ipv4Address, Ipv4Address) noexcept = default;

 private:
  std::uint32_t bits_ = 0;
};

class Ipv6Address {
 public:
  constexpr Ipv6Address() noexcept = default;
  constexpr explicit Ipv6Address(u128 bits) noexcept : bits_(bits) {}

  // parse — Returns: the address, or kInvalidArgument naming the fault and its offset.
  static Result<Ipv6Address> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr u128 bits() const noexcept { return bits_; }
  // group — the i-th 16-bit group, 0 is leftmost. Requires: i < 8.
  [[nodiscard]] constexpr std::uint16_t group(int i) const noexcept {
    return static_cast<std::uint16_t>(bits_ >> (16 * (7 - i)));
  }
  // is_v4_mapped — inside ::ffff:0:0/96.
  [[nodiscard]] constexpr bool is_v4_mapped() const noexcept { return (bits_ >> 32) == static_cast<u128>(0xffff); }
  // format_to — appends the RFC 5952 text to `out`. Requires: room for 45 bytes.
  void format_to(TextBuffer& out) const noexcept;
  [[nodiscard]] TextBuffer format() const noexcept;

  friend constexpr auto operator<=>(Ipv6Address, Ipv6Address) noexcept = default;

 private:
  u128 bits_ = 0;
};

// IpAddress — an address of either family. Orders IPv4 before IPv6.
class IpAddress {
 public:
  constexpr IpAddress() noexcept = default;
  // NOLINTNEXTLINE(google-explicit-constructor): every Ipv4Address is an IpAddress.
  constexpr IpAddress(Ipv4Address a) noexcept : family_(Family::kV4), bits_(a.bits()) {}
  // NOLINTNEXTLINE(google-explicit-constructor)
  constexpr IpAddress(Ipv6Address a) noexcept : family_(Family::kV6), bits_(a.bits()) {}
  // from_bits — Requires: for IPv4, bits < 2^32.
  static constexpr IpAddress from_bits(Family f, u128 bits) noexcept {
    IpAddress a;
    a.family_ = f;
    a.bits_ = bits;
    return a;
  }

  // parse — IPv6 if the text has a ':', IPv4 otherwise.
  static Result<IpAddress> parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr Family family() const noexcept { return family_; }
  [[nodiscard]] constexpr bool is_v4() const noexcept { return family_ == Family::kV4; }
  [[nodiscard]] constexpr bool is_v6() const noexcept { return family_ == Family::kV6; }
  // bits — the address as an integer (IPv4 in the low 32 bits).
  [[nodiscard]] constexpr u128 bits() const noexcept { return bits_; }
  [[nodiscard]] constexpr Ipv4Address v4() const noexcept { return Ipv4Address(static_cast<std::uint32_t>(bits_)); }
  [[nodiscard]] constexpr Ipv6Address v6() const noexcept { return Ipv6Address(bits_); }

  void format_to(TextBuffer& out) const noexcept;
  [[nodiscard]] TextBuffer format() const noexcept;
  [[nodiscard]] std::string to_string() const { return format().str(); }

  friend constexpr auto operator<=>(const IpAddress&, const IpAddress&) noexcept = default;

 private:
  Family family_ = Family::kV4;
  u128 bits_ = 0;
};

// hash_u128 — a 64-bit mix of a 128-bit value (for hash tables).
constexpr std::size_t hash_u128(u128 v) noexcept {
  std::uint64_t x = static_cast<std::uint64_t>(v) ^ (static_cast<std::uint64_t>(v >> 64) * 0x9e3779b97f4a7c15ULL);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<std::size_t>(x);
}

}  // namespace uepool::net

template <>
struct std::hash<uepool::net::IpAddress> {
  std::size_t operator()(const uepool::net::IpAddress& a) const noexcept {
    return uepool::net::hash_u128(a.bits()) ^ static_cast<std::size_t>(a.family());
  }
};
