// SimParams — every setting of a simulated run, derived from its seed. See
// uepool/sim/simulator.hpp.
#include <cstdio>

#include "uepool/sim/simulator.hpp"

namespace uepool::sim {

SimParams SimParams::derive(std::uint64_t seed, Mode mode, std::uint64_t steps) {
  Rng r(seed ^ 0x5eed5eed5eed5eedULL);
  SimParams p;
  p.seed = seed;
  p.mode = mode;
  p.steps = steps;
  p.members = static_cast<std::uint32_t>(r.between(2, 7));
  const std::uint64_t pools = r.between(1, 4);
  std::uint64_t min_block = UINT64_MAX;
  for (std::uint64_t i = 0; i < pools; ++i) {
    SimPool sp;
    sp.ipv6 = i == 1 || (i > 1 && r.chance(500'000));
    sp.bits = static_cast<unsigned>(r.between(8, 14));
    sp.block_units = std::uint64_t{1} << r.between(6, std::min<std::uint64_t>(10, sp.bits - 2));
    min_block = std::min(min_block, sp.block_units);
    p.pools.push_back(sp);
  }
  p.window_units = std::uint64_t{1} << r.between(6, 63 - static_cast<unsigned>(__builtin_clzll(min_block)));
  p.lease = r.between(200, 5'000);
  p.hold_down = r.chance(300'000) ? 0 : r.between(10, 3'000);
  p.windows_ahead = static_cast<std::uint32_t>(r.between(1, 3));
  const std::uint64_t cap = r.below(4);
  p.channel_capacity = cap == 0 ? 8 : cap == 1 ? 64 : 4096;  // small buffers: back-pressure and re-seeds
  p.delay_max = r.between(1, 20);
  p.retransmit = 2 * p.delay_max + r.between(5, 40);
  p.loss_ppm = r.chance(250'000) ? 0 : r.below(200'000);
  p.dup_ppm = r.chance(250'000) ? 0 : r.below(100'000);
  p.partition_ppm = r.chance(300'000) ? 0 : r.below(2'000);
  p.partition_len = r.between(10, 2'000);
  p.crash_ppm = r.chance(200'000) ? 0 : r.below(400);
  p.zombie_ppm = r.chance(600'000) ? 0 : r.below(300);
  p.restart_max = r.between(1, 2'000);
  p.takeover_max = r.between(1, 4'000);
  p.create_ppm = r.between(50'000, 600'000);
  p.end_ppm = r.between(50'000, p.create_ppm);
  p.move_ppm = r.below(200'000);
  // Member settings a deployment can set, drawn like the rest (drawn last,
  // so the draws above keep their values).
  p.heartbeat = r.between(1, p.retransmit);
  p.stream_interval = r.chance(400'000) ? 0 : r.between(1, 60);
  const std::uint64_t ring = r.below(4);
  p.release_ring = ring == 0 ? 4 : ring == 1 ? 64 : 4096;  // tiny rings: releases dropped and counted
  p.audit_interval = r.chance(300'000) ? 0 : r.between(100, 4'000);
  p.disk_loss_ppm = r.chance(500'000) ? 0 : r.between(100'000, 1'000'000);
  p.store_lag = r.chance(300'000) ? 0 : r.between(1, 100);
  p.rerelease_ppm = r.chance(300'000) ? 0 : r.between(1, 300'000);
  p.rerelease_max = r.between(1, 3 * p.lease);
  p.set_restart_ppm = r.chance(600'000) ? 0 : r.between(1, 300);
  p.standby = r.chance(500'000) ? 0 : 1;
  p.epoch_ppm = r.chance(400'000) ? 0 : r.between(50, 2'000);
  p.epoch_spread = r.between(1, 3 * p.retransmit + 200);
  p.retire_ppm = p.members < 3 || r.chance(600'000) ? 0 : r.between(20, 400);
  return p;
}

SimParams SimParams::quiet(std::uint32_t members, std::vector<SimPool> pools) {
  SimParams p;
  p.members = members;
  p.pools = std::move(pools);
  p.window_units = 64;
  p.lease = 2'000;
  p.create_ppm = p.end_ppm = p.move_ppm = 0;
  p.delay_max = 1;
  p.retransmit = 10;
  return p;
}

std::string SimParams::describe() const {
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof buf, "seed %llu mode %s steps %llu members %u pools", static_cast<unsigned long long>(seed),
                mode == Mode::kSafety ? "safety" : "liveness", static_cast<unsigned long long>(steps), members);
  s += buf;
  for (const SimPool& p : pools) {
    std::snprintf(buf, sizeof buf, " %s/2^%u/b%llu", p.ipv6 ? "v6" : "v4", p.bits,
                  static_cast<unsigned long long>(p.block_units));
    s += buf;
  }
  std::snprintf(
      buf, sizeof buf,
      " window %llu lease %llu hold %llu ahead %u cap %zu ring %zu stream %llu heartbeat %llu audit %llu "
      "store-lag %llu rerelease %llu/%llu set-restart %llu standby %u epoch %llu/%llu retire %llu delay<=%llu rto %llu "
      "loss %llu dup %llu "
      "partition %llu/%llu crash %llu disk-loss %llu zombie %llu restart<=%llu takeover<=%llu create %llu "
      "end %llu move "
      "%llu (ppm)",
      static_cast<unsigned long long>(window_units), static_cast<unsigned long long>(lease),
      static_cast<unsigned long long>(hold_down), windows_ahead, channel_capacity, release_ring,
      static_cast<unsigned long long>(stream_interval), static_cast<unsigned long long>(heartbeat),
      static_cast<unsigned long long>(audit_interval), static_cast<unsigned long long>(store_lag),
      static_cast<unsigned long long>(rerelease_ppm), static_cast<unsigned long long>(rerelease_max),
      static_cast<unsigned long long>(set_restart_ppm), standby, static_cast<unsigned long long>(epoch_ppm),
      static_cast<unsigned long long>(epoch_spread), static_cast<unsigned long long>(retire_ppm),
      static_cast<unsigned long long>(delay_max), static_cast<unsigned long long>(retransmit),
      static_cast<unsigned long long>(loss_ppm), static_cast<unsigned long long>(dup_ppm),
      static_cast<unsigned long long>(partition_ppm), static_cast<unsigned long long>(partition_len),
      static_cast<unsigned long long>(crash_ppm), static_cast<unsigned long long>(disk_loss_ppm),
      static_cast<unsigned long long>(zombie_ppm), static_cast<unsigned long long>(restart_max),
      static_cast<unsigned long long>(takeover_max), static_cast<unsigned long long>(create_ppm),
      static_cast<unsigned long long>(end_ppm), static_cast<unsigned long long>(move_ppm));
  s += buf;
  return s;
}

}  // namespace uepool::sim
