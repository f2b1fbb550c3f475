// Fuzz target (stateful): decoded frames fed into a live member.
//
// Three members run in a LoopbackSet (one pool of 1,024 units with a static
// range), acknowledge each other's windows and hand out units. The input is
// a script of steps; each step is one byte of operation and, for a frame, a
// 16-bit length and that many bytes:
//   0: a frame — its length and checksum are fixed (so that mutations reach
//      the body), it is decoded, addressed to member 1 and given to it
//      (a hostile or corrupt peer: any sender, incarnation, kind, record);
//   1: one pump (every member ticks; frames between them are delivered);
//   2: member 1 allocates; 3: member 1 releases a lease it handed out;
//   4: member 1 claims a static unit;
//   5: member 2 or 3 ticks, and its frames to member 1 go through the codec
//      with one byte changed (then resealed) — a realistic frame, corrupted.
//
// Properties (beyond no crash, no leak, no undefined behaviour under ASan
// and UBSan; the library must never abort on input):
//   * member 1 stays consistent enough to report: view() and the counters
//     are readable after every step;
//   * a unit member 1 hands out is in use in its own bitmap at once, and is
//     never handed out while a lease of it that this script holds is
//     outstanding — unless a frame released it, which only a Release
//     naming that exact lease can do (a peer is trusted with the leases it
//     holds; authentication is the transport's job, CurveZMQ in issue 13).
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "uepool/testing/loopback_set.hpp"
#include "uepool/wire/codec.hpp"
#include "uepool/wire/crc32c.hpp"

namespace {

using namespace uepool;

void check(bool condition) {
  if (!condition) std::abort();
}

std::shared_ptr<const set::Plan> plan() {
  static const auto p = [] {
    std::vector<set::MemberSpec> specs = {{1, 1}, {2, 1}, {3, 1}};
    std::vector<set::PoolSpec> pools = {{"v4", 1024, 64}};
    return std::make_shared<const set::Plan>(set::Plan::create(1, specs, pools).value());
  }();
  return p;
}

core::PoolConfig pool() {
  core::PoolConfig c;
  c.name = "v4";
  c.prefix = net::Prefix::parse("10.1.0.0/22").value();
  c.unit_length = 32;
  c.static_ranges = {net::Prefix::parse("10.1.3.240/28").value()};  // units 1008..1023
  return c;
}

// reseal — fix a frame's length field and checksum.
void reseal(std::vector<std::uint8_t>& b) {
  if (b.size() < wire::kHeaderBytes + wire::kChecksumBytes) return;
  const auto n = static_cast<std::uint32_t>(b.size());
  for (int i = 0; i < 4; ++i) b[4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  const std::uint32_t c = wire::crc32c(std::span<const std::uint8_t>(b).first(b.size() - wire::kChecksumBytes));
  for (int i = 0; i < 4; ++i)
    b[b.size() - wire::kChecksumBytes + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(c >> (8 * i));
}

// may_end — a release that may end lease `a` (what the member checks of a
// dynamic unit's release is a subset of these fields; the tracker forgets a
// lease such a release names, so the check below never blames a legitimate
// release, only a unit handed out twice without one).
bool may_end(const set::Lease& a, const set::record::Release& r) {
  return a.pool == r.pool && a.unit == r.unit && a.serial == r.serial && a.nonce == r.nonce;
}

void forget_released(const set::Frame& frame, std::map<std::uint64_t, set::Lease>& held) {
  const set::frame::Data* d = frame.data();
  if (d == nullptr) return;
  for (const set::Record& r : d->records) {
    if (const auto* rel = std::get_if<set::record::Release>(&r)) {
      auto it = held.find(rel->unit);
      if (it != held.end() && may_end(it->second, *rel)) held.erase(it);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto created = testing::LoopbackSet::create({plan(), {pool()}, {}, 1});
  check(created.ok());
  testing::LoopbackSet& net = *created.value();
  std::uint64_t now = 1;
  for (; now < 60; ++now) net.pump(now);  // windows acknowledged
  set::Member* m = net.member(1);
  set::Member::Worker* w = net.worker(1);
  check(m != nullptr && w != nullptr);

  std::map<std::uint64_t, set::Lease> held;  // unit -> the lease this script holds
  std::size_t i = 0;
  while (i < size) {
    const std::uint8_t op = data[i++] % 6;
    if (op == 0) {
      if (size - i < 2) break;
      const std::size_t n = std::min<std::size_t>(data[i] | (std::size_t{data[i + 1]} << 8), size - i - 2);
      i += 2;
      std::vector<std::uint8_t> bytes(data + i, data + i + n);
      i += n;
      reseal(bytes);
      auto f = wire::decode(bytes);
      if (!f.ok()) continue;
      set::Frame frame = std::move(f.value());
      frame.to = 1;
      forget_released(frame, held);
      m->on_frame(frame, now);
    } else if (op == 1) {
      net.pump(++now);
    } else if (op == 2) {
      const set::MemberAllocation a = m->allocate(*w, 0);
      if (a.ok()) {
        check(m->in_use(0, a.lease.unit));
        check(held.count(a.lease.unit) == 0);  // never handed out twice
        held[a.lease.unit] = a.lease;
      }
    } else if (op == 3) {
      if (!held.empty()) {
        auto it = held.begin();
        m->release(*w, it->second);
        held.erase(it);
      }
    } else if (op == 5) {
      if (size - i < 4) break;
      set::Member* peer = net.member(2 + data[i] % 2);
      const std::size_t pos = data[i + 1] | (std::size_t{data[i + 2]} << 8);
      const std::uint8_t flip = data[i + 3];
      i += 4;
      peer->on_tick(now);
      for (const set::Frame& f : peer->take_outgoing()) {
        if (f.to != 1) continue;  // lost on the way
        auto e = wire::encode(f);
        if (!e.ok()) continue;
        std::vector<std::uint8_t> b = std::move(e.value());
        b[pos % b.size()] ^= flip;
        reseal(b);
        auto d = wire::decode(b);
        if (!d.ok()) continue;
        forget_released(d.value(), held);
        m->on_frame(d.value(), now);
      }
    } else {
      set::Lease lease;
      const std::uint64_t unit = 1008 + (i < size ? data[i++] % 16 : 0);
      if (m->claim(*w, 0, unit, &lease) == set::MemberStatus::kOk) (void)lease;
    }
    const set::MemberView v = m->view();
    check(v.pools.size() == 1);
  }
  return 0;
}
