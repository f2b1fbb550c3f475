// Unit tests for Pool and PoolTable.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <vector>

#include "uepool/core/pool_table.hpp"

namespace uepool::core {
namespace {

net::Prefix P(std::string_view text) {
  auto p = net::Prefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status().to_string();
  return p.ok() ? p.value() : net::Prefix();
}

PoolConfig v4_config() {
  PoolConfig c;
  c.name = "v4";
  c.prefix = P("10.45.0.0/24");
  c.unit_length = 32;
  c.excluded = {P("10.45.0.0/32"), P("10.45.0.1/32"), P("10.45.0.255/32")};  // network, gateway, broadcast
  c.static_ranges = {P("10.45.0.128/26")};                                   // 64 static addresses
  return c;
}

std::vector<UnitRange> ranges_of(const Pool& p) {
  std::vector<UnitRange> out;
  p.for_each_in_use([&](UnitRange r) { out.push_back(r); });
  return out;
}

TEST(Pool, DynamicAllocationAvoidsExcludedAndStaticUnits) {
  auto pool = Pool::create(v4_config());
  ASSERT_TRUE(pool.ok()) << pool.status().to_string();
  Pool& p = *pool.value();
  Pool::Worker w(p);
  std::set<std::uint64_t> got;
  for (PoolAllocation a = p.allocate(w); a.ok(); a = p.allocate(w)) {
    EXPECT_FALSE(p.is_excluded(a.unit));
    EXPECT_FALSE(p.is_static(a.unit));
    EXPECT_EQ(a.prefix, p.prefix_of(a.unit));
    EXPECT_TRUE(got.insert(a.unit).second);
  }
  EXPECT_EQ(got.size(), 256u - 3 - 64);
  EXPECT_EQ(p.count(), 256u - 3 - 64);
  EXPECT_TRUE(p.validate().ok()) << p.validate().to_string();
}

TEST(Pool, StaticClaimsExcludedAndErrors) {
  auto pool = Pool::create(v4_config());
  ASSERT_TRUE(pool.ok());
  Pool& p = *pool.value();
  Pool::Worker w(p);
  EXPECT_EQ(p.claim(w, P("10.45.0.130/32")), UnitStatus::kOk);
  EXPECT_EQ(p.claim(w, P("10.45.0.130/32")), UnitStatus::kInUse);  // a duplicate static claim
  EXPECT_TRUE(p.test(130));
  EXPECT_EQ(p.claim(w, P("10.45.0.1/32")), UnitStatus::kExcluded);
  EXPECT_EQ(p.release(w, P("10.45.0.1/32")), UnitStatus::kExcluded);
  EXPECT_FALSE(p.test(1));
  EXPECT_EQ(p.claim(w, P("10.46.0.1/32")), UnitStatus::kNotInPool);
  EXPECT_EQ(p.claim(w, P("2001:db8::/64")), UnitStatus::kNotInPool);
  EXPECT_EQ(p.claim(w, 256), UnitStatus::kOutOfRange);
  EXPECT_EQ(p.count(), 1u);
  EXPECT_EQ(p.release(w, P("10.45.0.130/32")), UnitStatus::kOk);
  EXPECT_EQ(p.release(w, P("10.45.0.130/32")), UnitStatus::kNotInUse);
  EXPECT_EQ(p.count(), 0u);
  // Recovery claims a dynamic unit.
  EXPECT_EQ(p.claim(w, 5), UnitStatus::kOk);
  EXPECT_EQ(p.count(), 1u);
  EXPECT_EQ(ranges_of(p), (std::vector<UnitRange>{{5, 6}}));
}

TEST(Pool, IterationMergesDynamicAndStaticAndSkipsReserved) {
  auto pool = Pool::create(v4_config());
  ASSERT_TRUE(pool.ok());
  Pool& p = *pool.value();
  Pool::Worker w(p);
  for (std::uint64_t u = 2; u < 128; ++u) ASSERT_EQ(p.claim(w, u), UnitStatus::kOk) << u;
  ASSERT_EQ(p.claim(w, 128), UnitStatus::kOk);  // static, adjacent to the dynamic run
  ASSERT_EQ(p.claim(w, 200), UnitStatus::kOk);  // static
  ASSERT_EQ(p.claim(w, 254), UnitStatus::kOk);  // dynamic, next to the excluded broadcast
  EXPECT_EQ(ranges_of(p), (std::vector<UnitRange>{{2, 129}, {200, 201}, {254, 255}}));
}

TEST(Pool, ConfigurationErrorsAreClear) {
  PoolConfig c = v4_config();
  c.unit_length = 16;
  EXPECT_STREQ(Pool::create(c).status().reason(), "unit length shorter than the prefix length");
  c = v4_config();
  c.excluded.push_back(P("10.46.0.1/32"));
  EXPECT_STREQ(Pool::create(c).status().reason(), "excluded prefix outside the pool");
  c = v4_config();
  c.static_ranges.push_back(P("10.45.0.160/27"));
  EXPECT_STREQ(Pool::create(c).status().reason(), "static ranges overlap");
  c = v4_config();
  c.static_ranges.push_back(P("10.45.0.0/30"));
  EXPECT_STREQ(Pool::create(c).status().reason(), "static range overlaps an excluded prefix");
  c = v4_config();
  c.prefix = P("2001::/16");
  c.unit_length = 64;
  c.excluded.clear();
  c.static_ranges.clear();
  EXPECT_STREQ(Pool::create(c).status().reason(), "pool has more than 2^32 units; split it or use a longer prefix");
  c.name = "";
  EXPECT_STREQ(Pool::create(c).status().reason(), "pool name is empty");
}

TEST(Pool, Ipv6PrefixesAndTwoTo32Units) {
  PoolConfig c;
  c.name = "v6";
  c.prefix = P("2001:db8::/32");
  c.unit_length = 64;
  c.excluded = {P("2001:db8::1/128")};  // excludes the /64 containing it: unit 0
  auto pool = Pool::create(c);
  ASSERT_TRUE(pool.ok()) << pool.status().to_string();
  Pool& p = *pool.value();
  EXPECT_EQ(p.size(), std::uint64_t{1} << 32);
  Pool::Worker w(p);
  const PoolAllocation a = p.allocate(w);
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a.unit, 0u);
  EXPECT_EQ(a.prefix.length(), 64);
  EXPECT_TRUE(p.prefix().contains(a.prefix));
  EXPECT_EQ(p.claim(w, P("2001:db8:ffff:ffff::/64")), UnitStatus::kOk);  // the last unit
  EXPECT_EQ(p.unit_of(P("2001:db8:ffff:ffff::/64")).value(), 0xffffffffu);
  EXPECT_EQ(p.release(w, a.prefix), UnitStatus::kOk);
  EXPECT_EQ(p.count(), 1u);
}

TEST(Pool, HoldDownDelaysReuseAndDetectsDoubleRelease) {
  PoolConfig c;
  c.name = "hd";
  c.prefix = P("10.0.0.0/30");  // 4 units
  c.unit_length = 32;
  c.hold_down = 100;
  auto pool = Pool::create(c);
  ASSERT_TRUE(pool.ok());
  Pool& p = *pool.value();
  Pool::Worker w(p);
  std::vector<std::uint64_t> units;
  for (int i = 0; i < 4; ++i) units.push_back(p.allocate(w, 0).unit);
  EXPECT_EQ(p.allocate(w, 0).status, AllocStatus::kNoneFree);
  EXPECT_EQ(p.release(w, units[2], 10), UnitStatus::kOk);
  EXPECT_EQ(p.release(w, units[2], 11), UnitStatus::kNotInUse);  // double release while held
  EXPECT_TRUE(p.test(units[2]));
  EXPECT_EQ(p.allocate(w, 50).status, AllocStatus::kNoneFree);   // still held down
  EXPECT_EQ(p.allocate(w, 109).status, AllocStatus::kNoneFree);  // 10 + 100 not reached
  const PoolAllocation again = p.allocate(w, 110);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.unit, units[2]);
  EXPECT_TRUE(p.validate().ok()) << p.validate().to_string();
}

TEST(Pool, HoldDownQueueIsBoundedAndCountsCutShort) {
  PoolConfig c;
  c.name = "hd";
  c.prefix = P("10.0.0.0/28");
  c.unit_length = 32;
  c.hold_down = 1000;
  c.hold_down_capacity = 2;
  auto pool = Pool::create(c);
  ASSERT_TRUE(pool.ok());
  Pool& p = *pool.value();
  Pool::Worker w(p);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.claim(w, static_cast<std::uint64_t>(i)), UnitStatus::kOk);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.release(w, static_cast<std::uint64_t>(i), 0), UnitStatus::kOk);
  EXPECT_EQ(p.hold_down_cut_short(), 1u);
  EXPECT_FALSE(p.test(0));  // freed early
  EXPECT_TRUE(p.test(1));
  EXPECT_EQ(w.held_down(), 2u);
}

std::unique_ptr<Pool> hold_down_pool(const char* prefix, std::uint64_t hold) {
  PoolConfig c;
  c.name = "hd";
  c.prefix = P(prefix);
  c.unit_length = 32;
  c.hold_down = hold;
  auto pool = Pool::create(c);
  EXPECT_TRUE(pool.ok());
  return pool.ok() ? std::move(pool.value()) : nullptr;
}

TEST(Pool, DoubleReleaseAtAndAfterTheEndOfAHoldDownIsRefused) {
  // The old design freed the unit in two steps (mark, then unit), and a
  // second release between them queued it again. Now the end of the hold-down
  // is one step, and a second release through another worker is refused at
  // every moment until the unit is handed out again.
  auto pool = hold_down_pool("10.0.0.0/31", 10);  // 2 units
  Pool& p = *pool;
  Pool::Worker first(p);
  Pool::Worker second(p);
  const std::uint64_t u = p.allocate(first, 0).unit;
  const std::uint64_t v = p.allocate(first, 0).unit;
  ASSERT_EQ(p.release(first, u, 0), UnitStatus::kOk);
  EXPECT_TRUE(p.is_held_down(u));
  EXPECT_EQ(p.release(second, u, 5), UnitStatus::kNotInUse);  // during
  first.drain(10);                                            // the end
  EXPECT_FALSE(p.is_held_down(u));
  EXPECT_FALSE(p.test(u));
  EXPECT_EQ(p.release(second, u, 10), UnitStatus::kNotInUse);  // right after
  EXPECT_EQ(p.release(second, u, 11), UnitStatus::kNotInUse);
  EXPECT_EQ(second.held_down(), 0u);
  // Handed out again: now a release is the new holder's (legitimate) one.
  const PoolAllocation again = p.allocate(first, 12);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.unit, u);
  EXPECT_EQ(p.allocate(first, 12).status, AllocStatus::kNoneFree);
  EXPECT_EQ(p.release(second, u, 12), UnitStatus::kOk);
  EXPECT_EQ(p.release(first, v, 12), UnitStatus::kOk);
  EXPECT_TRUE(p.validate().ok()) << p.validate().to_string();
}

TEST(Pool, DestroyedWorkerKeepsItsHoldDowns) {
  auto pool = hold_down_pool("10.0.0.0/31", 100);  // 2 units
  Pool& p = *pool;
  std::uint64_t u = 0;
  {
    Pool::Worker w(p);
    u = p.allocate(w, 0).unit;
    ASSERT_EQ(p.release(w, u, 0), UnitStatus::kOk);
  }  // destroyed with u waiting
  EXPECT_EQ(p.orphaned_hold_downs(), 1u);
  EXPECT_TRUE(p.test(u));
  Pool::Worker other(p);
  const PoolAllocation a = p.allocate(other, 50);  // the other unit; u is still held down
  ASSERT_TRUE(a.ok());
  EXPECT_NE(a.unit, u);
  EXPECT_EQ(p.allocate(other, 99).status, AllocStatus::kNoneFree);
  const PoolAllocation b = p.allocate(other, 100);  // its time has come: any worker frees it
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b.unit, u);
  EXPECT_EQ(p.orphaned_hold_downs(), 0u);
  EXPECT_TRUE(p.validate().ok()) << p.validate().to_string();
}

TEST(Pool, HoldDownDeadlineSaturatesNearTheEndOfTime) {
  auto pool = hold_down_pool("10.0.0.0/32", 10);  // 1 unit
  Pool& p = *pool;
  Pool::Worker w(p);
  const std::uint64_t late = UINT64_MAX - 3;
  const std::uint64_t u = p.allocate(w, late).unit;
  ASSERT_EQ(p.release(w, u, late), UnitStatus::kOk);
  // late + 10 wraps to 6: a wrapped deadline would free it one tick later.
  EXPECT_EQ(p.allocate(w, late + 1).status, AllocStatus::kNoneFree);
  EXPECT_EQ(p.allocate(w, UINT64_MAX - 1).status, AllocStatus::kNoneFree);
  EXPECT_TRUE(p.allocate(w, UINT64_MAX).ok());
}

TEST(Pool, WorkerOfAnotherPoolIsRefused) {
  auto created_a = Pool::create(v4_config());
  PoolConfig cb = v4_config();
  cb.name = "other";
  cb.prefix = P("10.46.0.0/24");
  cb.excluded.clear();
  cb.static_ranges.clear();
  auto created_b = Pool::create(cb);
  ASSERT_TRUE(created_a.ok() && created_b.ok());
  Pool& a = *created_a.value();
  Pool& b = *created_b.value();
  Pool::Worker wa(a);
  Pool::Worker wb(b);
  const PoolAllocation held = b.allocate(wb, 0);
  ASSERT_TRUE(held.ok());
  const std::uint64_t count_a = a.count();
  const std::uint64_t count_b = b.count();
  EXPECT_EQ(a.allocate(wb, 0).status, AllocStatus::kWrongWorker);
  EXPECT_EQ(a.allocate_in(wb, {2, 100}, 0).status, AllocStatus::kWrongWorker);
  EXPECT_EQ(a.allocate_unit_in(wb, {2, 100}, 0).status, AllocStatus::kWrongWorker);
  const UnitRange blocks[] = {{2, 100}};
  EXPECT_EQ(a.allocate_in_ranges(wb, blocks, 0).status, AllocStatus::kWrongWorker);
  EXPECT_EQ(a.claim(wb, 10), UnitStatus::kWrongWorker);
  EXPECT_EQ(a.release(wb, 10, 0), UnitStatus::kWrongWorker);
  EXPECT_EQ(b.release(wa, held.unit, 0), UnitStatus::kWrongWorker);
  const std::uint32_t bulk[] = {20};
  EXPECT_TRUE(a.claim_bulk(wb, bulk).wrong_worker);
  EXPECT_STREQ(unit_status_name(UnitStatus::kWrongWorker), "worker belongs to another pool");
  EXPECT_EQ(a.count(), count_a);
  EXPECT_EQ(b.count(), count_b);
  EXPECT_TRUE(b.test(held.unit));
  EXPECT_TRUE(a.validate().ok()) << a.validate().to_string();
  EXPECT_TRUE(b.validate().ok()) << b.validate().to_string();
}

TEST(Pool, ClaimBulkOfASortedList) {
  auto pool = Pool::create(v4_config());
  ASSERT_TRUE(pool.ok());
  Pool& p = *pool.value();
  Pool::Worker w(p);
  std::vector<std::uint32_t> units;
  for (std::uint32_t u = 0; u < 20; ++u) units.push_back(u);  // 0, 1 are excluded
  units.push_back(130);                                       // static: refused
  units.push_back(1000);                                      // beyond the pool
  ASSERT_EQ(p.claim(w, 10), UnitStatus::kOk);
  const auto res = p.claim_bulk(w, units);
  EXPECT_EQ(res.claimed, 17u);
  EXPECT_EQ(res.already_in_use, 1u);
  EXPECT_EQ(res.out_of_range, 4u);
  EXPECT_EQ(p.count(), 18u);
}

PoolConfig simple(const std::string& name, std::string_view prefix, int unit, const std::string& dnn = "") {
  PoolConfig c;
  c.name = name;
  c.prefix = P(prefix);
  c.unit_length = unit;
  c.selector.dnn = dnn;
  return c;
}

TEST(PoolTable, LookupSelectAndOverlap) {
  PoolTable t;
  ASSERT_TRUE(t.add(simple("a", "10.45.0.0/16", 32, "internet")).ok());
  ASSERT_TRUE(t.add(simple("b", "10.46.0.0/24", 32, "ims")).ok());
  ASSERT_TRUE(t.add(simple("c", "2001:db8::/32", 64, "internet")).ok());
  const Status overlap = t.add(simple("d", "10.45.128.0/17", 32));
  EXPECT_EQ(overlap.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.last_error_detail(), "10.45.128.0/17 (d) overlaps 10.45.0.0/16 (a)");
  EXPECT_EQ(t.add(simple("a", "10.99.0.0/16", 32)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(t.add(simple("e", "10.98.0.0/16", 32, "internet")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(t.size(), 3u);

  auto m = t.lookup(net::IpAddress::parse("10.45.1.2").value());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->pool->name(), "a");
  EXPECT_EQ(m->unit, 258u);
  EXPECT_FALSE(t.lookup(net::IpAddress::parse("10.47.0.0").value()).has_value());
  EXPECT_FALSE(t.lookup(net::IpAddress::parse("9.255.255.255").value()).has_value());
  auto m6 = t.lookup(net::IpAddress::parse("2001:db8:0:7::1").value());
  ASSERT_TRUE(m6.has_value());
  EXPECT_EQ(m6->pool->name(), "c");
  EXPECT_EQ(m6->unit, 7u);
  EXPECT_TRUE(t.lookup(P("2001:db8:0:7::/64")).has_value());
  EXPECT_FALSE(t.lookup(P("2001:db8::/48")).has_value());  // shorter than a unit
  EXPECT_EQ(t.select({"internet", "", ""}, net::Family::kV6)->name(), "c");
  EXPECT_EQ(t.select({"ims", "", ""}, net::Family::kV4)->name(), "b");
  EXPECT_EQ(t.select({"ims", "", ""}, net::Family::kV6), nullptr);
  EXPECT_EQ(t.find("b")->prefix(), P("10.46.0.0/24"));
  EXPECT_EQ(t.find("zzz"), nullptr);
}

std::string name_of(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "p%d", i);
  return name;
}

TEST(PoolTable, ThousandPoolsLookupMatchesLinearScan) {
  PoolTable t;
  for (int i = 0; i < 1000; ++i) {
    char v4[32];
    std::snprintf(v4, sizeof v4, "10.%d.%d.0/26", i / 4, (i % 4) * 64);
    ASSERT_TRUE(t.add(simple(name_of(i), v4, 32)).ok()) << v4 << t.last_error_detail();
  }
  for (std::uint32_t probe = 0x0a000000; probe < 0x0a000000 + (1u << 16); probe += 37) {
    const auto a = net::IpAddress(net::Ipv4Address(probe));
    const auto m = t.lookup(a);
    Pool* want = nullptr;
    for (int i = 0; i < 1000 && want == nullptr; ++i) {
      Pool* p = t.find(name_of(i));
      if (p->prefix().contains(a)) want = p;
    }
    ASSERT_EQ(m.has_value(), want != nullptr) << a.to_string();
    if (m) {
      EXPECT_EQ(m->pool, want);
    }
  }
}

TEST(PoolTable, ClusteredAndSpreadPoolsLookupAgreesWithLinearScan) {
  // Pools of random lengths, some clustered (many starts in one bucket, the
  // tree fallback), some spread out; probes at every boundary.
  for (const unsigned seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::vector<PoolConfig> configs;
    std::uint32_t next = 0x0a000000u;
    for (int i = 0; i < 300; ++i) {
      const int len = 24 + static_cast<int>(rng() % 9);  // /24 .. /32
      const std::uint32_t size = 1u << (32 - len);
      next = (next + size - 1) & ~(size - 1);              // aligned
      if (rng() % 10 == 0) next += (rng() % 4096) * 4096;  // a gap
      configs.push_back(simple(name_of(i), net::Prefix::make(net::Ipv4Address(next), len).value().to_string(), 32));
      next += size;
    }
    PoolTable t;
    ASSERT_TRUE(t.add_all(configs).ok()) << t.last_error_detail();
    ASSERT_EQ(t.size(), 300u);
    for (const auto& c : configs) {
      const auto first = static_cast<std::uint32_t>(c.prefix.address().bits());
      const std::uint32_t last = first + (1u << (32 - c.prefix.length())) - 1;
      for (const std::uint32_t probe : {first - 1, first, first + (last - first) / 2, last, last + 1}) {
        const auto a = net::IpAddress(net::Ipv4Address(probe));
        const PoolConfig* want = nullptr;
        for (const auto& other : configs) {
          if (other.prefix.contains(a)) want = &other;
        }
        const auto m = t.lookup(a);
        ASSERT_EQ(m.has_value(), want != nullptr) << "seed " << seed << " " << a.to_string();
        if (m) {
          ASSERT_EQ(m->pool->name(), want->name) << "seed " << seed << " " << a.to_string();
          ASSERT_EQ(m->unit, probe - static_cast<std::uint32_t>(want->prefix.address().bits()));
        }
      }
    }
  }
}

TEST(PoolTable, TopOfTheAddressSpaceAndOneUnitPools) {
  PoolTable t;
  ASSERT_TRUE(t.add(simple("top", "255.255.255.0/24", 32)).ok());
  ASSERT_TRUE(t.add(simple("whole", "10.0.0.0/8", 8)).ok());  // one /8 unit
  for (int i = 0; i < 20; ++i) {                              // enough pools for a multi-level search tree
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "192.168.%d.0/24", i);
    ASSERT_TRUE(t.add(simple(name_of(i), prefix, 32)).ok());
  }
  auto m = t.lookup(net::IpAddress::parse("255.255.255.255").value());
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->pool->name(), "top");
  EXPECT_EQ(m->unit, 255u);
  auto w = t.lookup(net::IpAddress::parse("10.1.2.3").value());
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->unit, 0u);
  EXPECT_FALSE(t.lookup(net::IpAddress::parse("255.255.254.255").value()).has_value());
  PoolTable all;
  ASSERT_TRUE(all.add(simple("all", "0.0.0.0/0", 0)).ok());  // a single /0 unit: shift by 32
  auto a = all.lookup(net::IpAddress::parse("255.255.255.255").value());
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->unit, 0u);
}

TEST(Pool, OverlappingExclusionsMerge) {
  PoolConfig c;
  c.name = "v6";
  c.prefix = P("2001:db8::/48");
  c.unit_length = 64;
  c.excluded = {P("2001:db8::1/128"), P("2001:db8::2/128"), P("2001:db8::/63")};  // units 0, 0, {0,1}
  auto pool = Pool::create(c);
  ASSERT_TRUE(pool.ok()) << pool.status().to_string();
  EXPECT_TRUE(pool.value()->is_excluded(0));
  EXPECT_TRUE(pool.value()->is_excluded(1));
  EXPECT_FALSE(pool.value()->is_excluded(2));
  EXPECT_EQ(pool.value()->count(), 0u);
  EXPECT_TRUE(pool.value()->validate().ok());
}

TEST(PoolTable, AddAllIsAllOrNothing) {
  PoolTable t;
  std::vector<PoolConfig> batch{simple("x", "10.1.0.0/16", 32), simple("y", "10.1.128.0/17", 32)};
  EXPECT_EQ(t.add_all(batch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.last_error_detail(), "10.1.128.0/17 (y) overlaps 10.1.0.0/16 (x)");
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find("x"), nullptr);
  EXPECT_TRUE(t.add(simple("x", "10.1.0.0/16", 32)).ok());
}

// dynamic_word: the word as the set layer streams it — dynamic use only,
// excluded and static units masked out, held-down units still in use.
TEST(Pool, DynamicWordMasksReservedUnits) {
  PoolConfig c = v4_config();
  c.hold_down = 10;
  auto pool = Pool::create(c);
  ASSERT_TRUE(pool.ok());
  Pool::Worker w(*pool.value());
  EXPECT_EQ(pool.value()->dynamic_word(0), 0u);  // units 0, 1 excluded: masked
  EXPECT_EQ(pool.value()->dynamic_word(2), 0u);  // units 128..191 static: masked
  EXPECT_EQ(pool.value()->dynamic_word(3), 0u);  // unit 255 excluded: masked
  EXPECT_TRUE(pool.value()->has_free_dynamic(0));
  EXPECT_FALSE(pool.value()->has_free_dynamic(2));  // every unit static (reserved in the bitmap)
  ASSERT_EQ(pool.value()->claim(w, 5), UnitStatus::kOk);
  ASSERT_EQ(pool.value()->claim(w, 130), UnitStatus::kOk);  // a static claim is not dynamic use
  EXPECT_EQ(pool.value()->dynamic_word(0), std::uint64_t{1} << 5);
  EXPECT_EQ(pool.value()->dynamic_word(2), 0u);
  ASSERT_EQ(pool.value()->release(w, 5, 100), UnitStatus::kOk);  // held down until 110
  EXPECT_EQ(pool.value()->dynamic_word(0), std::uint64_t{1} << 5);
  EXPECT_TRUE(pool.value()->is_held_down(5));
  w.drain(110);
  EXPECT_EQ(pool.value()->dynamic_word(0), 0u);
  EXPECT_FALSE(pool.value()->is_held_down(5));
  EXPECT_EQ(pool.value()->dynamic_word(1000), 0u);  // beyond the pool
  const Allocation a = pool.value()->allocate_unit_in(w, UnitRange{64, 128}, 200);
  ASSERT_TRUE(a.ok());
  EXPECT_GE(a.unit, 64u);
  EXPECT_LT(a.unit, 128u);
  EXPECT_EQ(pool.value()->dynamic_word(1), std::uint64_t{1} << (a.unit - 64));
}

}  // namespace
}  // namespace uepool::core
