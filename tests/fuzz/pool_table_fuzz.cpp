// Fuzz target: PoolTable lookup against a linear scan.
//
// The input describes up to 64 IPv4 and IPv6 pools (address bytes, prefix
// length, unit length) and then probe addresses. Pools that overlap one
// already added must be refused; every probe's lookup must agree with a
// linear scan over the accepted pools (pool and unit index), including
// addresses at the edges of the address space.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "uepool/core/pool_table.hpp"

namespace {

using namespace uepool;

void check(bool condition) {
  if (!condition) std::abort();
}

struct Reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos = 0;
  bool more() const { return pos < size; }
  std::uint8_t byte() { return pos < size ? data[pos++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
};

net::u128 mask_of(int width, int length) {
  return ~net::host_mask(width, length) & net::host_mask(width, 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in{data, size};
  core::PoolTable table;
  std::vector<const core::Pool*> accepted;
  const int pools = in.byte() % 64;
  for (int i = 0; i < pools && in.more(); ++i) {
    const std::uint8_t kind = in.byte();
    const bool v6 = (kind & 1) != 0;
    const int width = v6 ? 128 : 32;
    net::u128 bits = in.u32();
    if (v6) bits = (bits << 96) | (static_cast<net::u128>(in.u32()) << 64);
    const int length = in.byte() % (width + 1);
    const int unit = length + in.byte() % (width - length + 1);
    bits &= mask_of(width, length);
    core::PoolConfig c;
    c.name = "p" + std::to_string(i);
    c.prefix =
        net::Prefix::make(net::IpAddress::from_bits(v6 ? net::Family::kV6 : net::Family::kV4, bits), length).value();
    c.unit_length = unit;
    bool overlaps = false;
    for (const auto* p : accepted) overlaps |= p->prefix().contains(c.prefix) || c.prefix.contains(p->prefix());
    const Status s = table.add(c);
    const bool too_big = unit - length > 32;
    check(s.ok() == (!overlaps && !too_big));
    if (s.ok()) accepted.push_back(table.find(c.name));
  }
  while (in.more()) {
    const std::uint8_t kind = in.byte();
    const bool v6 = (kind & 1) != 0;
    net::u128 bits = in.u32();
    if (v6) bits = (bits << 96) | (static_cast<net::u128>(in.u32()) << 64) | in.byte();
    if ((kind & 2) != 0) bits = v6 ? ~net::u128{0} : 0xffffffffu;  // the top of the address space
    const auto address = net::IpAddress::from_bits(v6 ? net::Family::kV6 : net::Family::kV4, bits);
    const core::Pool* want = nullptr;
    for (const auto* p : accepted) {
      if (p->prefix().contains(address)) want = p;
    }
    const auto m = table.lookup(address);
    check(m.has_value() == (want != nullptr));
    if (m) {
      check(m->pool == want);
      const int shift = net::max_length(address.family()) - want->unit_length();
      const net::u128 offset = bits - want->prefix().address().bits();
      check(m->unit == static_cast<std::uint64_t>(shift >= 128 ? 0 : offset >> shift));
    }
  }
  return 0;
}
