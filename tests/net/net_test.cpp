// Unit tests for uepool::net: every parse rule, RFC 5952 formatting, and the
// unit arithmetic a pool needs.
#include <gtest/gtest.h>

#include <string>

#include "uepool/net/prefix.hpp"

namespace uepool::net {
namespace {

std::string canon_address(std::string_view text) {
  auto a = IpAddress::parse(text);
  return a.ok() ? a.value().to_string() : "error: " + a.status().to_string();
}

std::string canon_prefix(std::string_view text) {
  auto p = Prefix::parse(text);
  return p.ok() ? p.value().to_string() : "error: " + p.status().to_string();
}

Prefix P(std::string_view text) {
  auto p = Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().to_string();
  return p.ok() ? p.value() : Prefix();
}

TEST(Ipv4Parse, Valid) {
  EXPECT_EQ(canon_address("0.0.0.0"), "0.0.0.0");
  EXPECT_EQ(canon_address("255.255.255.255"), "255.255.255.255");
  EXPECT_EQ(canon_address("10.45.0.1"), "10.45.0.1");
  EXPECT_EQ(Ipv4Address::parse("1.2.3.4").value().bits(), 0x01020304u);
}

TEST(Ipv4Parse, ErrorsNameTheFaultAndItsOffset) {
  struct Case {
    const char* text;
    const char* reason;
    std::uint32_t offset;
  };
  const Case cases[] = {
      {"", "empty IPv4 address", 0},
      {"1.2.3", "too few octets in IPv4 address", 5},
      {"1.2.3.4.5", "too many octets in IPv4 address", 7},
      {"1..3.4", "empty IPv4 octet", 2},
      {".1.2.3", "empty IPv4 octet", 0},
      {"1.2.3.", "empty IPv4 octet", 6},
      {"01.2.3.4", "leading zero in IPv4 octet", 0},
      {"1.2.3.00", "leading zero in IPv4 octet", 6},
      {"1.2.256.4", "IPv4 octet above 255", 4},
      {"1.2.3.1000", "IPv4 octet has more than 3 digits", 6},
      {"1.2.3.4x", "bad character in IPv4 address", 7},
      {"1.a.3.4", "bad character in IPv4 address", 2},
      {"1.2.3.-4", "bad character in IPv4 address", 6},
  };
  for (const Case& c : cases) {
    auto r = Ipv4Address::parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.text;
    EXPECT_STREQ(r.status().reason(), c.reason) << c.text;
    EXPECT_EQ(r.status().position(), c.offset) << c.text;
  }
}

TEST(Ipv6Parse, Valid) {
  EXPECT_EQ(canon_address("::"), "::");
  EXPECT_EQ(canon_address("::1"), "::1");
  EXPECT_EQ(canon_address("1::"), "1::");
  EXPECT_EQ(canon_address("2001:DB8::1"), "2001:db8::1");
  EXPECT_EQ(canon_address("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
  EXPECT_EQ(canon_address("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  EXPECT_EQ(canon_address("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0");  // "::" for one group
  EXPECT_EQ(canon_address("::2:3:4:5:6:7:8"), "0:2:3:4:5:6:7:8");
  EXPECT_EQ(canon_address("::1.2.3.4"), "::102:304");  // IPv4-compatible: not the mixed form
  EXPECT_EQ(canon_address("1:2:3:4:5:6:1.2.3.4"), "1:2:3:4:5:6:102:304");
  EXPECT_EQ(canon_address("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
}

TEST(Ipv6Parse, ErrorsNameTheFault) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "empty IPv6 address"},
      {":1::2", "IPv6 address starts with a single ':'"},
      {"1::2:", "IPv6 address ends with a single ':'"},
      {"1::2::3", "more than one '::' in IPv6 address"},
      {":::", "more than one '::' in IPv6 address"},
      {"1:::2", "more than one '::' in IPv6 address"},
      {"1:2:3:4:5:6:7", "too few groups in IPv6 address"},
      {"1:2:3:4:5:6:7:8:9", "too many groups in IPv6 address"},
      {"1:2:3:4:5:6:7:8::", "'::' must stand for at least one zero group"},
      {"::1:2:3:4:5:6:7:8", "'::' must stand for at least one zero group"},
      {"12345::", "IPv6 group has more than 4 hex digits"},
      {"12g4::", "bad hex digit in IPv6 address"},
      {"fe80::1%eth0", "zone id not allowed in IPv6 address"},
      {"::1.2.3.4:5", "IPv4 part must end the IPv6 address"},
      {"::01.2.3.4", "leading zero in IPv4 octet"},
      {"1:2:3:4:5:6:7:1.2.3.4", "too many groups in IPv6 address"},
      {"::1.2.3", "too few octets in IPv4 address"},
  };
  for (const Case& c : cases) {
    auto r = Ipv6Address::parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_STREQ(r.status().reason(), c.reason) << c.text;
    EXPECT_TRUE(r.status().position().has_value()) << c.text;
  }
  EXPECT_EQ(Ipv6Address::parse("fe80::1%eth0").status().position(), 7u);
}

TEST(Ipv6Format, Rfc5952) {
  // Longest run compressed; leftmost on a tie; a single zero group never compressed.
  EXPECT_EQ(canon_address("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
  EXPECT_EQ(canon_address("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");
  EXPECT_EQ(canon_address("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(canon_address("0:0:1:0:0:1:0:0"), "::1:0:0:1:0:0");
  EXPECT_EQ(canon_address("1:0:0:0:0:0:0:0"), "1::");
  EXPECT_EQ(canon_address("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(canon_address("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789"), "abcd:ef01:2345:6789:abcd:ef01:2345:6789");
  // IPv4-mapped: mixed form (RFC 5952 section 5).
  EXPECT_EQ(canon_address("::ffff:a00:1"), "::ffff:10.0.0.1");
  EXPECT_EQ(canon_address("0:0:0:0:0:ffff:0:0"), "::ffff:0.0.0.0");
  EXPECT_EQ(canon_address("0:0:0:0:1:ffff:0:0"), "::1:ffff:0:0");
  const auto longest = Ipv6Address(~u128{0}).format();
  EXPECT_EQ(longest.view(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

TEST(PrefixParse, ValidAndCanonical) {
  EXPECT_EQ(canon_prefix("10.45.0.0/16"), "10.45.0.0/16");
  EXPECT_EQ(canon_prefix("0.0.0.0/0"), "0.0.0.0/0");
  EXPECT_EQ(canon_prefix("10.0.0.1"), "10.0.0.1/32");
  EXPECT_EQ(canon_prefix("2001:DB8:CAFE::/48"), "2001:db8:cafe::/48");
  EXPECT_EQ(canon_prefix("::/0"), "::/0");
  EXPECT_EQ(canon_prefix("::1/128"), "::1/128");
}

TEST(PrefixParse, Errors) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"10.0.0.1/8", "host bits set in prefix"},
      {"2001:db8::1/64", "host bits set in prefix"},
      {"10.0.0.0/33", "prefix length out of range"},
      {"::/129", "prefix length out of range"},
      {"::/1000", "prefix length out of range"},
      {"10.0.0.0/", "missing prefix length after '/'"},
      {"10.0.0.0/08", "leading zero in prefix length"},
      {"10.0.0.0/8/8", "more than one '/' in prefix"},
      {"10.0.0.0/+8", "bad character in prefix length"},
      {"10.0.0.0/255.0.0.0", "bad character in prefix length"},
      {"/8", "empty IPv4 address"},
  };
  for (const Case& c : cases) {
    auto r = Prefix::parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_STREQ(r.status().reason(), c.reason) << c.text;
  }
  EXPECT_EQ(Prefix::parse("10.0.0.1/8").status().to_string(), "host bits set in prefix (length: 8) at offset 9");
}

TEST(PrefixOps, Contains) {
  const Prefix pool = P("10.45.0.0/16");
  EXPECT_TRUE(pool.contains(IpAddress::parse("10.45.255.255").value()));
  EXPECT_FALSE(pool.contains(IpAddress::parse("10.46.0.0").value()));
  EXPECT_FALSE(pool.contains(IpAddress::parse("::a2d:0").value()));  // other family, same bits
  EXPECT_TRUE(pool.contains(P("10.45.3.0/24")));
  EXPECT_TRUE(pool.contains(pool));
  EXPECT_FALSE(pool.contains(P("10.0.0.0/8")));
  EXPECT_TRUE(P("::/0").contains(P("2001:db8::/32")));
  EXPECT_FALSE(P("0.0.0.0/0").contains(P("::/0")));
}

TEST(PrefixOps, NthAndIndex) {
  EXPECT_EQ(P("2001:db8::/32").nth(64, 5).value().to_string(), "2001:db8:0:5::/64");
  EXPECT_EQ(P("10.0.0.0/8").nth(32, 257).value().to_string(), "10.0.1.1/32");
  EXPECT_EQ(P("10.0.0.0/8").nth(32, 0).value().to_string(), "10.0.0.0/32");
  EXPECT_EQ(P("10.0.0.0/8").nth(32, (1u << 24) - 1).value().to_string(), "10.255.255.255/32");
  EXPECT_EQ(P("10.0.0.0/8").nth(32, 1u << 24).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(P("10.0.0.0/8").nth(7, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(P("10.0.0.0/8").nth(33, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(P("10.0.0.0/8").nth(8, 0).value(), P("10.0.0.0/8"));
  EXPECT_EQ(P("10.0.0.0/8").nth(8, 1).status().code(), StatusCode::kOutOfRange);

  EXPECT_EQ(P("2001:db8::/32").index_of(64, P("2001:db8:0:5::/64")).value(), 5u);
  EXPECT_EQ(P("2001:db8::/32").index_of(64, P("2001:db8:ffff:ffff::/64")).value(), 0xffffffffu);
  EXPECT_EQ(P("2001:db8::/32").index_of(64, P("2001:db9::/64")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(P("2001:db8::/32").index_of(64, P("2001:db8::/56")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(P("2001:db8::/32").index_of(64, P("10.0.0.0/32")).status().code(), StatusCode::kInvalidArgument);
}

TEST(PrefixOps, MoreThan2To64Units) {
  // ::/0 cut into /128s has 2^128 units: every index below 2^64 works, a larger one is an error.
  const Prefix all = P("::/0");
  EXPECT_EQ(all.unit_count(128).value(), UINT64_MAX);
  EXPECT_EQ(all.unit_bits(128).value(), 128);
  EXPECT_EQ(all.nth(128, UINT64_MAX).value().to_string(), "::ffff:ffff:ffff:ffff/128");
  EXPECT_EQ(all.index_of(128, P("::ffff:ffff:ffff:ffff/128")).value(), UINT64_MAX);
  auto big = all.index_of(128, P("::1:0:0:0:0/128"));
  EXPECT_EQ(big.status().code(), StatusCode::kOutOfRange);
  EXPECT_STREQ(big.status().reason(), "unit index does not fit in 64 bits");
  // A /0 unit of a /0 pool: one unit, index 0 (shift by 128 must not be UB).
  EXPECT_EQ(all.nth(0, 0).value(), all);
  EXPECT_EQ(all.index_of(0, all).value(), 0u);
}

TEST(PrefixOps, OrderAndHash) {
  EXPECT_LT(P("10.0.0.0/8"), P("::/0"));  // IPv4 orders first
  EXPECT_LT(P("10.0.0.0/8"), P("10.0.0.0/9"));
  EXPECT_EQ(std::hash<Prefix>()(P("10.0.0.0/8")), std::hash<Prefix>()(P("10.0.0.0/8")));
  EXPECT_NE(std::hash<Prefix>()(P("10.0.0.0/8")), std::hash<Prefix>()(P("10.0.0.0/9")));
}

}  // namespace
}  // namespace uepool::net
