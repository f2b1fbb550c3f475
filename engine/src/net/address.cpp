// Parsing and formatting of IPv4 and IPv6 addresses. See uepool/net/address.hpp.
#include "uepool/net/address.hpp"

namespace uepool::net {
namespace {

Status invalid(const char* reason, std::size_t pos) {
  return Status(StatusCode::kInvalidArgument, reason).at(pos);
}

constexpr bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// parse_v4_at — parses `text` as a dotted quad; error offsets are shifted by `base`.
Result<Ipv4Address> parse_v4_at(std::string_view text, std::size_t base) {
  if (text.empty()) return invalid("empty IPv4 address", base);
  std::uint32_t bits = 0;
  std::size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i == text.size()) return invalid("too few octets in IPv4 address", base + i);
      if (text[i] != '.') return invalid("bad character in IPv4 address", base + i);
      ++i;
    }
    const std::size_t start = i;
    unsigned value = 0;
    while (i < text.size() && is_digit(text[i])) {
      if (i - start == 3) return invalid("IPv4 octet has more than 3 digits", base + start);
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
    }
    if (i == start) {
      if (i == text.size() || text[i] == '.') return invalid("empty IPv4 octet", base + i);
      return invalid("bad character in IPv4 address", base + i);
    }
    if (i - start > 1 && text[start] == '0') return invalid("leading zero in IPv4 octet", base + start);
    if (value > 255) return invalid("IPv4 octet above 255", base + start);
    bits = (bits << 8) | value;
  }
  if (i != text.size()) {
    if (text[i] == '.') return invalid("too many octets in IPv4 address", base + i);
    return invalid("bad character in IPv4 address", base + i);
  }
  return Ipv4Address(bits);
}

void append(TextBuffer& out, char c) {
  out.data[out.size++] = c;
}

void append_decimal(TextBuffer& out, unsigned v) {
  if (v >= 100) append(out, static_cast<char>('0' + v / 100));
  if (v >= 10) append(out, static_cast<char>('0' + v / 10 % 10));
  append(out, static_cast<char>('0' + v % 10));
}

void append_hex_group(TextBuffer& out, unsigned v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned d = (v >> shift) & 0xf;
    if (d != 0 || started || shift == 0) {
      append(out, kDigits[d]);
      started = true;
    }
  }
}

}  // namespace

Result<Ipv4Address> Ipv4Address::parse(std::string_view text) noexcept {
  return parse_v4_at(text, 0);
}

void Ipv4Address::format_to(TextBuffer& out) const noexcept {
  for (int i = 3; i >= 0; --i) {
    append_decimal(out, (bits_ >> (8 * i)) & 0xff);
    if (i > 0) append(out, '.');
  }
}

TextBuffer Ipv4Address::format() const noexcept {
  TextBuffer out;
  format_to(out);
  return out;
}

Result<Ipv6Address> Ipv6Address::parse(std::string_view text) noexcept {
  if (text.empty()) return invalid("empty IPv6 address", 0);
  if (const auto pct = text.find('%'); pct != std::string_view::npos) {
    return invalid("zone id not allowed in IPv6 address", pct);
  }
  std::uint16_t groups[8] = {};
  int n = 0;     // groups parsed so far
  int gap = -1;  // index in `groups` where "::" stands, or -1
  std::size_t i = 0;
  const std::size_t size = text.size();
  if (text[0] == ':') {
    if (size < 2 || text[1] != ':') return invalid("IPv6 address starts with a single ':'", 0);
    gap = 0;
    i = 2;
  }
  while (i < size) {
    // One group, or the dotted-quad tail.
    const std::size_t start = i;
    std::size_t end = start;
    bool dotted = false;
    while (end < size && text[end] != ':') {
      dotted |= text[end] == '.';
      ++end;
    }
    if (dotted) {
      if (end != size) return invalid("IPv4 part must end the IPv6 address", end);
      if (n > 6) return invalid("too many groups in IPv6 address", start);
      auto v4 = parse_v4_at(text.substr(start, end - start), start);
      if (!v4.ok()) return v4.status();
      groups[n++] = static_cast<std::uint16_t>(v4.value().bits() >> 16);
      groups[n++] = static_cast<std::uint16_t>(v4.value().bits());
      i = end;
      break;
    }
    if (end == start) {
      // Only reachable right after "::" (a single ':' is caught below): ":::".
      return invalid("more than one '::' in IPv6 address", start);
    }
    if (end - start > 4) return invalid("IPv6 group has more than 4 hex digits", start);
    unsigned value = 0;
    for (std::size_t k = start; k < end; ++k) {
      const int d = hex_value(text[k]);
      if (d < 0) return invalid("bad hex digit in IPv6 address", k);
      value = value * 16 + static_cast<unsigned>(d);
    }
    if (n == 8) return invalid("too many groups in IPv6 address", start);
    groups[n++] = static_cast<std::uint16_t>(value);
    i = end;
    if (i == size) break;
    ++i;  // the ':'
    if (i == size) return invalid("IPv6 address ends with a single ':'", i - 1);
    if (text[i] == ':') {
      if (gap >= 0) return invalid("more than one '::' in IPv6 address", i - 1);
      gap = n;
      ++i;
    }
  }
  if (gap < 0 && n != 8) return invalid("too few groups in IPv6 address", size);
  if (gap >= 0 && n > 7) return invalid("'::' must stand for at least one zero group", static_cast<std::size_t>(0));
  u128 bits = 0;
  const int zeros = 8 - n;
  for (int g = 0, k = 0; g < 8; ++g) {
    std::uint16_t v = 0;
    if (gap >= 0 && g >= gap && g < gap + zeros) {
      v = 0;
    } else {
      v = groups[k++];
    }
    bits = (bits << 16) | v;
  }
  return Ipv6Address(bits);
}

void Ipv6Address::format_to(TextBuffer& out) const noexcept {
  if (is_v4_mapped()) {
    for (const char c : {':', ':', 'f', 'f', 'f', 'f', ':'}) append(out, c);
    Ipv4Address(static_cast<std::uint32_t>(bits_)).format_to(out);
    return;
  }
  // The longest run of two or more zero groups, the leftmost on a tie (RFC 5952 4.2).
  int best_start = -1;
  int best_len = 1;
  for (int g = 0; g < 8;) {
    if (group(g) != 0) {
      ++g;
      continue;
    }
    int e = g;
    while (e < 8 && group(e) == 0) ++e;
    if (e - g > best_len) {
      best_start = g;
      best_len = e - g;
    }
    g = e;
  }
  for (int g = 0; g < 8; ++g) {
    if (g == best_start) {
      append(out, ':');
      append(out, ':');
      g += best_len - 1;
      continue;
    }
    if (g > 0 && g != best_start + best_len) append(out, ':');
    append_hex_group(out, group(g));
  }
}

TextBuffer Ipv6Address::format() const noexcept {
  TextBuffer out;
  format_to(out);
  return out;
}

Result<IpAddress> IpAddress::parse(std::string_view text) noexcept {
  if (text.find(':') != std::string_view::npos) {
    auto a = Ipv6Address::parse(text);
    if (!a.ok()) return a.status();
    return IpAddress(a.value());
  }
  auto a = Ipv4Address::parse(text);
  if (!a.ok()) return a.status();
  return IpAddress(a.value());
}

void IpAddress::format_to(TextBuffer& out) const noexcept {
  if (is_v4()) {
    v4().format_to(out);
  } else {
    v6().format_to(out);
  }
}

TextBuffer IpAddress::format() const noexcept {
  TextBuffer out;
  format_to(out);
  return out;
}

}  // namespace uepool::net
