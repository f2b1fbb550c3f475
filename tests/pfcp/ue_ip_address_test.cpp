// The PFCP UE IP Address IE: what an allocation becomes, its exact bytes,
// round trips, bad input refused with its reason, and Wireshark's own
// dissector (tshark) reading every field of captured Session Establishment
// Requests as written.
#include "uepool/pfcp/ue_ip_address.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "uepool/core/pool.hpp"

namespace uepool::pfcp {
namespace {

net::Prefix prefix(const char* text) {
  return net::Prefix::parse(text).value();
}

TEST(UeIpAddress, AnAllocationBecomesItsFlagsAndFields) {
  // An IPv4 /32, uplink (the UE is the source).
  auto v4 = UeIpAddress::for_allocation(prefix("10.45.0.1/32"), false);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(encode(v4.value()), (std::vector<std::uint8_t>{0, 93, 0, 5, 0x02, 10, 45, 0, 1}));
  // An IPv6 /64, downlink (the UE is the destination): V6 and S/D.
  auto v6 = UeIpAddress::for_allocation(prefix("2001:db8:0:5::/64"), true);
  ASSERT_TRUE(v6.ok());
  const std::vector<std::uint8_t> b6 = encode(v6.value());
  ASSERT_EQ(b6.size(), 4u + 1 + 16);
  EXPECT_EQ(b6[4], 0x01 | 0x04);
  EXPECT_EQ(b6[5], 0x20);
  EXPECT_EQ(b6[6], 0x01);
  EXPECT_EQ(b6[12], 0x05);  // 2001:0db8:0000:0005::
  EXPECT_FALSE(v6.value().delegation_bits.has_value());
  // A /56 delegation: IPv6D, 8 bits beyond the default /64.
  auto d = UeIpAddress::for_allocation(prefix("2001:db8:100:ab00::/56"), false);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().delegation_bits, 8);
  const std::vector<std::uint8_t> bd = encode(d.value());
  EXPECT_EQ(bd[4], 0x01 | 0x08);
  EXPECT_EQ(bd.back(), 8);
  EXPECT_EQ(d.value().ipv6_prefix(), prefix("2001:db8:100:ab00::/56"));
  // A prefix longer than /64: IP6PL with its length.
  auto l = UeIpAddress::for_allocation(prefix("2001:db8::1:0/112"), false);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(encode(l.value())[4], 0x01 | 0x40);
  EXPECT_EQ(l.value().ipv6_prefix(), prefix("2001:db8::1:0/112"));
  // Dual stack: both in one IE.
  UeIpAddress dual = v4.value();
  ASSERT_TRUE(dual.add(prefix("2001:db8:0:7::/64")).ok());
  EXPECT_EQ(encode(dual)[4], 0x01 | 0x02);
  EXPECT_EQ(encode(dual).size(), 4u + 1 + 4 + 16);
  // What cannot be one.
  EXPECT_EQ(UeIpAddress::for_allocation(prefix("10.45.0.0/24"), false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(dual.add(prefix("10.45.0.9/32")).ok());
  EXPECT_FALSE(dual.add(prefix("2001:db8:0:8::/64")).ok());
}

TEST(UeIpAddress, EveryFormRoundTrips) {
  std::vector<UeIpAddress> forms;
  for (const char* p : {"10.45.0.1/32", "2001:db8:0:5::/64", "2001:db8:100:ab00::/56", "2001:db8::1:0/112",
                        "2001:db8::/48", "0.0.0.0/32", "ffff:ffff:ffff:ffff::/64"})
    for (const bool sd : {false, true}) forms.push_back(UeIpAddress::for_allocation(prefix(p), sd).value());
  UeIpAddress choose;
  choose.choose_v4 = choose.choose_v6 = true;  // the UPF chooses (no address)
  forms.push_back(choose);
  UeIpAddress both = forms[0];
  ASSERT_TRUE(both.add(prefix("2001:db8:100:ab00::/56")).ok());
  forms.push_back(both);
  for (const UeIpAddress& f : forms) {
    const std::vector<std::uint8_t> b = encode(f);
    auto back = decode(b);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back.value(), f);
    EXPECT_EQ(encode(back.value()), b);
  }
}

std::string reason_of(const std::vector<std::uint8_t>& b) {
  auto r = decode(b);
  return r.ok() ? "accepted" : r.status().reason();
}

TEST(UeIpAddress, BadInputIsRefusedWithItsReason) {
  const std::vector<std::uint8_t> v4 = encode(UeIpAddress::for_allocation(prefix("10.45.0.1/32"), false).value());
  const std::vector<std::uint8_t> v6 =
      encode(UeIpAddress::for_allocation(prefix("2001:db8:100:ab00::/56"), false).value());
  EXPECT_EQ(reason_of({0, 93}), "UE IP Address IE shorter than its header");
  std::vector<std::uint8_t> b = v4;
  b[1] = 94;
  EXPECT_EQ(reason_of(b), "not a UE IP Address IE (type 93)");
  b = v4;
  b[3] = 6;
  EXPECT_EQ(reason_of(b), "UE IP Address IE length beyond the bytes");
  EXPECT_EQ(reason_of({0, 93, 0, 0}), "UE IP Address IE without its flags octet");
  b = v4;
  b[4] |= 0x10;
  EXPECT_EQ(reason_of(b), "V4 and CHV4 both set");
  b = v6;
  b[4] |= 0x20;
  EXPECT_EQ(reason_of(b), "V6 and CHV6 both set");
  EXPECT_EQ(reason_of({0, 93, 0, 3, 0x02, 10, 45}), "UE IP Address IE truncated in its IPv4 address");
  b = v6;
  b.resize(4 + 1 + 10);
  b[3] = 11;
  EXPECT_EQ(reason_of(b), "UE IP Address IE truncated in its IPv6 address");
  b = v6;
  b.pop_back();
  b[3] = static_cast<std::uint8_t>(b.size() - 4);
  EXPECT_EQ(reason_of(b), "UE IP Address IE truncated in its IPv6 prefix delegation bits");
  b = v6;
  b.back() = 65;
  EXPECT_EQ(reason_of(b), "IPv6 prefix delegation bits above 64");
  b = encode(UeIpAddress::for_allocation(prefix("2001:db8::1:0/112"), false).value());
  b.back() = 129;
  EXPECT_EQ(reason_of(b), "IPv6 prefix length above 128");
  // The IE is extendable: octets after its fields are ignored.
  b = v4;
  b.push_back(0xAA);
  b[3] = static_cast<std::uint8_t>(b.size() - 4);
  EXPECT_EQ(reason_of(b), "accepted");
}

// ---- a capture of Session Establishment Requests, read back by tshark ----

void be(std::vector<std::uint8_t>& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::vector<std::uint8_t> ie(std::uint16_t type, const std::vector<std::uint8_t>& value) {
  std::vector<std::uint8_t> out;
  be(out, type, 2);
  be(out, value.size(), 2);
  out.insert(out.end(), value.begin(), value.end());
  return out;
}
std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// session_establishment — a PFCP Session Establishment Request (TS 29.244
// §7.5.2): Node ID, CP F-SEID, and a Create PDR whose PDI carries `ue`.
std::vector<std::uint8_t> session_establishment(std::uint32_t seq, std::uint64_t seid, const UeIpAddress& ue) {
  std::vector<std::uint8_t> node_id = {0, 10, 0, 0, 1};  // IPv4 10.0.0.1
  std::vector<std::uint8_t> fseid = {0x02};              // V4
  be(fseid, seid, 8);
  be(fseid, 0x0A000001, 4);
  std::vector<std::uint8_t> pdr_id, precedence, source = {ue.destination ? std::uint8_t{1} : std::uint8_t{0}};
  be(pdr_id, 1, 2);
  be(precedence, 100, 4);
  const std::vector<std::uint8_t> pdi = ie(2, cat({ie(20, source), encode(ue)}));
  const std::vector<std::uint8_t> body =
      cat({ie(60, node_id), ie(57, fseid), ie(1, cat({ie(56, pdr_id), ie(29, precedence), pdi}))});
  std::vector<std::uint8_t> msg = {0x21, 50};  // version 1, S (a SEID follows); Session Establishment Request
  be(msg, 8 + 4 + body.size(), 2);             // after the first 4 octets
  be(msg, 0, 8);                               // SEID 0: the UPF has none for it yet
  be(msg, seq, 3);
  msg.push_back(0);
  return cat({msg, body});
}

// write_pcap — each message in an Ethernet/IPv4/UDP frame from the SMF to
// the UPF's port 8805 (libpcap format, microsecond timestamps).
void write_pcap(const std::string& path, const std::vector<std::vector<std::uint8_t>>& messages) {
  std::vector<std::uint8_t> out;
  auto le = [&](std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  le(0xa1b2c3d4, 4);
  le(2, 2);
  le(4, 2);
  le(0, 4);
  le(0, 4);
  le(65535, 4);
  le(1, 4);  // Ethernet
  std::uint32_t t = 0;
  for (const auto& m : messages) {
    std::vector<std::uint8_t> udp;
    be(udp, 8805, 2);
    be(udp, 8805, 2);
    be(udp, 8 + m.size(), 2);
    be(udp, 0, 2);  // no checksum (allowed over IPv4)
    udp.insert(udp.end(), m.begin(), m.end());
    std::vector<std::uint8_t> ip = {0x45, 0};
    be(ip, 20 + udp.size(), 2);
    be(ip, 0, 4);
    ip.push_back(64);
    ip.push_back(17);
    be(ip, 0, 2);  // header checksum, filled below
    be(ip, 0x0A000001, 4);
    be(ip, 0x0A000002, 4);
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < 20; i += 2) sum += static_cast<std::uint32_t>(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = static_cast<std::uint8_t>(~sum >> 8);
    ip[11] = static_cast<std::uint8_t>(~sum);
    std::vector<std::uint8_t> eth = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
    const std::vector<std::uint8_t> frame = cat({eth, ip, udp});
    le(++t, 4);
    le(0, 4);
    le(frame.size(), 4);
    le(frame.size(), 4);
    out.insert(out.end(), frame.begin(), frame.end());
  }
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
}

std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

TEST(PfcpCapture, TsharkReadsEveryFieldAsWritten) {
  if (run("command -v tshark").empty()) GTEST_SKIP() << "tshark (Debian's tshark package) is not installed";
  // Units allocated from three pools: IPv4 addresses, IPv6 /64s, /56 delegations.
  auto make_pool = [](const char* name, const char* p, int unit_length) {
    core::PoolConfig c;
    c.name = name;
    c.prefix = prefix(p);
    c.unit_length = unit_length;
    return core::Pool::create(c).value();
  };
  auto v4 = make_pool("v4", "10.45.0.0/16", 32);
  auto v6 = make_pool("v6", "2001:db8::/48", 64);
  auto pd = make_pool("pd", "2001:db8:100::/40", 56);
  core::Pool::Worker w4(*v4), w6(*v6), wd(*pd);
  std::vector<UeIpAddress> ues;
  std::vector<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    const bool down = i % 2 == 1;
    UeIpAddress ue;
    ue.destination = down;
    std::string a4, a6, delegation = "", length = "";
    if (i % 3 != 2) {  // IPv4 (alone or dual-stack)
      const core::PoolAllocation u = v4->allocate(w4);
      ASSERT_TRUE(u.ok());
      ASSERT_TRUE(ue.add(u.prefix).ok());
      a4 = ue.v4->format().str();
    }
    if (i % 3 != 0) {  // an IPv6 /64, or every fourth a /56 delegation
      const bool deleg = i % 4 == 3;
      core::Pool& pool = deleg ? *pd : *v6;
      const core::PoolAllocation u = pool.allocate(deleg ? wd : w6);
      ASSERT_TRUE(u.ok());
      ASSERT_TRUE(ue.add(u.prefix).ok());
      a6 = ue.v6->format().str();
      if (deleg) delegation = "8";
    }
    ues.push_back(ue);
    expected.push_back(std::to_string(i + 1) + ";" + a4 + ";" + a6 + ";" + (down ? "1" : "0") + ";" +
                       (delegation.empty() ? "0" : "1") + ";" + delegation);
  }
  std::vector<std::vector<std::uint8_t>> messages;
  for (std::size_t i = 0; i < ues.size(); ++i)
    messages.push_back(session_establishment(static_cast<std::uint32_t>(i + 1), 0x1000 + i, ues[i]));
  const std::string path =
      (std::filesystem::temp_directory_path() / ("uepool-pfcp-" + std::to_string(::getpid()) + ".pcap")).string();
  write_pcap(path, messages);
  const std::string out =
      run("tshark -r " + path +
          " -T fields -E separator=';' -e pfcp.seqno -e pfcp.ue_ip_addr_ipv4 -e pfcp.ue_ip_addr_ipv6"
          " -e pfcp.ue_ip_address_flag.sd -e pfcp.ue_ip_address_flag.v6d -e pfcp.ue_ip_addr_ipv6_prefix 2>&1");
  std::filesystem::remove(path);
  std::stringstream lines(out);
  std::string line;
  std::vector<std::string> got;
  while (std::getline(lines, line))
    if (!line.empty() && line.find("Running as user") == std::string::npos) got.push_back(line);
  ASSERT_EQ(got.size(), expected.size()) << out;
  for (std::size_t i = 0; i < got.size(); ++i) {
    // tshark prints booleans as 1/0 and leaves absent fields empty; an
    // absent IPv6D flag is 0 (the flag is read whenever the IE is).
    EXPECT_EQ(got[i], expected[i]) << "message " << i + 1;
  }
}

}  // namespace
}  // namespace uepool::pfcp
