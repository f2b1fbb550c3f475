// uepool/pfcp/ue_ip_address.hpp — an allocation as an SMF puts it on the
// wire to its UPF: the PFCP UE IP Address IE (3GPP TS 29.244 §8.2.62, IE
// type 93), as it goes in the PDI of a Create PDR.
//
//   auto ie = pfcp::UeIpAddress::for_allocation(pool.prefix_of(unit), /*destination=*/false);
//   std::vector<std::uint8_t> bytes = pfcp::encode(ie.value());   // type, length, value
//   Result<pfcp::UeIpAddress> back = pfcp::decode(bytes);          // never throws
//
// Layout (every integer big-endian; the IE header is type 93 and the
// length of what follows it):
//   octet 5   flags: bit 1 V6, 2 V4, 3 S/D, 4 IPv6D, 5 CHV4, 6 CHV6,
//             7 IP6PL, 8 spare
//   then      IPv4 address (4 octets)                if V4
//             IPv6 address (16 octets)               if V6
//             IPv6 Prefix Delegation Bits (1 octet)  if IPv6D
//             IPv6 Prefix Length (1 octet)           if IP6PL
// An allocation: an IPv4 /32 is V4; an IPv6 /64 is V6 (the default prefix
// length); a shorter IPv6 prefix (a delegation, e.g. /56) is V6 with IPv6D
// and 64 - length delegation bits; a longer one is V6 with IP6PL and its
// length. S/D is the UE's side of the PDR: 0 source (uplink, a PDI from
// Access), 1 destination (downlink, from Core). CHV4/CHV6 ask the UPF to
// choose (no address then): they are carried, never produced here.
//
// Decoding trusts nothing: a wrong IE type, a length beyond the bytes, a
// value shorter than its flags promise, V4 with CHV4 (or V6 with CHV6), a
// delegation above 64 bits or a prefix length above 128 are refused with
// the reason and its offset. The IE is extendable: octets after the fields
// are ignored (TS 29.244 §8.1.1).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "uepool/base/status.hpp"
#include "uepool/net/prefix.hpp"

namespace uepool::pfcp {

inline constexpr std::uint16_t kUeIpAddressType = 93;

struct UeIpAddress {
  std::optional<net::Ipv4Address> v4;
  std::optional<net::Ipv6Address> v6;
  bool destination = false;                     // S/D
  bool choose_v4 = false, choose_v6 = false;    // CHV4, CHV6
  std::optional<std::uint8_t> delegation_bits;  // IPv6D: the prefix is /(64 - bits)
  std::optional<std::uint8_t> prefix_length;    // IP6PL

  // for_allocation — the IE for one allocated unit (an IPv4 /32 or an IPv6
  // prefix). kInvalidArgument: an IPv4 unit that is not a /32.
  static Result<UeIpAddress> for_allocation(const net::Prefix& unit, bool destination);
  // add — a dual-stack session's second unit into the same IE (the other
  // family). kInvalidArgument: its family is already there, or not a /32.
  Status add(const net::Prefix& unit);
  // ipv6_prefix — the IPv6 prefix the IE names (its length from IPv6D or
  // IP6PL, /64 otherwise), if it carries an IPv6 address.
  [[nodiscard]] std::optional<net::Prefix> ipv6_prefix() const;

  friend bool operator==(const UeIpAddress&, const UeIpAddress&) = default;
};

// encode — the whole IE: type (2 octets), length (2), value.
std::vector<std::uint8_t> encode(const UeIpAddress& ie);
// decode — one whole IE (as encode writes it). Returns: the IE, or
// kInvalidArgument naming what was wrong and at which offset.
Result<UeIpAddress> decode(std::span<const std::uint8_t> bytes);

}  // namespace uepool::pfcp
