// `uepool example` — a walk through what exists so far, on built-in pools:
// the net layer's unit arithmetic, then the allocator (pools, workers,
// static claims, hold-down, the pool table's lookup) and its clear errors.
#include "example_command.hpp"

#include <fmt/core.h>

#include <string>

#include "uepool/core/pool_table.hpp"
#include "uepool/net/prefix.hpp"

namespace uepool::tools {
namespace {

net::Prefix prefix(const char* text) {
  return net::Prefix::parse(text).value();
}

int run_example() {
  fmt::print("uepool example — the pools of one SMF and what the allocator does with them\n\n");

  core::PoolConfig v4;
  v4.name = "internet-v4";
  v4.prefix = prefix("10.45.0.0/16");
  v4.unit_length = 32;
  v4.excluded = {prefix("10.45.0.0/32"), prefix("10.45.0.1/32"), prefix("10.45.255.255/32")};
  v4.static_ranges = {prefix("10.45.255.0/25")};
  v4.hold_down = 30;  // seconds, in this example's clock
  v4.selector = {"internet", "1-000001", ""};
  core::PoolConfig v6;
  v6.name = "internet-v6";
  v6.prefix = prefix("2001:db8::/32");
  v6.unit_length = 64;
  v6.selector = {"internet", "1-000001", ""};

  core::PoolTable table;
  const core::PoolConfig configs[] = {v4, v6};
  if (Status s = table.add_all(configs); !s.ok()) {
    fmt::print(stderr, "uepool: error: {}: {}\n", s.to_string(), table.last_error_detail());
    return 2;
  }
  for (const auto& c : configs) {
    const core::Pool* p = table.find(c.name);
    fmt::print("pool {:<12} {:<16} /{} units: {:>10} units, {} excluded, {} static\n", c.name,
               p->prefix().format().view(), c.unit_length, p->size(), c.excluded.size(), c.static_ranges.size());
  }

  core::Pool& pool4 = *table.select({"internet", "1-000001", ""}, net::Family::kV4);
  core::Pool& pool6 = *table.select({"internet", "1-000001", ""}, net::Family::kV6);
  core::Pool::Worker w4a(pool4);  // one worker handle per SMF worker thread
  core::Pool::Worker w4b(pool4);
  core::Pool::Worker w6(pool6);

  fmt::print("\ntwo workers allocate (each in its own region, next-fit):\n");
  std::uint64_t now = 0;
  for (int i = 0; i < 3; ++i) {
    const auto a = pool4.allocate(w4a, now);
    const auto b = pool4.allocate(w4b, now);
    const auto c = pool6.allocate(w6, now);
    fmt::print("  worker A {:<16} worker B {:<16} IPv6 {}\n", a.prefix.format().view(), b.prefix.format().view(),
               c.prefix.format().view());
  }
  fmt::print("in use: {} IPv4, {} IPv6\n", pool4.count(), pool6.count());

  fmt::print("\na static address from UDM, claimed twice:\n");
  const auto static_ip = prefix("10.45.255.7/32");
  fmt::print("  claim {} -> {}\n", static_ip.format().view(), core::unit_status_name(pool4.claim(w4a, static_ip)));
  fmt::print("  claim {} -> {}\n", static_ip.format().view(), core::unit_status_name(pool4.claim(w4b, static_ip)));
  fmt::print("  claim 10.45.0.1/32 (the gateway) -> {}\n",
             core::unit_status_name(pool4.claim(w4a, prefix("10.45.0.1/32"))));

  fmt::print("\nhold-down: a released address waits {} s before it is handed out again\n", v4.hold_down);
  core::PoolConfig tiny = v4;
  tiny.name = "tiny";
  tiny.prefix = prefix("10.99.0.0/30");
  tiny.excluded.clear();
  tiny.static_ranges.clear();
  auto tiny_pool = core::Pool::create(tiny);
  if (!tiny_pool.ok()) return 2;
  core::Pool& t = *tiny_pool.value();
  core::Pool::Worker tw(t);
  net::Prefix first;
  for (int i = 0; i < 4; ++i) {
    const auto a = t.allocate(tw, now);
    if (i == 0) first = a.prefix;
  }
  fmt::print("  t=0   pool {} full; release {} -> {}\n", t.prefix().format().view(), first.format().view(),
             core::unit_status_name(t.release(tw, first, now)));
  fmt::print("  t=0   release it again -> {}\n", core::unit_status_name(t.release(tw, first, now)));
  for (const std::uint64_t at : {10, 29, 30}) {
    const auto a = t.allocate(tw, at);
    fmt::print("  t={:<3} allocate -> {}\n", at, a.ok() ? std::string(a.prefix.format().view()) : "none free");
  }

  fmt::print("\nlookup: which pool and unit an address belongs to\n");
  for (const char* text : {"10.45.3.7", "2001:db8:0:2a::1", "192.0.2.1"}) {
    const auto m = table.lookup(net::IpAddress::parse(text).value());
    if (m) {
      fmt::print("  {:<18} -> pool {}, unit {} ({})\n", text, m->pool->name(), m->unit,
                 m->pool->prefix_of(m->unit).format().view());
    } else {
      fmt::print("  {:<18} -> no pool\n", text);
    }
  }

  fmt::print("\nmalformed input gets a clear error\n");
  for (const char* bad : {"10.45.0.1/16", "010.0.0.1", "2001:db8::1::2", "fe80::1%eth0", "10.0.0.0/33"}) {
    fmt::print("  {:<16} -> {}\n", bad, net::Prefix::parse(bad).status().to_string());
  }
  core::PoolConfig overlap = v4;
  overlap.name = "overlap";
  overlap.prefix = prefix("10.45.128.0/17");
  overlap.excluded.clear();
  overlap.static_ranges.clear();
  overlap.selector = {};
  const Status s = table.add(overlap);
  fmt::print("  add pool 10.45.128.0/17 -> {}: {}\n", s.to_string(), table.last_error_detail());
  return 0;
}

}  // namespace

void add_example_command(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand("example", "A walk through the engine on built-in pools");
  sub->callback([&exit_code] { exit_code = run_example(); });
}

}  // namespace uepool::tools
