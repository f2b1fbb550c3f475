// uepool/core/pool_table.hpp — many pools, chosen by name or selector, and
// the longest-prefix-match lookup from any address or prefix to its pool.
//
// Overview
//   A `PoolTable` owns the pools of one SMF (thousands are fine). Pools are
//   found by name, by selector (DNN, S-NSSAI, network instance; one IPv4 and
//   one IPv6 pool each), and by address: `lookup` maps an address or prefix
//   to the pool that contains it and the index of its unit. Pools never
//   overlap (adding an overlapping pool is a configuration error naming both),
//   so the longest match is the only match.
//
//     PoolTable table;
//     table.add(cfg);                                       // Status
//     auto m = table.lookup(net::IpAddress::parse("10.45.3.7").value());
//     if (m) use(m->pool, m->unit);
//
// Concurrency contract: lookup, find, select are lock-free and wait-free for
//   readers: they read an immutable snapshot through one atomic pointer
//   (acquire). add takes a mutex (writers are serialized), builds a new
//   snapshot and publishes it (release). Retired snapshots are freed with the
//   table, so a reader never meets freed memory; the cost is one snapshot
//   per add (configuration changes only). Pools are never removed while the
//   table lives (removal comes with re-division).
//
// Representation: per family, the pools' first and last addresses in two
//   sorted arrays. IPv4 lookup: a bucket table over the pools' span (four
//   buckets per pool) gives the candidate, a 16-key block count finishes it
//   (a static 16-ary search tree where pools cluster). IPv6: a branchless
//   binary search over the u128 first addresses. Then one range check.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "uepool/core/pool.hpp"

namespace uepool::core {

class PoolTable {
 public:
  struct Match {
    Pool* pool = nullptr;
    std::uint64_t unit = 0;
  };

  PoolTable();
  ~PoolTable();
  PoolTable(const PoolTable&) = delete;
  PoolTable& operator=(const PoolTable&) = delete;

  // add — creates the pool. Returns: the pool's configuration error, or
  // kAlreadyExists for a duplicate name, or kInvalidArgument for a pool that
  // overlaps another (both named in the error's text via `last_error_detail`).
  Status add(const PoolConfig& config);
  // add_all — adds every pool or none (the first error is returned), and
  // publishes one snapshot: use it to load a configuration, since each
  // snapshot is kept until the table is destroyed.
  Status add_all(std::span<const PoolConfig> configs);
  // last_error_detail — the names behind the last add() error ("10.45.0.0/16 (a) overlaps 10.45.128.0/17 (b)").
  [[nodiscard]] std::string last_error_detail() const;

  [[nodiscard]] Pool* find(std::string_view name) const noexcept;
  // select — the pool of that family serving the selector, or nullptr.
  [[nodiscard]] Pool* select(const Selector& selector, net::Family family) const noexcept;
  // lookup — the pool containing the address, and the unit containing it.
  [[nodiscard]] std::optional<Match> lookup(const net::IpAddress& address) const noexcept;
  // lookup — for a prefix: the pool containing it and its unit; the prefix
  // must be a unit or lie inside one (length >= unit length).
  [[nodiscard]] std::optional<Match> lookup(const net::Prefix& prefix) const noexcept;

  [[nodiscard]] std::size_t size() const noexcept;

 private:
  struct Snapshot;
  static std::string selector_key(const Selector& s, net::Family f);

  std::atomic<const Snapshot*> current_;
  mutable std::mutex writer_mutex_;  // add() only; never taken by readers
  std::vector<std::unique_ptr<Pool>> pools_;
  std::vector<std::unique_ptr<const Snapshot>> snapshots_;  // current and retired
  std::string last_error_detail_;
};

}  // namespace uepool::core
