// `uepool example` — a walk through what exists so far, on built-in pools.
#include "example_command.hpp"

#include <fmt/core.h>

#include "uepool/net/prefix.hpp"

namespace uepool::tools {
namespace {

int run_example() {
  struct PoolSpec {
    const char* prefix;
    int unit_length;
  };
  const PoolSpec pools[] = {{"10.45.0.0/16", 32}, {"2001:db8:cafe::/48", 64}, {"2001:db8::/32", 64}};
  fmt::print("uepool example: the pools of a small SMF set and their units\n\n");
  for (const PoolSpec& spec : pools) {
    auto pool = net::Prefix::parse(spec.prefix);
    if (!pool.ok()) {
      fmt::print(stderr, "uepool: error: {}: {}\n", spec.prefix, pool.status().to_string());
      return 2;
    }
    const auto& p = pool.value();
    const int bits = p.unit_bits(spec.unit_length).value();
    fmt::print("pool {} cut into /{} units: 2^{} units\n", p.format().view(), spec.unit_length, bits);
    const std::uint64_t last = bits >= 64 ? UINT64_MAX : (std::uint64_t{1} << bits) - 1;
    for (const std::uint64_t i : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{257}, last}) {
      const auto unit = p.nth(spec.unit_length, i).value();
      fmt::print("  unit {:>10} = {}\n", i, unit.format().view());
    }
  }
  fmt::print("\nmalformed input gets a clear error:\n");
  for (const char* bad : {"10.45.0.1/16", "010.0.0.1", "2001:db8::1::2", "fe80::1%eth0", "10.0.0.0/33"}) {
    fmt::print("  {:<16} -> {}\n", bad, net::Prefix::parse(bad).status().to_string());
  }
  return 0;
}

}  // namespace

void add_example_command(CLI::App& app, int& exit_code) {
  auto* sub = app.add_subcommand("example", "A walk through the engine on built-in pools");
  sub->callback([&exit_code] { exit_code = run_example(); });
}

}  // namespace uepool::tools
