// The PFCP UE IP Address IE. See uepool/pfcp/ue_ip_address.hpp.
#include "uepool/pfcp/ue_ip_address.hpp"

namespace uepool::pfcp {

namespace {

// Octet 5, TS 29.244 Figure 8.2.62-1.
constexpr std::uint8_t kV6 = 0x01, kV4 = 0x02, kSD = 0x04, kIPv6D = 0x08, kCHV4 = 0x10, kCHV6 = 0x20, kIP6PL = 0x40;

Status bad(const char* reason, std::size_t at) {
  return Status(StatusCode::kInvalidArgument, reason).at(at);
}

}  // namespace

Result<UeIpAddress> UeIpAddress::for_allocation(const net::Prefix& unit, bool destination) {
  UeIpAddress ie;
  ie.destination = destination;
  const Status s = ie.add(unit);
  if (!s.ok()) return s;
  return ie;
}

Status UeIpAddress::add(const net::Prefix& unit) {
  if (unit.family() == net::Family::kV4) {
    if (v4) return Status(StatusCode::kInvalidArgument, "the IE already carries an IPv4 address");
    if (unit.length() != 32)
      return Status(StatusCode::kInvalidArgument, "an IPv4 unit must be a /32 in the UE IP Address IE")
          .with_number(static_cast<std::uint64_t>(unit.length()), "length");
    v4 = unit.address().v4();
    return Status::ok_status();
  }
  if (v6) return Status(StatusCode::kInvalidArgument, "the IE already carries an IPv6 prefix");
  v6 = unit.address().v6();
  if (unit.length() < 64) delegation_bits = static_cast<std::uint8_t>(64 - unit.length());
  if (unit.length() > 64) prefix_length = static_cast<std::uint8_t>(unit.length());
  return Status::ok_status();
}

std::optional<net::Prefix> UeIpAddress::ipv6_prefix() const {
  if (!v6) return std::nullopt;
  int length = 64;
  if (prefix_length) length = *prefix_length;
  if (delegation_bits) length = 64 - *delegation_bits;
  auto p = net::Prefix::make(*v6, length);
  if (!p.ok()) return std::nullopt;  // host bits set: the IE names an address, not a prefix
  return p.value();
}

std::vector<std::uint8_t> encode(const UeIpAddress& ie) {
  std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(kUeIpAddressType >> 8),
                                   static_cast<std::uint8_t>(kUeIpAddressType & 0xff), 0, 0, 0};
  std::uint8_t flags = 0;
  if (ie.v6) flags |= kV6;
  if (ie.v4) flags |= kV4;
  if (ie.destination) flags |= kSD;
  if (ie.delegation_bits) flags |= kIPv6D;
  if (ie.choose_v4) flags |= kCHV4;
  if (ie.choose_v6) flags |= kCHV6;
  if (ie.prefix_length) flags |= kIP6PL;
  out[4] = flags;
  if (ie.v4) {
    const std::uint32_t a = ie.v4->bits();
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(a >> shift));
  }
  if (ie.v6) {
    const net::u128 a = ie.v6->bits();
    for (int shift = 120; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(a >> shift));
  }
  if (ie.delegation_bits) out.push_back(*ie.delegation_bits);
  if (ie.prefix_length) out.push_back(*ie.prefix_length);
  const std::size_t length = out.size() - 4;
  out[2] = static_cast<std::uint8_t>(length >> 8);
  out[3] = static_cast<std::uint8_t>(length & 0xff);
  return out;
}

Result<UeIpAddress> decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 4) return bad("UE IP Address IE shorter than its header", bytes.size());
  const std::uint16_t type = static_cast<std::uint16_t>(bytes[0] << 8 | bytes[1]);
  if (type != kUeIpAddressType) return bad("not a UE IP Address IE (type 93)", 0).with_number(type, "type");
  const std::size_t length = static_cast<std::size_t>(bytes[2] << 8 | bytes[3]);
  if (length > bytes.size() - 4)
    return bad("UE IP Address IE length beyond the bytes", 2).with_number(length, "length");
  if (length < 1) return bad("UE IP Address IE without its flags octet", 4);
  const std::span<const std::uint8_t> v = bytes.subspan(4, length);
  const std::uint8_t flags = v[0];
  UeIpAddress ie;
  ie.destination = (flags & kSD) != 0;
  ie.choose_v4 = (flags & kCHV4) != 0;
  ie.choose_v6 = (flags & kCHV6) != 0;
  if ((flags & kV4) != 0 && ie.choose_v4) return bad("V4 and CHV4 both set", 4);
  if ((flags & kV6) != 0 && ie.choose_v6) return bad("V6 and CHV6 both set", 4);
  std::size_t at = 1;
  auto need = [&](std::size_t n) { return v.size() - at >= n; };
  if ((flags & kV4) != 0) {
    if (!need(4)) return bad("UE IP Address IE truncated in its IPv4 address", 4 + at);
    std::uint32_t a = 0;
    for (int i = 0; i < 4; ++i) a = a << 8 | v[at++];
    ie.v4 = net::Ipv4Address(a);
  }
  if ((flags & kV6) != 0) {
    if (!need(16)) return bad("UE IP Address IE truncated in its IPv6 address", 4 + at);
    net::u128 a = 0;
    for (int i = 0; i < 16; ++i) a = a << 8 | v[at++];
    ie.v6 = net::Ipv6Address(a);
  }
  if ((flags & kIPv6D) != 0) {
    if (!need(1)) return bad("UE IP Address IE truncated in its IPv6 prefix delegation bits", 4 + at);
    if (v[at] > 64) return bad("IPv6 prefix delegation bits above 64", 4 + at).with_number(v[at], "bits");
    ie.delegation_bits = v[at++];
  }
  if ((flags & kIP6PL) != 0) {
    if (!need(1)) return bad("UE IP Address IE truncated in its IPv6 prefix length", 4 + at);
    if (v[at] > 128) return bad("IPv6 prefix length above 128", 4 + at).with_number(v[at], "length");
    ie.prefix_length = v[at++];
  }
  return ie;  // octets after the fields: the IE is extendable (ignored)
}

}  // namespace uepool::pfcp
